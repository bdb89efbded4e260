using CgFs.Accounting;
using CgFs.Host;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>
/// Joins host process facts (procfs) to the engine's membership table (spec core.md 8): pid
/// validation, "0 is the writer", liveness before every read that shows membership, fork
/// inference when the process-event connector is unavailable, and cgroup.kill.
/// </summary>
public sealed class Processes(Hierarchy engine, Action<string> log)
{
    /// <summary>True when the netlink connector reports forks; otherwise parents are inferred from procfs.</summary>
    public bool ForkEventsAvailable { get; set; }

    /// <summary>Drops recorded processes of <paramref name="scope"/>'s subtree (all when null) that
    /// exited or whose pid was reused — exit events are asynchronous, and a read or rmdir right
    /// after a process was reaped must already see it gone — and, without fork events, records
    /// children of recorded processes that appeared since.</summary>
    public void Refresh(Cgroup? scope = null)
    {
        engine.Run(() => { engine.PruneLocked(ProcFs.Alive, scope); return 0; });
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
            parent = ProcFs.ReadStat(parent)?.PPid ?? 0;
        }
    }

    public Rendered RenderProcs(Cgroup c)
    {
        Refresh(c);
        var (threaded, recorded, others) = engine.Run(() => (
            engine.TypeLocked(c) == CgroupType.Threaded && !c.IsRoot,
            engine.RecordedProcsLocked(c),
            c.IsRoot ? engine.MembersLocked().Select(m => m.Pid).ToHashSet() : null));
        if (threaded)
            return Errno.EOPNOTSUPP;
        if (others is not null)
            recorded.AddRange(ProcFs.Pids().Where(p => !others.Contains(p) && !ProcFs.IsZombie(p)));
        recorded.Sort();
        return CoreRender.Ids(recorded.Distinct());
    }

    public Rendered RenderThreads(Cgroup c)
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
            var inHere = engine.Run(() => threads.Where(t => ReferenceEquals(engine.CgroupOfThreadLocked(pid, t), c)).ToList());
            tids.AddRange(inHere);
        }
        tids.Sort();
        return CoreRender.Ids(tids);
    }

    /// <summary>cgroup.procs write (spec core.md 3.3) after the grammar.</summary>
    public Errno MigrateProcess(FileContext x, string text)
    {
        var p = CoreGrammar.Pid(text);
        if (!p.Ok)
            return p.Error;
        var target = Resolve(p.Value == 0 ? x.WriterTid : p.Value, writer: p.Value == 0);
        if (target.Error != Errno.Ok)
            return target.Error;
        if (target.Key is not { } key)
            return Errno.Ok; // a zombie: silently skipped
        EnsureRecorded(key.Pid);
        return State.StateJournal.Commit(x.Fs.Journal, () => State.StateJournal.MemberRecord(key, x.Cgroup),
            () => engine.Run(() => engine.MigrateProcessLocked(key, x.Cgroup, g => x.Fs.MayWriteProcs(g, x.Opener))));
    }

    /// <summary>cgroup.threads write (spec core.md 3.4): one thread; 0 is the writing thread.</summary>
    public Errno MigrateThread(FileContext x, string text)
    {
        var p = CoreGrammar.Pid(text);
        if (!p.Ok)
            return p.Error;
        int tid = p.Value == 0 ? x.WriterTid : p.Value;
        var target = Resolve(tid, writer: p.Value == 0);
        if (target.Error != Errno.Ok)
            return target.Error;
        if (target.Key is not { } key)
            return Errno.Ok;
        EnsureRecorded(key.Pid);
        return State.StateJournal.Commit(x.Fs.Journal, () => State.StateJournal.ThreadRecord(key, tid, x.Cgroup),
            () => engine.Run(() => engine.MigrateThreadLocked(key, tid, x.Cgroup, g => x.Fs.MayWriteProcs(g, x.Opener))));
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
}
