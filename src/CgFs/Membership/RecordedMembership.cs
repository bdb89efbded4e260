using CgFs.Accounting;
using CgFs.Host;
using CgFs.Parsing;

namespace CgFs.Membership;

/// <summary>
/// Membership recorded by cgfs (spec core.md 8): cgfs cannot move real processes, so the
/// engine's table records where each one "is", and this service joins it to host facts from
/// procfs: pid validation, "0 is the writer", liveness before every read that shows membership,
/// fork inference when the process-event connector is unavailable, and cgroup.kill. procfs is
/// always read outside the engine lock. Moves are journaled through <paramref name="changes"/>.
/// </summary>
public sealed class RecordedMembership(Hierarchy engine, IChangeLog changes, Action<string> log) : IMembership
{
    /// <summary>True when the netlink connector reports forks; otherwise parents are inferred from procfs.</summary>
    public bool ForkEventsAvailable { get; set; }

    /// <summary>Drops recorded processes of <paramref name="scope"/>'s subtree (all when null) that
    /// exited or whose pid was reused — exit events are asynchronous, and a read or rmdir right
    /// after a process was reaped must already see it gone — and, without fork events, records
    /// children of recorded processes that appeared since.</summary>
    public void Refresh(Cgroup? scope = null)
    {
        var candidates = engine.Run(() => scope is null ? engine.MembersLocked() : [.. engine.RecordedSubtreeLocked(scope)]);
        var gone = candidates.Where(k => !ProcFs.Alive(k)).ToArray();
        if (gone.Length > 0)
            engine.Run(() =>
            {
                foreach (var k in gone)
                    engine.ExitLocked(k);
                return 0;
            });
        if (!ForkEventsAvailable)
            InferChildren();
    }

    /// <summary>One inference pass over every host process, e.g. after restoring membership.</summary>
    public void InferAllChildren() => InferChildren();

    /// <summary>A newly seen process is born where its nearest recorded ancestor is (parent-chain inference).</summary>
    private void InferChildren()
    {
        var members = engine.Run(() => engine.MembersLocked()).ToDictionary(k => k.Pid);
        if (members.Count == 0)
            return;
        foreach (int pid in ProcFs.Pids())
            if (!members.ContainsKey(pid))
                PlaceByAncestry(pid, members);
    }

    /// <summary>Makes sure a process that is about to charge or move is recorded where the kernel
    /// would have it: a child of a recorded process whose fork event has not arrived yet is placed
    /// by its parent chain (the connector is asynchronous; the charge must not land in the root).</summary>
    public void EnsureRecorded(int pid)
    {
        if (!engine.Run(() => engine.IsMemberLocked(pid)))
            PlaceByAncestry(pid, engine.Run(() => engine.MembersLocked()).ToDictionary(k => k.Pid));
    }

    /// <summary>Walks the parent chain of a live, unrecorded process to the nearest recorded ancestor
    /// that started before it, and records the process where that ancestor is.</summary>
    private void PlaceByAncestry(int pid, Dictionary<int, ProcessKey> members)
    {
        if (ProcFs.ReadStat(pid) is not { } stat || stat.State is 'Z' or 'X')
            return;
        int parent = stat.PPid;
        for (int hops = 0; parent > 1 && hops < 64; hops++)
        {
            if (members.TryGetValue(parent, out var pk) && pk.StartTime <= stat.StartTime)
            {
                int p = parent;
                engine.Run(() => { engine.ForkLocked(p, p, new ProcessKey(pid, stat.StartTime)); return 0; });
                return;
            }
            var ps = ProcFs.ReadStat(parent);
            // An unrecorded ancestor whose own fork event was handled is in the root for certain, and
            // so is what it forks: an ancestor further up may have moved only after forking it.
            if (ps is { } known && ForkSeen(new ProcessKey(parent, known.StartTime)))
                return;
            parent = ps?.PPid ?? 0;
        }
    }

