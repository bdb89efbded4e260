using CgFs.Fuse;
using System.Diagnostics;
using System.Text;
using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>
/// A directory tree driven with real tools: either a fresh cgfs mounted in a temporary
/// directory (<see cref="Mount"/>) or a scratch child of the kernel's own cgroup2
/// (<see cref="KernelScratch"/>), so the same checks can run against both.
/// </summary>
public abstract class Tree : IDisposable
{
    /// <summary>Where the test's cgroups live (the mount root for cgfs, a scratch cgroup for the kernel).</summary>
    public abstract string Base { get; }

    public string P(string relative) => Path.Combine(Base, relative);

    public ShResult Sh(string script, IDictionary<string, string>? env = null, int timeoutMs = 30_000) =>
        Shell.Run(script, Base, env, timeoutMs);

    /// <summary>Writes <paramref name="data"/> with exactly one write(2): bash's printf flushes at
    /// every newline, so the bytes go through dd, which gathers them into one block.</summary>
    public Errno Write(string file, string data) =>
        Sh("printf '%s' \"$DATA\" | dd of=\"$F\" bs=65536 iflag=fullblock status=none",
            new Dictionary<string, string> { ["DATA"] = data, ["F"] = P(file) }).Errno;

    /// <summary>Writes exactly these bytes with a single write(2) (dd with a large block).</summary>
    public Errno WriteBytes(string file, int count, char fill = '1') =>
        Sh($"head -c {count} /dev/zero | tr '\\0' '{fill}' | dd of=\"$F\" bs=65536 iflag=fullblock status=none",
            new Dictionary<string, string> { ["F"] = P(file) }).Errno;

    /// <summary>The file's bytes as cat prints them (Latin-1), or throws with the tool's error.</summary>
    public string Read(string file)
    {
        var r = Sh("cat \"$F\"", new Dictionary<string, string> { ["F"] = P(file) });
        if (r.Code != 0)
            throw new IOException($"cat {file}: {r.Err}");
        return r.Out;
    }

    public Errno ReadErrno(string file) => Sh("cat \"$F\" >/dev/null", new Dictionary<string, string> { ["F"] = P(file) }).Errno;

    public Errno Mkdir(string dir) => Sh("mkdir \"$F\"", new Dictionary<string, string> { ["F"] = P(dir) }).Errno;

    public Errno Rmdir(string dir) => Sh("rmdir \"$F\"", new Dictionary<string, string> { ["F"] = P(dir) }).Errno;

    public string[] List(string dir) =>
        Directory.GetFileSystemEntries(P(dir)).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray()!;

    /// <summary>Starts a sleeping process that the test owns; killed on dispose.</summary>
    public Sleeper StartSleeper() => new();

    public abstract void Dispose();
}

/// <summary>A background `sleep` whose pid a test moves between cgroups.</summary>
public sealed class Sleeper : IDisposable
{
    private readonly Process _p;

    public Sleeper()
    {
        _p = Process.Start(new ProcessStartInfo("/bin/sleep", "300") { UseShellExecute = false })!;
    }

    public int Pid => _p.Id;

    public void Kill()
    {
        if (!_p.HasExited)
        {
            _p.Kill();
            _p.WaitForExit(5000);
        }
    }

    public void Dispose()
    {
        Kill();
        _p.Dispose();
    }
}

/// <summary>How a fixture mounts cgfs: emulating the whole tree, or as an overlay of the kernel's cgroup2.</summary>
public enum MountMode { Emulated, Overlay }

/// <summary>A fresh cgfs mounted in a temporary directory, unmounted (bounded) on dispose.</summary>
public sealed class Mount : Tree
{
    /// <summary>What this mount overlays (overlay mode), removed after the mount is gone.</summary>
    private KernelScratch? _overlaid;

