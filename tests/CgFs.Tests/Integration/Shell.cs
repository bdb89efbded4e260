using System.Diagnostics;
using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>The outcome of one bash command: exit status, output, and the errno its error message names.</summary>
public sealed record ShResult(int Code, string Out, string Err)
{
    /// <summary>The errno named by the tool's error message (bash, coreutils print strerror), Ok if none.</summary>
    public Errno Errno => Code == 0 ? Errno.Ok : Shell.ErrnoOf(Err);

    public override string ToString() => $"exit {Code}; out: {Out.TrimEnd()}; err: {Err.TrimEnd()}";
}

/// <summary>Runs real tools (bash -c) with a bounded wait, as a user of the mount would.</summary>
public static class Shell
{
    private static readonly (string Message, Errno Errno)[] Messages =
    [
        ("Operation not permitted", Errno.EPERM), ("No such file or directory", Errno.ENOENT),
        ("No such process", Errno.ESRCH), ("Argument list too long", Errno.E2BIG),
        ("Bad file descriptor", Errno.EBADF), ("Resource temporarily unavailable", Errno.EAGAIN),
        ("Permission denied", Errno.EACCES), ("Device or resource busy", Errno.EBUSY),
        ("File exists", Errno.EEXIST), ("No such device", Errno.ENODEV), ("Not a directory", Errno.ENOTDIR),
        ("Is a directory", Errno.EISDIR), ("Invalid argument", Errno.EINVAL),
        ("Numerical result out of range", Errno.ERANGE), ("Operation not supported", Errno.EOPNOTSUPP),
        ("No data available", Errno.ENODATA), ("No such attribute", Errno.ENODATA), ("Directory not empty", Errno.ENOTEMPTY),
        ("Input/output error", Errno.EIO), ("No space left on device", Errno.ENOSPC), ("Read-only file system", Errno.EROFS),
    ];

    public static Errno ErrnoOf(string stderr)
    {
        foreach (var (message, errno) in Messages)
            if (stderr.Contains(message, StringComparison.Ordinal))
                return errno;
        return Errno.EIO;
    }

    public static ShResult Run(string script, string? cwd = null, IDictionary<string, string>? env = null, int timeoutMs = 30_000)
    {
        var psi = new ProcessStartInfo("/bin/bash")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = cwd ?? Environment.CurrentDirectory,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.Environment["LC_ALL"] = "C";
        if (env is not null)
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(5000);
            throw new TimeoutException($"bash -c '{script}' did not finish within {timeoutMs} ms");
        }
        if (!Task.WaitAll([stdout, stderr], 5000))
            throw new TimeoutException($"output of bash -c '{script}' did not close (a background child holds it)");
        return new ShResult(p.ExitCode, stdout.Result, stderr.Result);
    }
}
