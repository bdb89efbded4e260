using System.Runtime.InteropServices;
using System.Text;
using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>Direct system calls for the fuzzers, which issue far too many writes to spawn a tool
/// per write: one open(2)+write(2)+close(2) per command, the errno as the kernel returns it.</summary>
public static unsafe partial class Native
{
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buf, nint count);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buf, nint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int PollFds(PollFd* fds, nuint count, int timeoutMs);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    /// <summary>open(2) for tests that hold descriptors: the fd, or minus the errno.</summary>
    public static int OpenFd(string path, int flags = 0)
    {
        int fd = Open(path, flags);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    public static void CloseFd(int fd) => Close(fd);

    /// <summary>read(2) into a page: the byte count, or minus the errno.</summary>
    public static int ReadFd(int fd)
    {
        var buf = stackalloc byte[4096];
        nint n = Read(fd, buf, 4096);
        return n >= 0 ? (int)n : -Marshal.GetLastPInvokeError();
    }

    /// <summary>poll(2) for POLLPRI on one descriptor, as a cgroup.events waiter does: revents, or minus the errno.</summary>
    public static int PollPri(int fd, int timeoutMs)
    {
        var p = new PollFd { Fd = fd, Events = 0x2 };
        int n = PollFds(&p, 1, timeoutMs);
        return n >= 0 ? p.REvents : -Marshal.GetLastPInvokeError();
    }

    public static Errno WriteFile(string path, ReadOnlySpan<byte> data)
    {
        int fd = Open(path, 1);
        if (fd < 0)
            return (Errno)Marshal.GetLastPInvokeError();
        try
        {
            fixed (byte* p = data)
                return Write(fd, p, data.Length) < 0 ? (Errno)Marshal.GetLastPInvokeError() : Errno.Ok;
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>The file's content, or the errno of open/read as text.</summary>
    public static string ReadFile(string path)
    {
        int fd = Open(path, 0);
        if (fd < 0)
            return $"<{(Errno)Marshal.GetLastPInvokeError()}>";
        try
        {
            var buf = new byte[65536];
            int total = 0;
            fixed (byte* p = buf)
            {
                nint n;
                while ((n = Read(fd, p + total, buf.Length - total)) > 0)
                    total += (int)n;
                if (n < 0)
                    return $"<{(Errno)Marshal.GetLastPInvokeError()}>";
            }
            return Encoding.Latin1.GetString(buf, 0, total);
        }
        finally
        {
            Close(fd);
        }
    }
}
