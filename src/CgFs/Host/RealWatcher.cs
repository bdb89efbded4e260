using System.Runtime.InteropServices;
using System.Text;

namespace CgFs.Host;

/// <summary>
/// inotify on the real cgroup2 directories an overlay mirrors: a directory made or removed
/// behind cgfs's back (systemd, a runtime writing to /sys/fs/cgroup directly) is reported as
/// (owner, name) to <c>changed</c>; a queue overflow asks for a full <c>rescan</c>. One thread,
/// started with the first watch; its lock is a leaf and is never held while calling back.
/// </summary>
public sealed unsafe class RealWatcher<T> : IDisposable where T : class
{
    private readonly int _fd;
    private readonly Dictionary<int, T> _owners = new();
    private readonly Dictionary<T, int> _watches = new(ReferenceEqualityComparer.Instance);
    private readonly Action<T, string> _changed;
    private readonly Action _rescan;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private volatile bool _stop;

    public RealWatcher(Action<T, string> changed, Action rescan, Action<string> log)
    {
        (_changed, _rescan, _log) = (changed, rescan, log);
        _fd = Interop.Sys.InotifyInit1(Interop.Sys.IN_NONBLOCK | Interop.Sys.IN_CLOEXEC);
        if (_fd < 0)
            log($"overlay: inotify unavailable ({Errnos.Last()}); changes behind cgfs's back are seen at the next lookup or listing");
        _thread = new Thread(Loop) { IsBackground = true, Name = "overlay-inotify" };
        if (_fd >= 0)
            _thread.Start();
    }

    /// <summary>Reports directories made in or removed from <paramref name="path"/> as <paramref name="owner"/>'s.</summary>
    public void Watch(string path, T owner)
    {
        if (_fd < 0)
            return;
        int wd = Interop.Sys.InotifyAddWatch(_fd, path, Interop.Sys.IN_CREATE | Interop.Sys.IN_DELETE | Interop.Sys.IN_ONLYDIR);
        if (wd < 0)
            return; // gone already: its removal is seen through its parent
        lock (_owners)
        {
            _owners[wd] = owner;
            _watches[owner] = wd;
        }
    }

    /// <summary>Stops watching <paramref name="owner"/>'s directory (its mirror was dropped). The
    /// kernel would drop the watch only when the removed directory's inode is evicted, which on
    /// kernfs can be much later; until then the watch would pin the owner and count against
    /// fs.inotify.max_user_watches.</summary>
    public void Unwatch(T owner)
    {
        lock (_owners)
        {
            if (!_watches.Remove(owner, out int wd))
                return;
            _owners.Remove(wd);
            Interop.Sys.InotifyRmWatch(_fd, wd);
        }
    }

    /// <summary>Number of watched directories (tests: watches go when directories do).</summary>
    public int Count
    {
        get
        {
            lock (_owners)
                return _owners.Count;
        }
    }

    private void Loop()
    {
        var buf = new byte[64 * 1024];
        while (!_stop)
        {
            var pfd = new Interop.Sys.PollFd { Fd = _fd, Events = Interop.Sys.POLLIN };
            if (Interop.Sys.Poll(&pfd, 1, 250) <= 0)
                continue;
            nint n;
            fixed (byte* p = buf)
                n = Interop.Sys.Read(_fd, p, buf.Length);
            if (n <= 0)
                continue;
            try
            {
                Dispatch(buf.AsSpan(0, (int)n));
            }
            catch (Exception e)
            {
                _log($"overlay: handling an inotify event failed: {e}");
            }
        }
    }

