using System.Runtime.InteropServices;

namespace CgFs;

internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
        internal static partial int GetSockOpt(nint fd, int level, int name, void* value, int* len);

        internal const int SO_PEERCRED = 17;

        /// <summary>struct ucred.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct UCred
        {
            public int Pid;
            public uint Uid;
            public uint Gid;
        }
    }
}
