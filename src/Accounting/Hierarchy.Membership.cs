namespace CgFs.Accounting;

/// <summary>
/// The membership table (spec core.md 8): cgfs cannot move real processes, so it records where
/// each process and thread "is". A process not in the table is in the root cgroup. A member's
/// <see cref="Member.Cgroup"/> is where its threads are unless a thread was moved on its own
/// (cgroup.threads), recorded in <see cref="Member.Threads"/>; each placement counts one task in
/// its cgroup, which drives "populated" up the tree in O(depth).
/// </summary>
public sealed partial class Hierarchy
{
    private sealed class Member(ProcessKey key, Cgroup cgroup)
    {
        public ProcessKey Key = key;
        public Cgroup Cgroup = cgroup;
        public Dictionary<int, Cgroup>? Threads;

        public Cgroup LeaderCgroup => Threads is not null && Threads.TryGetValue(Key.Pid, out var g) ? g : Cgroup;

        public IEnumerable<Cgroup> Placements => Threads is null ? [Cgroup] : Threads.Values.Prepend(Cgroup);
    }

    private readonly Dictionary<int, Member> _members = new();

    /// <summary>The cgroup whose cgroup.procs lists the process (its leader's cgroup).</summary>
    public Cgroup CgroupOfLocked(int pid)
    {
        AssertLocked();
        return _members.TryGetValue(pid, out var m) ? m.LeaderCgroup : Root;
    }

    public Cgroup CgroupOfThreadLocked(int pid, int tid)
    {
        AssertLocked();
        if (!_members.TryGetValue(pid, out var m))
            return Root;
        return m.Threads is not null && m.Threads.TryGetValue(tid, out var g) ? g : m.Cgroup;
    }

    public bool IsMemberLocked(int pid)
    {
        AssertLocked();
        return _members.ContainsKey(pid);
    }

    public ProcessKey[] MembersLocked()
    {
        AssertLocked();
        return _members.Values.Select(m => m.Key).ToArray();
    }

    /// <summary>Processes listed by cgroup.procs of <paramref name="c"/> among recorded members. A thread
    /// root lists every process with a thread anywhere in its threaded subtree (kernel: CSS_TASK_ITER_THREADED).</summary>
    public List<int> RecordedProcsLocked(Cgroup c)
    {
        AssertLocked();
        var pids = new List<int>();
        bool threadRoot = IsThreadRootLocked(c);
        foreach (var m in _members.Values)
        {
            bool listed = threadRoot
                ? m.Placements.Any(g => ReferenceEquals(g.DomCgroup, c))
                : ReferenceEquals(m.LeaderCgroup, c);
            if (listed)
                pids.Add(m.Key.Pid);
        }
        return pids;
    }

    /// <summary>Recorded processes with at least one thread placed in <paramref name="c"/>.</summary>
    public List<int> RecordedProcsWithThreadsInLocked(Cgroup c)
    {
        AssertLocked();
        return _members.Values.Where(m => m.Placements.Any(g => ReferenceEquals(g, c))).Select(m => m.Key.Pid).ToList();
    }

    /// <summary>Recorded processes placed anywhere in the subtree of <paramref name="c"/>: cgroup.kill's
    /// victims, and the candidates a liveness scan checks against the host outside this lock.</summary>
    public List<ProcessKey> RecordedSubtreeLocked(Cgroup c)
    {
        AssertLocked();
        return _members.Values.Where(m => m.Placements.Any(g => IsDescendantOrSelf(g, c))).Select(m => m.Key).ToList();
    }

