using System.Runtime.InteropServices;

namespace CgFs.Exec;

/// <summary>The system calls `cgfs exec` traps, by architecture (asm/unistd.h): the ones through
/// which a program tells a cgroup2 filesystem from a FUSE one, and clone(2) with CLONE_PARENT
/// (its child is born in the caller's cgroup, which the fork event, naming the real parent, does not say).</summary>
public sealed record Syscalls(uint AuditArch, int StatFs, int FStatFs, int Open, int OpenAt, int OpenAt2, int Bpf, int Mount,
    int Clone3, int StatMount, int ListMount, long Seccomp, int CloneNr, long PidfdOpen = 434, long PidfdGetfd = 438)
{
    public static readonly Syscalls X64 = new(0xC000003E, StatFs: 137, FStatFs: 138, Open: 2, OpenAt: 257, OpenAt2: 437, Bpf: 321,
        Mount: 165, Clone3: 435, StatMount: 457, ListMount: 458, Seccomp: 317, CloneNr: 56);

    /// <summary>arm64 has no open(2).</summary>
    public static readonly Syscalls Arm64 = new(0xC00000B7, StatFs: 43, FStatFs: 44, Open: -1, OpenAt: 56, OpenAt2: 437, Bpf: 280,
        Mount: 40, Clone3: 435, StatMount: 457, ListMount: 458, Seccomp: 277, CloneNr: 220);

    /// <summary>This machine's table, or null where `cgfs exec` is not supported.</summary>
    public static Syscalls? Native => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => X64,
        Architecture.Arm64 => Arm64,
        _ => null,
    };

    public int[] Trapped => new[] { StatFs, FStatFs, Open, OpenAt, OpenAt2, Bpf, Mount, Clone3, StatMount, ListMount }.Where(n => n >= 0).ToArray();
}
