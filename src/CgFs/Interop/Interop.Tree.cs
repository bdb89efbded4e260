using System.Runtime.InteropServices;

namespace CgFs;

/// <summary>Calls on the host's real cgroup2 tree (overlay mode): every one keeps its errno, which
/// the overlay answers unchanged — the kernel's rules and errnos apply. Paths and names are bytes
/// held as Latin-1 strings, as FUSE gives them, and go to the kernel as those very bytes.</summary>
internal static unsafe partial class Interop
{
    /// <summary>A string of Latin-1 characters (one per byte) as a NUL-terminated byte string.</summary>
    [System.Runtime.InteropServices.Marshalling.CustomMarshaller(typeof(string),
        System.Runtime.InteropServices.Marshalling.MarshalMode.ManagedToUnmanagedIn, typeof(Latin1Marshaller))]
    internal static class Latin1Marshaller
    {
        public static byte* ConvertToUnmanaged(string s)
        {
            var p = (byte*)NativeMemory.Alloc((nuint)s.Length + 1);
            for (int i = 0; i < s.Length; i++)
                p[i] = (byte)s[i];
            p[s.Length] = 0;
            return p;
        }

        public static void Free(byte* p) => NativeMemory.Free(p);
    }

    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int OpenBytes(string path, int flags);

        [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int MkDir(string path, uint mode);

        [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int RmDir(string path);

        [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int ChMod(string path, uint mode);

        [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int LChown(string path, uint uid, uint gid);

        [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int UtimensAt(int dirfd, string path, TimeSpec* times, int flags);

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int Statx(int dirfd, string path, int flags, uint mask, StatxBuf* buf);

        [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int StatFs(string path, long* buf);

        [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int Access(string path, int mode);

        [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
        internal static partial nint PRead(int fd, byte* buf, nint count, long offset);

        [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial nint LGetXattr(string path, string name, byte* value, nint size);

        [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int LSetXattr(string path, string name, byte* value, nint size, int flags);

        [LibraryImport("libc", EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial nint LListXattr(string path, byte* list, nint size);

        [LibraryImport("libc", EntryPoint = "lremovexattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int LRemoveXattr(string path, string name);

        [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial nint OpenDir(string path);

        /// <summary>struct dirent64*: d_ino at 0, d_type at 18, d_name at 19 (NUL-terminated).</summary>
        [LibraryImport("libc", EntryPoint = "readdir64", SetLastError = true)]
        internal static partial byte* ReadDir64(nint dir);

        [LibraryImport("libc", EntryPoint = "closedir", SetLastError = true)]
        internal static partial int CloseDir(nint dir);

        internal const byte DT_DIR = 4, DT_REG = 8;

        [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
        internal static partial int InotifyInit1(int flags);

        [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(Latin1Marshaller))]
        internal static partial int InotifyAddWatch(int fd, string path, uint mask);

        [LibraryImport("libc", EntryPoint = "inotify_rm_watch", SetLastError = true)]
        internal static partial int InotifyRmWatch(int fd, int wd);

        [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
        internal static partial int EpollCreate1(int flags);

        [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
        internal static partial int EpollCtl(int epfd, int op, int fd, EpollEvent* ev);

        [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
        internal static partial int EpollWait(int epfd, EpollEvent* events, int maxevents, int timeout);

        [StructLayout(LayoutKind.Sequential)]
        internal struct TimeSpec
        {
            public long Sec;
            public long Nsec;
        }

        [StructLayout(LayoutKind.Sequential, Pack = 4)]
        internal struct EpollEvent
        {
            public uint Events;
            public ulong Data;
        }

        /// <summary>struct statx (linux/stat.h), the same on every architecture.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct StatxBuf
        {
            public uint Mask, BlkSize;
            public ulong Attributes;
            public uint Nlink, Uid, Gid;
            public ushort Mode, Spare0;
            public ulong Ino, Size, Blocks, AttributesMask;
            public long ASec; public uint ANsec; public int Pad1;
            public long BSec; public uint BNsec; public int Pad2;
            public long CSec; public uint CNsec; public int Pad3;
            public long MSec; public uint MNsec; public int Pad4;
            public uint RdevMajor, RdevMinor, DevMajor, DevMinor;
            public fixed ulong Spare[14];
        }

        internal const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;
        internal const uint STATX_BASIC_STATS = 0x7ff;
        internal const long UTIME_OMIT = (1L << 30) - 2, UTIME_NOW = (1L << 30) - 1;
        internal const int W_OK = 2;
        internal const long CGROUP2_SUPER_MAGIC = 0x63677270;
        internal const int IN_NONBLOCK = 0x800, IN_CLOEXEC = 0x80000;
        internal const uint IN_CREATE = 0x100, IN_DELETE = 0x200, IN_DELETE_SELF = 0x400, IN_ISDIR = 0x40000000,
            IN_IGNORED = 0x8000, IN_Q_OVERFLOW = 0x4000, IN_ONLYDIR = 0x1000000;
        internal const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
        internal const uint EPOLLPRI = 0x2, EPOLLERR = 0x8, EPOLLONESHOT = 1u << 30;
    }
}
