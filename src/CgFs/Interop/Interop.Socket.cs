using System.Runtime.InteropServices;

namespace CgFs;

internal static unsafe partial class Interop
{
    internal static partial class Sys
    {
        [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
        internal static partial int SocketPair(int domain, int type, int protocol, int* sv);

        [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
        internal static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

        [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
        internal static partial int Socket(int domain, int type, int protocol);

        [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
        internal static partial int Bind(int fd, byte* addr, int addrlen);

        [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
        internal static partial nint Send(int fd, byte* buf, nint len, int flags);

        [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
        internal static partial nint Recv(int fd, byte* buf, nint len, int flags);

        [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
        internal static partial int SetSockOpt(int fd, int level, int name, byte* value, int len);

        internal const int AF_UNIX = 1;
        internal const int AF_NETLINK = 16;
        internal const int SOCK_STREAM = 1;
        internal const int SOCK_DGRAM = 2;
        internal const int SOCK_CLOEXEC = 0x80000;
        internal const int SOL_SOCKET = 1;
        internal const int SCM_RIGHTS = 1;
        internal const int SO_RCVBUFFORCE = 33;

        [StructLayout(LayoutKind.Sequential)]
        internal struct IoVec
        {
            public void* Base;
            public nuint Len;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct MsgHdr
        {
            public void* Name;
            public uint NameLen;
            public IoVec* Iov;
            public nuint IovLen;
            public void* Control;
            public nuint ControlLen;
            public int Flags;
        }
    }
}
