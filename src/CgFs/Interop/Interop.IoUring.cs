using System.Runtime.InteropServices;

namespace CgFs;

internal static unsafe partial class Interop
{
    /// <summary>io_uring system calls and the few libc calls a ring thread needs
    /// (linux/io_uring.h; the syscall numbers are the same on every architecture).</summary>
    internal static unsafe partial class Uring
    {
        private const long SysSetup = 425, SysEnter = 426;

        internal const uint SetupCqSize = 1 << 3, SetupSubmitAll = 1 << 7, SetupSqe128 = 1 << 10;
        internal const uint FeatSingleMmap = 1 << 0;
        internal const uint EnterGetEvents = 1 << 0;
        internal const long OffSqRing = 0, OffSqes = 0x10000000;
        internal const byte OpPollAdd = 6, OpUringCmd = 46;

        [StructLayout(LayoutKind.Sequential)]
        internal struct SqRingOffsets
        {
            public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
            public ulong UserAddr;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct CqRingOffsets
        {
            public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
            public ulong UserAddr;
        }

        /// <summary>struct io_uring_params (120 bytes).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Params
        {
            public uint SqEntries, CqEntries, Flags, SqThreadCpu, SqThreadIdle, Features, WqFd, Resv0, Resv1, Resv2;
            public SqRingOffsets SqOff;
            public CqRingOffsets CqOff;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct Cqe
        {
            public ulong UserData;
            public int Res;
            public uint Flags;
        }

        internal static int Setup(uint entries, Params* p) => (int)Sys.Syscall3(SysSetup, entries, (long)p, 0);

        internal static int Enter(int fd, uint toSubmit, uint minComplete, uint flags) =>
            (int)Sys.Syscall6(SysEnter, fd, toSubmit, minComplete, flags, 0, 0);

        internal const int ProtRead = 1, ProtWrite = 2, MapShared = 1, MapPrivate = 2, MapPopulate = 0x8000, MapAnonymous = 0x20;

        [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
        internal static partial void* MMap(void* addr, nuint length, int prot, int flags, int fd, long offset);

        [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
        internal static partial int MUnmap(void* addr, nuint length);

        internal static readonly void* MapFailed = (void*)-1;

        /// <summary>Pins the calling thread to <paramref name="cpu"/>.</summary>
        internal static int PinToCpu(int cpu)
        {
            var mask = stackalloc ulong[16]; // 1024 CPUs, glibc's cpu_set_t
            new Span<ulong>(mask, 16).Clear();
            mask[cpu / 64] |= 1UL << (cpu % 64);
            return SchedSetAffinity(0, 16 * sizeof(ulong), mask);
        }

        private const int SchedIdle = 5;

        /// <summary>Makes the calling thread SCHED_IDLE.</summary>
        internal static int SetSchedIdle()
        {
            int priority = 0;
            return SchedSetScheduler(0, SchedIdle, &priority);
        }

        [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
        private static partial int SchedSetScheduler(int pid, int policy, int* param);

        [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
        private static partial int SchedSetAffinity(int pid, nuint size, ulong* mask);

        [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
        internal static partial int EventFd(uint initval, int flags);

        internal const int EfdCloexec = 0x80000;
    }
}
