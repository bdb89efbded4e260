using System.Runtime.InteropServices;

namespace CgFs;

/// <summary>libc entry points, one tight group per concern (dotnet/runtime's Interop.Sys style).
/// All calls set errno; read it with Marshal.GetLastPInvokeError().</summary>
internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        private const string Libc = "libc";

        [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
        internal static partial nint Read(int fd, byte* buf, nint count);

        [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
        internal static partial nint Write(int fd, byte* buf, nint count);

        [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags);

        /// <summary>syscall(2), for calls glibc does not wrap (seccomp, pidfd_getfd, io_uring).</summary>
        [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
        internal static partial long Syscall3(long nr, long a, long b, long c);

        [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
        internal static partial long Syscall6(long nr, long a, long b, long c, long d, long e, long f);

        [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);

        [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
        internal static partial int Fcntl(int fd, int cmd, int arg);

        internal const int O_RDWR = 2;
        internal const int O_CLOEXEC = 0x80000;
        internal const int F_SETFD = 2;
        internal const int FD_CLOEXEC = 1;
    }
}

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        internal static partial int FSync(int fd);
    }
}
