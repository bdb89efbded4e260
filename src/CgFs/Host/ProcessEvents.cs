using System.Runtime.InteropServices;
using CgFs.Accounting;
using CgFs.Membership;

namespace CgFs.Host;

/// <summary>
/// Fork and exit events from the kernel's process-event connector (NETLINK_CONNECTOR, proc
/// events). Needs CAP_NET_ADMIN; without it <see cref="TryStart"/> returns null and cgfs falls
/// back to procfs scans (liveness at read time, parent-chain inference for unknown pids).
/// Events go to the membership service on this listener's own thread; exits wake pollers.
/// </summary>
public sealed unsafe class ProcessEvents : IDisposable
{
    private const int NETLINK_CONNECTOR = 11;
    private const uint CN_IDX_PROC = 1, CN_VAL_PROC = 1;
    private const int PROC_CN_MCAST_LISTEN = 1;
    private const uint PROC_EVENT_FORK = 0x00000001, PROC_EVENT_EXIT = 0x80000000;
    private const int NlMsgHdrSize = 16, CnMsgSize = 20;

    private readonly int _fd;
    private readonly IMembership _membership;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private volatile bool _stopped;

    private ProcessEvents(int fd, IMembership membership, Action<string> log)
    {
        _fd = fd;
        _membership = membership;
        _log = log;
        _thread = new Thread(Loop) { IsBackground = true, Name = "proc-events" };
    }

    public static ProcessEvents? TryStart(IMembership membership, Action<string> log)
    {
        int fd = Interop.Sys.Socket(Interop.Sys.AF_NETLINK, Interop.Sys.SOCK_DGRAM | Interop.Sys.SOCK_CLOEXEC, NETLINK_CONNECTOR);
        if (fd < 0)
            return null;
        int rcvbuf = 4 << 20;
        Interop.Sys.SetSockOpt(fd, Interop.Sys.SOL_SOCKET, Interop.Sys.SO_RCVBUFFORCE, (byte*)&rcvbuf, 4);
        // struct sockaddr_nl { sa_family_t nl_family; unsigned short pad; u32 nl_pid; u32 nl_groups; }
        byte* addr = stackalloc byte[12];
        new Span<byte>(addr, 12).Clear();
        *(ushort*)addr = (ushort)Interop.Sys.AF_NETLINK;
        *(uint*)(addr + 8) = CN_IDX_PROC;
        if (Interop.Sys.Bind(fd, addr, 12) != 0 || !Subscribe(fd))
        {
            log($"process events unavailable (errno {Marshal.GetLastPInvokeError()}); using procfs scans");
            Interop.Sys.Close(fd);
            return null;
        }
        var events = new ProcessEvents(fd, membership, log);
        events._thread.Start();
        return events;
    }

    private static bool Subscribe(int fd)
    {
        const int len = NlMsgHdrSize + CnMsgSize + 4;
        byte* msg = stackalloc byte[len];
        new Span<byte>(msg, len).Clear();
        *(uint*)msg = len;                       // nlmsg_len
        *(ushort*)(msg + 4) = 3;                 // nlmsg_type = NLMSG_DONE
        *(uint*)(msg + 12) = (uint)Interop.Sys.GetPid();
        byte* cn = msg + NlMsgHdrSize;
        *(uint*)cn = CN_IDX_PROC;
        *(uint*)(cn + 4) = CN_VAL_PROC;
        *(ushort*)(cn + 16) = 4;                 // cn_msg.len
        *(int*)(cn + CnMsgSize) = PROC_CN_MCAST_LISTEN;
        return Interop.Sys.Send(fd, msg, len, 0) == len;
    }

    private void Loop()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(64 * 1024, pinned: true);
        fixed (byte* b = buffer)
        {
            while (!_stopped)
            {
                nint n = Interop.Sys.Recv(_fd, b, buffer.Length, 0);
                if (n <= 0)
                {
                    var errno = (Errno)Marshal.GetLastPInvokeError();
                    if (n < 0 && errno is Errno.EINTR or Errno.ENOBUFS) // ENOBUFS: events were lost, procfs scans repair
                        continue;
                    return;
                }
                for (int off = 0; off + NlMsgHdrSize <= n;)
                {
                    uint len = *(uint*)(b + off);
                    if (len < NlMsgHdrSize || off + len > n)
                        break;
                    if (len >= NlMsgHdrSize + CnMsgSize + 16)
                        Apply(b + off + NlMsgHdrSize + CnMsgSize);
                    off += (int)((len + 3) & ~3u);
                }
            }
        }
    }

    /// <summary>struct proc_event { what; cpu; u64 timestamp; union event_data } at offset 16.</summary>
    private void Apply(byte* ev)
    {
        uint what = *(uint*)ev;
        int* data = (int*)(ev + 16);
        try
        {
            if (what == PROC_EVENT_FORK)
            {
                int parentPid = data[0], parentTgid = data[1], childPid = data[2], childTgid = data[3];
                if (childPid == childTgid)
                    _membership.Forked(parentTgid, parentPid, childPid);
                else
                    _membership.ThreadCreated(childTgid, parentPid, childPid);
            }
            else if (what == PROC_EVENT_EXIT)
            {
                int pid = data[0], tgid = data[1];
                if (pid == tgid)
                    _membership.Exited(pid);
                else
                    _membership.ThreadExited(tgid, pid);
            }
        }
        catch (Exception e)
        {
            // A bug: the event is lost (the next liveness scan repairs membership), the listener lives on.
            _log($"bug: process event {what:x} threw {e}");
        }
    }

    public void Dispose()
    {
        _stopped = true;
        Interop.Sys.Close(_fd);
    }
}