    public (Errno Error, List<int> Pids) Processes(Cgroup c)
    {
        Refresh(c);
        var (threaded, recorded, others) = engine.Run(() => (
            engine.TypeLocked(c) == CgroupType.Threaded && !c.IsRoot,
            engine.RecordedProcsLocked(c),
            c.IsRoot ? engine.MembersLocked().Select(m => m.Pid).ToHashSet() : null));
        if (threaded)
            return (Errno.EOPNOTSUPP, []);
        if (others is not null)
            recorded.AddRange(ProcFs.Pids().Where(p => !others.Contains(p) && !ProcFs.IsZombie(p)));
        recorded.Sort();
        return (Errno.Ok, recorded.Distinct().ToList());
    }

    public List<int> Threads(Cgroup c)
    {
        Refresh(c);
        var (candidates, members) = engine.Run(() => (
            engine.RecordedProcsWithThreadsInLocked(c),
            c.IsRoot ? engine.MembersLocked().Select(m => m.Pid).ToHashSet() : null));
        if (members is not null)
            candidates.AddRange(ProcFs.Pids().Where(p => !members.Contains(p) && !ProcFs.IsZombie(p)));
        var tids = new List<int>();
        foreach (int pid in candidates.Distinct())
        {
            var threads = ProcFs.Threads(pid);
            tids.AddRange(engine.Run(() => threads.Where(t => ReferenceEquals(engine.CgroupOfThreadLocked(pid, t), c)).ToList()));
        }
        tids.Sort();
        return tids;
    }

    public Errno MoveProcess(int id, Cgroup dst, int writerTid, Func<Cgroup, bool> mayWriteProcs)
    {
        var target = Resolve(id == 0 ? writerTid : id, writer: id == 0);
        if (target.Error != Errno.Ok)
            return target.Error;
        if (target.Key is not { } key)
            return Errno.Ok; // a zombie: silently skipped
        EnsureRecorded(key.Pid);
        return changes.Commit(() => new MemberRecord(key.Pid, key.StartTime, dst.Id),
            () => engine.Run(() => engine.MigrateProcessLocked(key, dst, mayWriteProcs)));
    }

    public Errno MoveThread(int id, Cgroup dst, int writerTid, Func<Cgroup, bool> mayWriteProcs)
    {
        int tid = id == 0 ? writerTid : id;
        var target = Resolve(tid, writer: id == 0);
        if (target.Error != Errno.Ok)
            return target.Error;
        if (target.Key is not { } key)
            return Errno.Ok;
        EnsureRecorded(key.Pid);
        return changes.Commit(() => new ThreadRecord(key.Pid, key.StartTime, tid, dst.Id),
            () => engine.Run(() => engine.MigrateThreadLocked(key, tid, dst, mayWriteProcs)));
    }

    /// <summary>Thread or process id → the live process: ESRCH if absent, EINVAL for pinned kernel
    /// threads, no key (success, nothing to do) for a zombie.</summary>
    private (Errno Error, ProcessKey? Key) Resolve(int id, bool writer)
    {
        if (id <= 0)
            return (Errno.ESRCH, null); // a caller in another pid namespace shows as 0
        if (ProcFs.Tgid(id) is not { } tgid)
            return (Errno.ESRCH, null);
        if (!writer && ProcFs.IsPinnedKernelThread(tgid))
            return (Errno.EINVAL, null);
        if (ProcFs.Process(tgid) is not { } key)
            return (Errno.Ok, null);
        return (Errno.Ok, key);
    }

    /// <summary>cgroup.kill: SIGKILL to every recorded process of the subtree. Exits then arrive as
    /// events (or are found by the next refresh) and "populated" drops.</summary>
    public Errno Kill(Cgroup c)
    {
        var (threaded, victims) = engine.Run(() => (engine.TypeLocked(c) == CgroupType.Threaded, engine.RecordedSubtreeLocked(c)));
        if (threaded)
            return Errno.EOPNOTSUPP;
        foreach (var v in victims)
        {
            if (ProcFs.Alive(v) && Interop.Sys.Kill(v.Pid, Interop.Sys.SIGKILL) != 0)
                log($"cgroup.kill: kill {v.Pid} failed");
        }
        return Errno.Ok;
    }

