using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using CgFs.Accounting;
using CgFs.Host;
using CgFs.Membership;

namespace CgFs.Exec;

/// <summary>
/// The daemon's side of `cgfs exec`: answers the seccomp notifications of covered processes (a
/// thread per listener, never a FUSE reader, so its own statfs of the mount cannot deadlock).
/// Everything not about cgfs is continued untouched (SECCOMP_USER_NOTIF_FLAG_CONTINUE); what is
/// about it is answered as a cgroup2 filesystem would (<see cref="NotificationHandler"/>).
/// </summary>
public sealed unsafe class ExecSupervisor : IDisposable
{
    private readonly NotificationHandler _handler;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<int, Thread> _listeners = new();
    private volatile bool _stopped;

    public ExecSupervisor(Hierarchy engine, IMembership membership, string mountPoint, Action<string> log)
    {
        _log = log;
        var syscalls = Syscalls.Native ?? throw new PlatformNotSupportedException("cgfs exec supports x86-64 and arm64");
        // The mount's device number is read when the first listener arrives: the mount exists by then.
        _handler = new NotificationHandler(syscalls, engine, membership, new Lazy<ulong>(() => Interop.Sys.DeviceOf(mountPoint) ?? 0), log);
    }

    /// <summary>Covered process trees now (for tests and `memory`).</summary>
    public int Listeners => _listeners.Count;

    /// <summary>Takes over <paramref name="listener"/>, handed over by `cgfs exec` running as <paramref name="root"/>.</summary>
    public void Add(int listener, ProcessKey root)
    {
        _handler.Cover(root);
        var thread = new Thread(() =>
        {
            Serve(listener);
            _handler.Uncover(root);
        }) { IsBackground = true, Name = $"exec-{root.Pid}" };
        _listeners[listener] = thread;
        thread.Start();
    }

    /// <summary>Answers notifications until every process of the tree is gone (the listener hangs up).</summary>
    private void Serve(int listener)
    {
        // A trapped call is a round trip between two threads: waking each on the other's CPU costs
        // more than the work (the kernel's synchronous wake-up; older kernels refuse it, harmlessly).
        // The flags are the ioctl's argument itself, not a pointer to them.
        if (Interop.Sys.Ioctl(listener, Interop.Sys.SECCOMP_IOCTL_NOTIF_SET_FLAGS, (void*)Interop.Sys.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) != 0)
            _log($"exec: synchronous wake-up unavailable: {Errnos.Last()}");
        try
        {
            var pfd = new Interop.Sys.PollFd { Fd = listener, Events = Interop.Sys.POLLIN };
            while (!_stopped)
            {
                pfd.REvents = 0;
                int r = Interop.Sys.Poll(&pfd, 1, 1000);
                if (r < 0 && (Errno)Marshal.GetLastPInvokeError() == Errno.EINTR || r == 0)
                    continue;
                if (r < 0 || (pfd.REvents & (Interop.Sys.POLLHUP | Interop.Sys.POLLERR | Interop.Sys.POLLNVAL)) != 0 && (pfd.REvents & Interop.Sys.POLLIN) == 0)
                    return;
                ServeOne(listener);
            }
        }
        finally
        {
            _listeners.TryRemove(listener, out _);
            Interop.Sys.Close(listener);
        }
    }

    private void ServeOne(int listener)
    {
        var notif = new Interop.Sys.SeccompNotif();
        if (Interop.Sys.Ioctl(listener, Interop.Sys.SECCOMP_IOCTL_NOTIF_RECV, &notif) != 0)
            return; // ENOENT: the caller died or was interrupted before we took it
        Answer answer;
        try
        {
            answer = _handler.Handle(notif, id => Interop.Sys.Ioctl(listener, Interop.Sys.SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0);
        }
        catch (Exception e)
        {
            _log($"bug: exec notification {notif.Nr} from {notif.Pid} threw {e}");
            answer = Answer.Continue;
        }
        Send(listener, notif.Id, answer);
    }

    private static void Send(int listener, ulong id, Answer a)
    {
        if (a.Fd is { } fd)
        {
            var add = new Interop.Sys.SeccompNotifAddFd
            {
                Id = id, Flags = Interop.Sys.SECCOMP_ADDFD_FLAG_SEND, SrcFd = (uint)fd,
                NewFdFlags = a.CloseOnExec ? (uint)Interop.Sys.O_CLOEXEC : 0,
            };
            int r = Interop.Sys.Ioctl(listener, Interop.Sys.SECCOMP_IOCTL_NOTIF_ADDFD, &add);
            Interop.Sys.Close(fd);
            if (r >= 0)
                return; // the kernel answered the call with the new descriptor
            a = Answer.Fail(Errno.EMFILE);
        }
        var resp = new Interop.Sys.SeccompNotifResp
        {
            Id = id, Val = a.Value, Error = a.Error == Errno.Ok ? 0 : -(int)a.Error,
            Flags = a.Continues ? Interop.Sys.SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0,
        };
        Interop.Sys.Ioctl(listener, Interop.Sys.SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }

    public void Dispose() => _stopped = true;
}

/// <summary>How a trapped call is answered: continued as if untrapped, with a value or an errno,
/// or with a new descriptor installed in the caller (its number is the call's result).</summary>
internal readonly record struct Answer(bool Continues, long Value, Errno Error, int? Fd, bool CloseOnExec)
{
    public static readonly Answer Continue = new(true, 0, Errno.Ok, null, false);
    public static Answer Return(long value) => new(false, value, Errno.Ok, null, false);
    public static Answer Fail(Errno e) => new(false, 0, e, null, false);
    public static Answer WithFd(int fd, bool cloexec) => new(false, 0, Errno.Ok, fd, cloexec);
}
