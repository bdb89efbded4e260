using System.Runtime.InteropServices;

namespace CgFs.Exec;

/// <summary>
/// The classic-BPF seccomp program `cgfs exec` installs: the trapped system calls of this
/// architecture go to the user-notification listener (the cgfs daemon), everything else — and
/// every call of another architecture (an x32 or i386 program) — is allowed untouched.
/// </summary>
internal static unsafe class SeccompFilter
{
    private const ushort LdAbsW = 0x20, JeqK = 0x15, RetK = 0x06;
    private const uint ArchOffset = 4, NrOffset = 0;

    private const ushort JsetK = 0x45;
    private const uint ArgsOffset = 16;
    /// <summary>CLONE_PARENT, in the low word of clone's flags (args[0]).</summary>
    public const uint CloneParent = 0x00008000;

    public static Interop.Sys.SockFilter[] Program(Syscalls s)
    {
        var trapped = s.Trapped;
        var p = new List<Interop.Sys.SockFilter>
        {
            new() { Code = LdAbsW, K = ArchOffset },
            new() { Code = JeqK, Jt = 1, Jf = 0, K = s.AuditArch },
            new() { Code = RetK, K = Interop.Sys.SECCOMP_RET_ALLOW },
            new() { Code = LdAbsW, K = NrOffset },
            // clone: to the flag check after the two returns below
            new() { Code = JeqK, Jt = (byte)(trapped.Length + 2), Jf = 0, K = (uint)s.CloneNr },
        };
        for (int i = 0; i < trapped.Length; i++)
            p.Add(new() { Code = JeqK, Jt = (byte)(trapped.Length - i), Jf = 0, K = (uint)trapped[i] });
        p.Add(new() { Code = RetK, K = Interop.Sys.SECCOMP_RET_ALLOW });
        p.Add(new() { Code = RetK, K = Interop.Sys.SECCOMP_RET_USER_NOTIF });
        p.Add(new() { Code = LdAbsW, K = ArgsOffset });
        p.Add(new() { Code = JsetK, Jt = 0, Jf = 1, K = CloneParent });
        p.Add(new() { Code = RetK, K = Interop.Sys.SECCOMP_RET_USER_NOTIF });
        p.Add(new() { Code = RetK, K = Interop.Sys.SECCOMP_RET_ALLOW });
        return p.ToArray();
    }

    /// <summary>Installs the filter on the calling thread only (no TSYNC: the .NET runtime's other
    /// threads stay free; an execve from this thread keeps it) and returns the listener, or -errno.</summary>
    public static int Install(Syscalls s)
    {
        var program = Program(s);
        fixed (Interop.Sys.SockFilter* f = program)
        {
            var prog = new Interop.Sys.SockFprog { Len = (ushort)program.Length, Filter = f };
            long fd = Interop.Sys.Syscall3(s.Seccomp, Interop.Sys.SECCOMP_SET_MODE_FILTER,
                (long)(Interop.Sys.SECCOMP_FILTER_FLAG_NEW_LISTENER | Interop.Sys.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV), (long)&prog);
            if (fd < 0 && (Accounting.Errno)Marshal.GetLastPInvokeError() == Accounting.Errno.EINVAL)
                fd = Interop.Sys.Syscall3(s.Seccomp, Interop.Sys.SECCOMP_SET_MODE_FILTER,
                    (long)Interop.Sys.SECCOMP_FILTER_FLAG_NEW_LISTENER, (long)&prog); // kernels before 5.19
            return fd < 0 ? -Marshal.GetLastPInvokeError() : (int)fd;
        }
    }
}
