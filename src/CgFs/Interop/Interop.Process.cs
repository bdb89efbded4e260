using System.Runtime.InteropServices;

namespace CgFs;

internal static partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
        internal static partial int SetSid();

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        internal static partial int Kill(int pid, int signal);

        [LibraryImport("libc", EntryPoint = "geteuid")]
        internal static partial uint GetEUid();

        [LibraryImport("libc", EntryPoint = "getegid")]
        internal static partial uint GetEGid();

        [LibraryImport("libc", EntryPoint = "getpid")]
        internal static partial int GetPid();

        internal const int SIGKILL = 9;
    }
}
