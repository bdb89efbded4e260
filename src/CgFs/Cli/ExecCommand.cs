using System.Runtime.InteropServices;
using System.Text;
using CgFs.Accounting;
using CgFs.Exec;

namespace CgFs.Cli;

/// <summary>
/// cgfs exec: runs CMD so that it and every descendant take the cgfs mount for THE cgroup v2
/// filesystem at --at (default /sys/fs/cgroup). On one thread of this process: a private mount
/// namespace with cgfs bound at --at (nothing propagates back), a seccomp filter whose listener
/// goes to the daemon over the control socket, then execve — so CMD is this process, its exit
/// status is CMD's, and the filter (no TSYNC: the runtime's other threads are spared; execve keeps
/// it) covers CMD and all it starts for their whole life.
/// </summary>
public static unsafe class ExecCommand
{
    public const string Usage = """
        Usage: cgfs exec (--control SOCKET | --mount MOUNTPOINT) [--at DIR] [--] CMD [ARG...]

          Runs CMD with the cgfs mount at DIR (default /sys/fs/cgroup) in a private mount namespace;
          CMD and every process it starts see it as the cgroup v2 filesystem: statfs reports
          CGROUP2_SUPER_MAGIC, /proc/*/mountinfo and /proc/*/mounts show a cgroup2 mount,
          /proc/*/cgroup shows cgfs's membership. Exits with CMD's status. Needs root (or the
          mount's owner with CAP_SYS_ADMIN) and the daemon's control socket.
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var (socket, rest) = CtlCommand.SocketOption(args);
        var (at, command) = Parse(rest);
        var syscalls = Syscalls.Native ?? throw new CliException("cgfs exec supports x86-64 and arm64 only");
        if (!Directory.Exists(at))
            throw new CliException($"{at} does not exist (--at)");
        using var client = CtlCommand.Connect(socket);
        var (error, _, lines) = client.Request("status");
        var mountPoint = lines.FirstOrDefault(l => l.StartsWith("mount ", StringComparison.Ordinal))?[6..];
        if (error != Errno.Ok || mountPoint is null)
            throw new CliException($"{socket}: no mount in the status reply ({error})");

        int status = 0;
        var thread = new Thread(() => status = Enter(client, syscalls, mountPoint, at, command), 1 << 20) { Name = "cgfs-exec" };
        thread.Start();
        thread.Join();
        return status; // only reached when something failed before execve
    }

    private static (string At, string[] Command) Parse(string[] rest)
    {
        string at = "/sys/fs/cgroup";
        int i = 0;
        for (; i < rest.Length; i++)
        {
            if (rest[i] == "--at" && i + 1 < rest.Length)
                at = Path.GetFullPath(rest[++i]);
            else if (rest[i] == "--")
            {
                i++;
                break;
            }
            else if (rest[i].StartsWith('-'))
                throw new CliException($"unexpected argument '{rest[i]}'\n\n{Usage}");
            else
                break;
        }
        var command = rest[i..];
        return command.Length == 0 ? throw new CliException($"missing CMD\n\n{Usage}") : (at, command);
    }

    /// <summary>Everything that must happen on the thread that will execve. Returns only on failure.</summary>
    private static int Enter(Control.ControlClient client, Syscalls syscalls, string mountPoint, string at, string[] command)
    {
        if (Namespace(mountPoint, at) is { } failure)
            return Program.Fail(failure);
        var (e, message) = client.HandOver("supervise", () =>
        {
            if (Interop.Sys.GetEUid() != 0)
                Interop.Sys.Prctl(Interop.Sys.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); // seccomp without CAP_SYS_ADMIN
            return SeccompFilter.Install(syscalls);
        });
        if (e != Errno.Ok)
            return Program.Fail($"the daemon does not supervise this process: {message} ({e})");
        client.Dispose();
        return Exec(command);
    }

    /// <summary>A private mount namespace for this thread: nothing propagates back; whatever was at
    /// <paramref name="at"/> is detached and cgfs bound there with a cgroup2 mount's flags; the FUSE
    /// mount's own place is detached too, so the mount table shows cgfs once, at <paramref name="at"/>.</summary>
    private static string? Namespace(string mountPoint, string at)
    {
        if (Interop.Sys.Unshare(Interop.Sys.CLONE_NEWNS) != 0)
            return $"unshare(CLONE_NEWNS): {Errnos.Last()}";
        if (Interop.Sys.Mount("none", "/", null!, Interop.Sys.MS_REC | Interop.Sys.MS_PRIVATE, null!) != 0)
            return $"making / private: {Errnos.Last()}";
        while (Interop.Sys.Umount2(at, Interop.Sys.MNT_DETACH) == 0)
        {
        }
        if (Interop.Sys.Mount(mountPoint, at, null!, Interop.Sys.MS_BIND, null!) != 0)
            return $"binding {mountPoint} at {at}: {Errnos.Last()}";
        const ulong flags = Interop.Sys.MS_REMOUNT | Interop.Sys.MS_BIND | Interop.Sys.MS_NOSUID | Interop.Sys.MS_NODEV |
                            Interop.Sys.MS_NOEXEC | Interop.Sys.MS_RELATIME;
        if (Interop.Sys.Mount("none", at, null!, flags, null!) != 0)
            return $"remounting {at}: {Errnos.Last()}";
        if (Path.GetFullPath(mountPoint) != at)
            Interop.Sys.Umount2(mountPoint, Interop.Sys.MNT_DETACH);
        return null;
    }

    /// <summary>execvp(3): PATH lookup like a shell. Returns only on failure (127: not found, 126: not runnable).</summary>
    private static int Exec(string[] command)
    {
        var strings = command.Select(a => Marshal.StringToCoTaskMemUTF8(a)).ToArray();
        var argv = (byte**)NativeMemory.AllocZeroed((nuint)(strings.Length + 1), (nuint)sizeof(nint));
        for (int i = 0; i < strings.Length; i++)
            argv[i] = (byte*)strings[i];
        Interop.Sys.Execvp(argv[0], argv);
        var e = (Errno)Marshal.GetLastPInvokeError();
        Console.Error.WriteLine($"cgfs exec: {command[0]}: {Marshal.GetPInvokeErrorMessage((int)e)}");
        return e == Errno.ENOENT ? 127 : 126;
    }
}