    // ---- events (the process-event connector's thread) ------------------------------------------

    public void Forked(int parentPid, int parentTid, int childPid)
    {
        if (ProcFs.ReadStat(childPid) is not { } stat)
            return; // already gone: nothing to record
        var child = new ProcessKey(childPid, stat.StartTime);
        if (TakeCreator(parentPid) is { } creator)
            (parentPid, parentTid) = creator;
        engine.Run(() => { engine.ForkLocked(parentPid, parentTid, child); return 0; });
        RememberFork(child);
    }

    /// <summary>Children whose fork event was handled, the most recent <see cref="ForkWindow"/>: an
    /// unrecorded one among them was born where its fork put it, whatever its ancestors did later.</summary>
    private readonly HashSet<ProcessKey> _forksSeen = new();
    private readonly Queue<ProcessKey> _forksSeenOrder = new();
    private const int ForkWindow = 4096;

    private void RememberFork(ProcessKey child)
    {
        lock (_forksSeen)
        {
            if (!_forksSeen.Add(child))
                return;
            _forksSeenOrder.Enqueue(child);
            if (_forksSeenOrder.Count > ForkWindow)
                _forksSeen.Remove(_forksSeenOrder.Dequeue());
        }
    }

    private bool ForkSeen(ProcessKey p)
    {
        lock (_forksSeen)
            return _forksSeen.Contains(p);
    }

    /// <summary>Announced CLONE_PARENT clones, per real parent, oldest first; each stands for one fork
    /// event and is dropped after a few seconds if none came (the clone failed).</summary>
    private readonly Dictionary<int, Queue<(int Pid, int Tid, long At)>> _cloning = new();

    public void Cloning(int creatorPid, int creatorTid, int realParentPid)
    {
        lock (_cloning)
        {
            long now = Environment.TickCount64;
            foreach (var (parent, stale) in _cloning.Where(kv => kv.Value.All(c => now - c.At >= 5_000)).ToArray())
                _cloning.Remove(parent); // clones that failed: no fork event will come
            if (!_cloning.TryGetValue(realParentPid, out var q))
                _cloning[realParentPid] = q = new Queue<(int, int, long)>();
            q.Enqueue((creatorPid, creatorTid, now));
        }
    }

    private (int Pid, int Tid)? TakeCreator(int realParentPid)
    {
        lock (_cloning)
        {
            if (!_cloning.TryGetValue(realParentPid, out var q))
                return null;
            while (q.TryDequeue(out var c))
            {
                if (q.Count == 0)
                    _cloning.Remove(realParentPid);
                if (Environment.TickCount64 - c.At < 5_000)
                    return (c.Pid, c.Tid);
            }
            return null;
        }
    }

    public void ThreadCreated(int pid, int creatorTid, int tid) =>
        engine.Run(() => { engine.ThreadCreatedLocked(pid, creatorTid, tid); return 0; });

    public void Exited(int pid) => engine.Run(() => { engine.PidExitedLocked(pid); return 0; });

    public void ThreadExited(int pid, int tid) => engine.Run(() => { engine.ThreadExitLocked(pid, tid); return 0; });

    // ---- restore (the journal's replay) --------------------------------------------------------------

    public Errno RestoreProcess(ProcessKey process, Cgroup c) =>
        !ProcFs.Alive(process) ? Errno.Ok // gone while we were down: nothing to restore
        : engine.Run(() => engine.MigrateProcessLocked(process, c, _ => true));

    public Errno RestoreThread(ProcessKey process, int tid, Cgroup c) =>
        !ProcFs.Alive(process) ? Errno.Ok
        : engine.Run(() => engine.MigrateThreadLocked(process, tid, c, _ => true));
}