    /// <summary>cgroup.procs write after the pid was validated (kernel: __cgroup_procs_write, threadgroup).</summary>
    /// <param name="mayWriteProcs">Whether the opener may write cgroup.procs of the given cgroup (spec core.md 5.1).</param>
    public Errno MigrateProcessLocked(ProcessKey p, Cgroup dst, Func<Cgroup, bool> mayWriteProcs)
    {
        AssertLocked();
        if (dst.Removed)
            return Errno.ENODEV;
        _members.TryGetValue(p.Pid, out var m);
        if (m is not null && m.Key != p)
        {
            ExitedLocked(m); // a recycled pid: the recorded process is gone
            m = null;
        }
        var src = m?.LeaderCgroup ?? Root;
        if (!mayWriteProcs(CommonAncestor(src, dst)))
            return Errno.EACCES;
        var vet = VetDestinationLocked(dst);
        if (vet != Errno.Ok)
            return vet;
        if (ReferenceEquals(src, dst) && (m is null || m.Threads is null || m.Threads.Count == 0))
            return Errno.Ok; // already there: a no-op, nothing notified
        var veto = CanAttachLocked(p.Pid, dst);
        if (veto != Errno.Ok)
            return veto;
        if (m is not null)
            DropLocked(m);
        if (!dst.IsRoot)
        {
            _members[p.Pid] = new Member(p, dst);
            AddTaskLocked(dst, +1);
        }
        foreach (var ctrl in Controllers)
            ctrl.AttachLocked(p.Pid, dst);
        return Errno.Ok;
    }

    /// <summary>kernel: cgroup_migrate_execute's can_attach loop: the first controller to refuse
    /// decides the errno, and every one asked before it is told to cancel.</summary>
    private Errno CanAttachLocked(int pid, Cgroup dst)
    {
        AssertLocked();
        for (int i = 0; i < Controllers.Count; i++)
        {
            var e = Controllers[i].CanAttachLocked(pid, dst);
            if (e == Errno.Ok)
                continue;
            for (int j = i - 1; j >= 0; j--)
                Controllers[j].CancelAttachLocked(pid, dst);
            return e;
        }
        return Errno.Ok;
    }

    /// <summary>cgroup.threads write: one thread, within its resource domain (spec core.md 3.4).</summary>
    public Errno MigrateThreadLocked(ProcessKey p, int tid, Cgroup dst, Func<Cgroup, bool> mayWriteProcs)
    {
        AssertLocked();
        if (dst.Removed)
            return Errno.ENODEV;
        _members.TryGetValue(p.Pid, out var m);
        if (m is not null && m.Key != p)
        {
            ExitedLocked(m);
            m = null;
        }
        var src = CgroupOfThreadLocked(p.Pid, tid);
        if (!mayWriteProcs(CommonAncestor(src, dst)))
            return Errno.EACCES;
        if (!ReferenceEquals(src.DomCgroup, dst.DomCgroup))
            return Errno.EOPNOTSUPP;
        var vet = VetDestinationLocked(dst);
        if (vet != Errno.Ok)
            return vet;
        if (ReferenceEquals(src, dst))
            return Errno.Ok;
        if (m is null)
        {
            m = new Member(p, Root);
            _members[p.Pid] = m;
            AddTaskLocked(Root, +1);
        }
        m.Threads ??= new Dictionary<int, Cgroup>();
        if (m.Threads.Remove(tid, out var old))
            AddTaskLocked(old, -1);
        if (!ReferenceEquals(dst, m.Cgroup))
        {
            m.Threads[tid] = dst;
            AddTaskLocked(dst, +1);
        }
        return Errno.Ok;
    }

    /// <summary>kernel: cgroup_migrate_vet_dst.</summary>
    private Errno VetDestinationLocked(Cgroup dst)
    {
        AssertLocked();
        if (!IsValidDomainLocked(dst.DomCgroup))
            return Errno.EOPNOTSUPP;
        if (dst.IsRoot)
            return Errno.Ok;
        if (CanBeThreadRootLocked(dst) || dst.Threaded)
            return Errno.Ok;
        return dst.SubtreeControl.IsEmpty ? Errno.Ok : Errno.EBUSY;
    }

