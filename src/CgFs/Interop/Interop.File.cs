using System.Runtime.InteropServices;

namespace CgFs;

/// <summary>File calls the state journal needs with their errno intact: a refused journal write
/// refuses the operation with exactly that errno (ENOSPC, EIO, EDQUOT, EROFS …).</summary>
internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags, uint mode);

        [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
        internal static partial nint PWrite(int fd, byte* buf, nint count, long offset);

        [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
        internal static partial int FTruncate(int fd, long length);

        [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Rename(string from, string to);

        [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Unlink(string path);

        internal const int O_WRONLY = 1;
        internal const int O_CREAT = 0x40;
        internal const int O_TRUNC = 0x200;
    }
}