    /// <summary>A mount in <paramref name="mode"/>: an overlay mirrors a fresh scratch child of the
    /// kernel's cgroup2 (the test is ignored, saying why, on a machine without a writable one).</summary>
    public static Mount Create(MountMode mode, params string[] args)
    {
        if (mode == MountMode.Emulated)
            return new Mount(args);
        if (KernelScratch.Hierarchy is null)
            Assert.Ignore("overlay mode needs a writable cgroup2 hierarchy; this machine has none");
        var scratch = new KernelScratch();
        try
        {
            return new Mount([.. args, "--overlay", scratch.Base]) { _overlaid = scratch };
        }
        catch
        {
            scratch.Dispose();
            throw;
        }
    }

    /// <summary>A mount of the same mode over a real directory that outlives it (restart tests):
    /// <paramref name="real"/> null for an emulated mount.</summary>
    public static Mount Over(KernelScratch? real, params string[] args) => real is null ? new Mount(args) : new Mount([.. args, "--overlay", real.Base]);

    /// <summary>A scratch directory for <see cref="Over"/> in overlay mode; null when emulating.</summary>
    public static KernelScratch? ScratchFor(MountMode mode)
    {
        if (mode == MountMode.Emulated)
            return null;
        if (KernelScratch.Hierarchy is null)
            Assert.Ignore("overlay mode needs a writable cgroup2 hierarchy; this machine has none");
        return new KernelScratch();
    }

    /// <summary>Overlay mode: the real cgroup2 directory this mount mirrors.</summary>
    public string? Overlaid => _overlaid?.Base;

    private readonly Process _daemon;
    private readonly string _dir;
    private readonly StringBuilder _log = new();

    public static string RepoRoot { get; } = FindRepoRoot();
    public static string Binary => Path.Combine(RepoRoot, "out", "cgfs");

    public Mount(params string[] args)
    {
        _dir = Directory.CreateTempSubdirectory("cgfs-test-").FullName;
        // Tests drop privileges (setpriv) and must be able to reach the mount point.
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
        MountPoint = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(MountPoint);
        if (!File.Exists(Binary))
            throw new FileNotFoundException($"{Binary} is missing: run `make build` (make test does)");
        // Started as from a terminal: SIGINT and SIGQUIT at their defaults. A test runner started in
        // the background (CI, `make test &`) inherits them ignored, and the daemon, like libfuse's
        // fuse_set_signal_handlers, keeps an inherited SIG_IGN — so `kill -INT` would do nothing.
        var psi = new ProcessStartInfo("/usr/bin/env") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("--default-signal=INT,QUIT");
        psi.ArgumentList.Add(Binary);
        psi.ArgumentList.Add("mount");
        psi.ArgumentList.Add(MountPoint);
        psi.ArgumentList.Add("-f");
        Control = Path.Combine(_dir, "control.sock");
        psi.ArgumentList.Add("--control");
        psi.ArgumentList.Add(Control);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        _daemon = Process.Start(psi)!;
        _daemon.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _daemon.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _daemon.BeginErrorReadLine();
        _daemon.BeginOutputReadLine();
        var sw = Stopwatch.StartNew();
        while (!Mounter.IsMounted(MountPoint) || !File.Exists(Path.Combine(MountPoint, "cgroup.procs")))
        {
            if (_daemon.HasExited || sw.Elapsed > TimeSpan.FromSeconds(20))
            {
                var log = Log;
                Dispose();
                throw new InvalidOperationException($"cgfs did not mount: {log}");
            }
            Thread.Sleep(20);
        }
        // The rings register right after INIT; until then the kernel serves on /dev/fuse (bounded wait).
        if (TransportSetup.ExpectedStatusLine(args) is { } line && !Wait.Until(() => Ctl("status").Out.Contains(line), 10_000))
        {
            var status = Ctl("status").Out;
            Dispose();
            throw new InvalidOperationException($"CGFS_TEST_TRANSPORT={TransportSetup.Wanted}, but the mount serves otherwise:\n{status}");
        }
    }

    public string MountPoint { get; }
    public override string Base => MountPoint;
    /// <summary>This mount's control socket (for `cgfs ctl` and `cgfs hold`).</summary>
    public string Control { get; }

