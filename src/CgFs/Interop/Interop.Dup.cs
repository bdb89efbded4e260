using System.Runtime.InteropServices;

namespace CgFs;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
        internal static partial int Dup2(int oldfd, int newfd);

        internal const int O_WRONLY = 1;
        internal const int O_CREAT = 0x40;
        internal const int O_APPEND = 0x400;

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int OpenMode(string path, int flags, int mode);
    }
}
