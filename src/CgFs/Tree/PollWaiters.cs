using CgFs.Accounting;
using CgFs.Fuse;

namespace CgFs.Tree;

/// <summary>
/// Kernel poll handles waiting on notifying files, and the way to the kernel's notifications. FUSE poll handles are one-shot: after a
/// wake-up the kernel polls again and re-registers. This lock is a leaf of the lock order.
/// </summary>
public sealed class PollWaiters
{
    private readonly object _lock = new();
    private readonly Dictionary<(Cgroup, Notifier), HashSet<ulong>> _waiters = new();

    public IFuseNotifier? Kernel { get; set; }

    public void Add(Cgroup c, Notifier file, ulong kh)
    {
        lock (_lock)
        {
            if (!_waiters.TryGetValue((c, file), out var set))
                _waiters[(c, file)] = set = new HashSet<ulong>();
            set.Add(kh);
        }
    }

    /// <summary>A released file's handle: nothing will poll it again.</summary>
    public void Remove(Cgroup c, Notifier file, ulong kh)
    {
        lock (_lock)
        {
            if (_waiters.TryGetValue((c, file), out var set) && set.Remove(kh) && set.Count == 0)
                _waiters.Remove((c, file));
        }
    }

    /// <summary>Number of registered poll handles (for tests).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _waiters.Values.Sum(s => s.Count);
        }
    }

    /// <summary>Wakes the waiters of the changed files (called after the engine lock is released).</summary>
    public void Wake(IEnumerable<Change> changes)
    {
        var wake = new List<ulong>();
        lock (_lock)
        {
            foreach (var ch in changes)
                if (_waiters.Remove((ch.Cgroup, ch.File), out var set))
                    wake.AddRange(set);
        }
        foreach (var kh in wake)
            Kernel?.NotifyPoll(kh);
    }

    /// <summary>A removed cgroup: every waiter on any of its notifying files must wake and see POLLERR.</summary>
    public void WakeAll(Cgroup c, IEnumerable<Notifier> files) => Wake(files.Select(n => new Change(c, n)));
}
