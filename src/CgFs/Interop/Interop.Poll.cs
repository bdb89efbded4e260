using System.Runtime.InteropServices;

namespace CgFs;

internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        [StructLayout(LayoutKind.Sequential)]
        internal struct PollFd
        {
            public int Fd;
            public short Events;
            public short REvents;
        }

        [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
        internal static partial int Poll(PollFd* fds, nuint nfds, int timeout);

        [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
        internal static partial long Lseek(int fd, long offset, int whence);

        internal const short POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10,
            POLLNVAL = 0x20, POLLRDNORM = 0x40, POLLWRNORM = 0x100;
    }
}
