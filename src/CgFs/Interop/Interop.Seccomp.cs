using System.Runtime.InteropServices;

namespace CgFs;

/// <summary>What `cgfs exec` and its supervisor need from the kernel: namespaces, seccomp user
/// notification (linux/seccomp.h), another process's memory, memfds, exec.</summary>
internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
        internal static partial int Unshare(int flags);

        [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
        internal static partial int Prctl(int option, ulong a2, ulong a3, ulong a4, ulong a5);

        [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, ulong request, void* arg);

        [LibraryImport("libc", EntryPoint = "process_vm_readv", SetLastError = true)]
        internal static partial nint ProcessVmReadv(int pid, IoVec* local, nuint liovcnt, IoVec* remote, nuint riovcnt, nuint flags);

        [LibraryImport("libc", EntryPoint = "process_vm_writev", SetLastError = true)]
        internal static partial nint ProcessVmWritev(int pid, IoVec* local, nuint liovcnt, IoVec* remote, nuint riovcnt, nuint flags);

        [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MemfdCreate(string name, uint flags);

        [LibraryImport("libc", EntryPoint = "execvp", SetLastError = true)]
        internal static partial int Execvp(byte* file, byte** argv);

        [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int StatFs(string path, KernelStatFs* buf);

        [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
        internal static partial nint SendMsg(int fd, MsgHdr* msg, int flags);

        internal const int CLONE_NEWNS = 0x00020000;
        internal const int PR_SET_NO_NEW_PRIVS = 38;
        internal const ulong MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18, MS_REMOUNT = 32, MS_RELATIME = 1 << 21;
        internal const uint MFD_CLOEXEC = 1;

        internal const uint SECCOMP_SET_MODE_FILTER = 1, SECCOMP_GET_NOTIF_SIZES = 3;
        internal const ulong SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5;
        internal const uint SECCOMP_RET_ALLOW = 0x7fff0000, SECCOMP_RET_USER_NOTIF = 0x7fc00000;
        internal const uint SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1;
        internal const uint SECCOMP_ADDFD_FLAG_SEND = 2;
        // _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp),
        // _IOW('!', 2, __u64), _IOW('!', 3, struct seccomp_notif_addfd)
        internal const ulong SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100, SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101,
            SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102, SECCOMP_IOCTL_NOTIF_ADDFD = 0x40182103,
            SECCOMP_IOCTL_NOTIF_SET_FLAGS = 0x40082104; // _IOW('!', 4, __u64), Linux 6.6
        /// <summary>Wake the supervisor and, on reply, the caller on the current CPU (Linux 6.6).</summary>
        internal const ulong SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1;

        [StructLayout(LayoutKind.Sequential)]
        internal struct SockFilter
        {
            public ushort Code;
            public byte Jt;
            public byte Jf;
            public uint K;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SockFprog
        {
            public ushort Len;
            public SockFilter* Filter;
        }

        /// <summary>struct seccomp_notif (80 bytes) with struct seccomp_data inline.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotif
        {
            public ulong Id;
            public uint Pid;
            public uint Flags;
            public int Nr;
            public uint Arch;
            public ulong InstructionPointer;
            public fixed ulong Args[6];
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotifResp
        {
            public ulong Id;
            public long Val;
            public int Error;
            public uint Flags;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotifAddFd
        {
            public ulong Id;
            public uint Flags;
            public uint SrcFd;
            public uint NewFd;
            public uint NewFdFlags;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SeccompNotifSizes
        {
            public ushort Notif;
            public ushort Resp;
            public ushort Data;
        }

        /// <summary>struct statfs on 64-bit Linux (120 bytes).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct KernelStatFs
        {
            public long Type;
            public long BSize;
            public ulong Blocks, BFree, BAvail, Files, FFree;
            public long Fsid;
            public long NameLen;
            public long FrSize;
            public long Flags;
            public fixed long Spare[4];
        }

        /// <summary>Sends one byte with <paramref name="fd"/> attached (SCM_RIGHTS).</summary>
        internal static bool SendFd(int socket, int fd)
        {
            byte data = 0;
            var iov = new IoVec { Base = &data, Len = 1 };
            byte* control = stackalloc byte[24];
            new Span<byte>(control, 24).Clear();
            *(ulong*)control = 20;            // cmsg_len = CMSG_LEN(sizeof(int))
            *(int*)(control + 8) = SOL_SOCKET;
            *(int*)(control + 12) = SCM_RIGHTS;
            *(int*)(control + 16) = fd;
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 24 };
            return SendMsg(socket, &msg, 0) == 1;
        }

        /// <summary>Receives one byte and the descriptor attached to it (SCM_RIGHTS); -1 if none came.</summary>
        internal static int ReceiveFd(int socket)
        {
            byte data = 0;
            var iov = new IoVec { Base = &data, Len = 1 };
            byte* control = stackalloc byte[64];
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
            nint n;
            do
                n = RecvMsg(socket, &msg, 0);
            while (n < 0 && (Accounting.Errno)Marshal.GetLastPInvokeError() == Accounting.Errno.EINTR);
            if (n <= 0 || msg.ControlLen < 20)
                return -1;
            // struct cmsghdr { size_t len; int level; int type; } followed by the int fd.
            int level = *(int*)(control + 8), type = *(int*)(control + 12);
            if (level != SOL_SOCKET || type != SCM_RIGHTS)
                return -1;
            return *(int*)(control + 16);
        }
    }
}

internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int StatRaw(string path, byte* buf);

        /// <summary>st_dev of what <paramref name="path"/> names (it is the first field of struct stat on
        /// x86-64 and arm64), or null.</summary>
        internal static ulong? DeviceOf(string path) => IdentityOf(path)?.Dev;

        /// <summary>st_dev and st_ino (the first two 64-bit fields of struct stat on x86-64 and arm64).</summary>
        internal static (ulong Dev, ulong Ino)? IdentityOf(string path)
        {
            byte* buf = stackalloc byte[256];
            return StatRaw(path, buf) == 0 ? (*(ulong*)buf, *(ulong*)(buf + 8)) : null;
        }

        /// <summary>A duplicate of descriptor <paramref name="fd"/> of process <paramref name="pid"/>
        /// (pidfd_open + pidfd_getfd), or -1.</summary>
        internal static int StealFd(long pidfdOpen, long pidfdGetfd, int pid, int fd)
        {
            long pidfd = Syscall3(pidfdOpen, pid, 0, 0);
            if (pidfd < 0)
                return -1;
            long dup = Syscall3(pidfdGetfd, pidfd, fd, 0);
            Close((int)pidfd);
            return (int)dup;
        }
    }
}