    /// <summary>SIGKILL, as a crash would: nothing is compacted or unmounted cleanly; then the usual cleanup.</summary>
    public void Kill9()
    {
        Shell.Run($"kill -KILL {_daemon.Id}");
        if (!_daemon.WaitForExit(10_000))
            throw new TimeoutException($"cgfs {_daemon.Id} did not die of SIGKILL within 10 s");
        Dispose();
    }

    /// <summary>`cgfs ctl memory`: the daemon's heap after a full GC, its RSS, and its control
    /// connections (the asking one included).</summary>
    /// <summary>`cgfs exec` trees the daemon supervises now.</summary>
    public int Supervised()
    {
        using var client = new CgFs.Control.ControlClient(Control);
        var (error, _, lines) = client.Request("memory");
        return error == Errno.Ok ? int.Parse(lines.Single(l => l.StartsWith("supervised ")).Split(' ')[1]) : -1;
    }

    public (long Heap, long Rss, int Connections) Memory()
    {
        using var client = new CgFs.Control.ControlClient(Control);
        var (error, _, lines) = client.Request("memory");
        if (error != Errno.Ok)
            throw new InvalidOperationException($"ctl memory: {error}");
        long Field(string name) => long.Parse(lines.Single(l => l.StartsWith(name + " ")).Split(' ')[1]);
        return (Field("heap"), Field("rss"), (int)Field("connections"));
    }

    /// <summary>`cgfs ctl --control SOCKET ARGS`.</summary>
    public ShResult Ctl(string args) => Sh($"{Binary} ctl --control {Control} {args}");
    public int DaemonPid => _daemon.Id;
    public Process Daemon => _daemon;

    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    private bool _disposed;

    /// <summary>SIGTERM, a bounded wait, then SIGKILL and a lazy unmount if needed. Never leaves a mount behind.
    /// Idempotent, so a fixture may dispose every mount it started in teardown.</summary>
    public override void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (!_daemon.HasExited)
        {
            Shell.Run($"kill -TERM {_daemon.Id}");
            if (!_daemon.WaitForExit(10_000))
            {
                _daemon.Kill();
                _daemon.WaitForExit(5000);
            }
        }
        if (Mounter.IsMounted(MountPoint))
            Shell.Run($"fusermount3 -u -z '{MountPoint}' || umount -l '{MountPoint}'");
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        _daemon.Dispose();
        _overlaid?.Dispose();
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "CgFs.sln")))
                return d.FullName;
        throw new DirectoryNotFoundException("CgFs.sln not found above the test assembly");
    }
}

/// <summary>A scratch child of the kernel's own cgroup2 hierarchy, for parity checks.</summary>
public sealed class KernelScratch : Tree
{
    private readonly string _base;

    public static string? Hierarchy { get; } = FindCgroup2();

    public KernelScratch()
    {
        if (Hierarchy is null)
            throw new InvalidOperationException("no writable cgroup2 hierarchy");
        _base = Path.Combine(Hierarchy, $"cgfs-parity-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(_base);
    }

    public override string Base => _base;

    /// <summary>Moves every process back to the hierarchy's root and removes the scratch tree bottom-up.</summary>
    public override void Dispose()
    {
        foreach (var dir in Directory.EnumerateDirectories(_base, "*", SearchOption.AllDirectories).Append(_base)
                     .OrderByDescending(d => d.Length))
        {
            foreach (var pid in File.ReadAllText(Path.Combine(dir, "cgroup.threads")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                Shell.Run($"echo {pid} > '{Hierarchy}/cgroup.procs'");
            Shell.Run($"rmdir '{dir}'");
        }
    }

    private static string? FindCgroup2()
    {
        foreach (var line in File.ReadLines("/proc/self/mounts"))
        {
            var f = line.Split(' ');
            if (f.Length > 2 && f[2] == "cgroup2" && Shell.Run($"test -w '{f[1]}/cgroup.procs'").Code == 0)
                return f[1];
        }
        return null;
    }
}