    /// <summary>struct inotify_event: wd, mask, cookie, len, name[len] (NUL-padded).</summary>
    private void Dispatch(ReadOnlySpan<byte> events)
    {
        bool rescan = false;
        var changes = new List<(T, string)>();
        while (events.Length >= 16)
        {
            int wd = MemoryMarshal.Read<int>(events);
            uint mask = MemoryMarshal.Read<uint>(events[4..]);
            int len = MemoryMarshal.Read<int>(events[12..]);
            var name = events.Slice(16, len);
            int nul = name.IndexOf((byte)0);
            string text = Encoding.Latin1.GetString(nul < 0 ? name : name[..nul]);
            events = events[(16 + len)..];
            if ((mask & Interop.Sys.IN_Q_OVERFLOW) != 0)
                rescan = true;
            T? owner;
            lock (_owners)
            {
                if ((mask & Interop.Sys.IN_IGNORED) != 0)
                {
                    if (_owners.Remove(wd, out var gone))
                        _watches.Remove(gone);
                    continue;
                }
                _owners.TryGetValue(wd, out owner);
            }
            if (owner is not null && (mask & Interop.Sys.IN_ISDIR) != 0 && text.Length > 0)
                changes.Add((owner, text));
        }
        foreach (var (owner, name) in changes)
            _changed(owner, name);
        if (rescan)
            _rescan();
    }

    public void Dispose()
    {
        _stop = true;
        if (_fd >= 0)
        {
            _thread.Join(TimeSpan.FromSeconds(2));
            Interop.Sys.Close(_fd);
        }
    }
}

/// <summary>
/// Poll wake-ups of real interface files (cgroup.events, memory.events, … of an overlay): each
/// open real file that a FUSE poll registered is armed one-shot for POLLPRI in an epoll set; when
/// the kernel signals it, the FUSE poll handle is notified and the kernel polls again (through
/// the same real descriptor, so POLLPRI clears exactly as it does on the kernel's own file).
/// </summary>
public sealed unsafe class RealPoller : IDisposable
{
    private readonly int _epfd;
    private readonly Dictionary<int, ulong> _armed = new();
    private readonly Action<ulong> _wake;
    private readonly Thread _thread;
    private volatile bool _stop;

    public RealPoller(Action<ulong> wake)
    {
        _wake = wake;
        _epfd = Interop.Sys.EpollCreate1(Interop.Sys.O_CLOEXEC);
        _thread = new Thread(Loop) { IsBackground = true, Name = "overlay-poll" };
        if (_epfd >= 0)
            _thread.Start();
    }

    /// <summary>Wakes <paramref name="kh"/> at the next POLLPRI of real descriptor <paramref name="fd"/>.</summary>
    public void Arm(int fd, ulong kh)
    {
        var ev = new Interop.Sys.EpollEvent { Events = Interop.Sys.EPOLLPRI | Interop.Sys.EPOLLONESHOT, Data = (ulong)fd };
        lock (_armed)
        {
            bool known = _armed.ContainsKey(fd);
            _armed[fd] = kh;
            if (Interop.Sys.EpollCtl(_epfd, known ? Interop.Sys.EPOLL_CTL_MOD : Interop.Sys.EPOLL_CTL_ADD, fd, &ev) != 0 && known)
                Interop.Sys.EpollCtl(_epfd, Interop.Sys.EPOLL_CTL_ADD, fd, &ev);
        }
    }

    /// <summary>Before the descriptor is closed.</summary>
    public void Disarm(int fd)
    {
        lock (_armed)
            if (_armed.Remove(fd))
                Interop.Sys.EpollCtl(_epfd, Interop.Sys.EPOLL_CTL_DEL, fd, null);
    }

    private void Loop()
    {
        var events = stackalloc Interop.Sys.EpollEvent[16];
        while (!_stop)
        {
            int n = Interop.Sys.EpollWait(_epfd, events, 16, 250);
            for (int i = 0; i < n; i++)
            {
                ulong? kh = null;
                lock (_armed)
                    if (_armed.TryGetValue((int)events[i].Data, out var h))
                        kh = h;
                if (kh is { } k)
                    _wake(k);
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        if (_epfd >= 0)
        {
            _thread.Join(TimeSpan.FromSeconds(2));
            Interop.Sys.Close(_epfd);
        }
    }
}