    /// <summary>Walk up from the source until reaching the destination or one of its ancestors.</summary>
    public static Cgroup CommonAncestor(Cgroup src, Cgroup dst)
    {
        for (var g = src; g is not null; g = g.Parent)
            if (IsDescendantOrSelf(dst, g))
                return g;
        throw new InvalidOperationException("cgroups of different hierarchies");
    }

    /// <summary>A process was forked: it is born where the forking thread is (kernel: cgroup_post_fork).</summary>
    public void ForkLocked(int parentPid, int parentTid, ProcessKey child)
    {
        AssertLocked();
        if (_members.ContainsKey(child.Pid) || !_members.ContainsKey(parentPid))
            return;
        var where = CgroupOfThreadLocked(parentPid, parentTid);
        if (where.Removed || where.IsRoot)
            return;
        _members[child.Pid] = new Member(child, where);
        AddTaskLocked(where, +1);
        foreach (var ctrl in Controllers)
            ctrl.ForkLocked(parentPid, child.Pid, where);
    }

    /// <summary>A new thread starts where the thread that created it is.</summary>
    public void ThreadCreatedLocked(int pid, int creatorTid, int newTid)
    {
        AssertLocked();
        if (!_members.TryGetValue(pid, out var m) || m.Threads is null)
            return;
        if (m.Threads.TryGetValue(creatorTid, out var where) && !ReferenceEquals(where, m.Cgroup))
        {
            m.Threads[newTid] = where;
            AddTaskLocked(where, +1);
        }
    }

    public void ThreadExitLocked(int pid, int tid)
    {
        AssertLocked();
        if (_members.TryGetValue(pid, out var m) && m.Threads is not null && m.Threads.Remove(tid, out var g))
            AddTaskLocked(g, -1);
    }

    /// <summary>The process <paramref name="p"/> exited (or became a zombie, which the kernel counts
    /// as empty). A recorded process with the same pid but another start time is left alone.</summary>
    public void ExitLocked(ProcessKey p)
    {
        AssertLocked();
        if (_members.TryGetValue(p.Pid, out var m) && m.Key == p)
            ExitedLocked(m);
    }

    /// <summary>Whatever process holds <paramref name="pid"/> now exited: an exit event names the
    /// pid's current holder, which is the recorded one unless the pid was recycled since, and a
    /// recycled pid's recorded process is gone too.</summary>
    public void PidExitedLocked(int pid)
    {
        AssertLocked();
        if (_members.TryGetValue(pid, out var m))
            ExitedLocked(m);
    }

    /// <summary>The recorded process is gone (exit, zombie, or its pid was recycled).</summary>
    private void ExitedLocked(Member m)
    {
        AssertLocked();
        DropLocked(m);
        foreach (var ctrl in Controllers)
            ctrl.ExitLocked(m.Key.Pid);
    }

    /// <summary>Removes the process's placements (before it is placed again, or when it is gone).</summary>
    private void DropLocked(Member m)
    {
        AssertLocked();
        _members.Remove(m.Key.Pid);
        foreach (var g in m.Placements)
            AddTaskLocked(g, -1);
    }

    /// <summary>Adjusts a cgroup's own task count and propagates "populated" flips upward,
    /// notifying cgroup.events of every cgroup that flipped (kernel: cgroup_update_populated).</summary>
    private void AddTaskLocked(Cgroup c, int delta)
    {
        AssertLocked();
        bool was = c.Populated;
        c.OwnTasks += delta;
        if (was == c.Populated)
            return;
        bool now = c.Populated;
        for (var g = c; ;)
        {
            if (!g.IsRoot)
                NotifyLocked(g, Notifier.CgroupEvents);
            var p = g.Parent;
            if (p is null)
                break;
            bool parentWas = p.Populated;
            p.NrPopulatedChildren += now ? 1 : -1;
            if (parentWas == p.Populated)
                break;
            g = p;
        }
    }
}
