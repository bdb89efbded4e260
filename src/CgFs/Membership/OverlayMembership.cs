using CgFs.Accounting;
using CgFs.Host;

namespace CgFs.Membership;

/// <summary>
/// Membership in overlay mode: the kernel's. Processes are where /proc/PID/cgroup says; writes
/// to cgroup.procs and cgroup.threads move real processes (the daemon writes as root, so the
/// common-ancestor rule is checked here with the opener's credentials, and cgfs's controllers'
/// domain rule on the destination, which the kernel cannot know); fork placement, exits,
/// populated and cgroup.kill are the kernel's. The engine keeps records only for processes whose
/// charges depend on where they are — holders charging as a process, follow types — read from
/// procfs at charge time, after each move through the mount, and at every refresh.
/// </summary>
public sealed class OverlayMembership(Hierarchy engine, RealCgroups real, Func<string, Cgroup> resolve) : IMembership
{
    /// <summary>Where the kernel has <paramref name="pid"/> (or its thread), as a mirrored cgroup; null if it is gone.
    /// A process outside the mirrored subtree counts as in its root.</summary>
    private Cgroup? Where(int pid, int? tid = null)
    {
        if (ProcFs.ReadStat(pid) is null)
            return null;
        var path = real.CgroupOf(pid, tid);
        return path is null ? engine.Root : resolve(path);
    }

    /// <summary>Re-reads where each recorded process of <paramref name="scope"/> is (all when null);
    /// the dead are forgotten, moves made behind cgfs's back are observed (follow charges go along).</summary>
    public void Refresh(Cgroup? scope = null)
    {
        var candidates = engine.Run(() => scope is null ? engine.MembersLocked() : [.. engine.RecordedSubtreeLocked(scope)]);
        foreach (var key in candidates)
        {
            var where = ProcFs.Alive(key) ? Where(key.Pid) : null;
            engine.Run(() =>
            {
                if (where is null)
                    engine.ExitLocked(key);
                else
                    engine.ObservePlacementLocked(key, where);
                return 0;
            });
        }
    }

    public void EnsureRecorded(int pid)
    {
        if (ProcFs.Process(pid) is { } key && Where(pid) is { } where)
            engine.Run(() =>
            {
                engine.ObservePlacementLocked(key, where);
                return 0;
            });
    }

    public (Errno Error, List<int> Pids) Processes(Cgroup c)
    {
        var (e, text) = real.Read(FileOf(c, "cgroup.procs"));
        return (e, e != Errno.Ok ? [] : Ids(text));
    }

    public List<int> Threads(Cgroup c) => Ids(real.Read(FileOf(c, "cgroup.threads")).Text);

    private static List<int> Ids(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();

    private string FileOf(Cgroup c, string name) => real.PathOf(Tree.CgroupFileSystem.RealPathOf(c)) + "/" + name;

    /// <summary>cgroup.procs write: the permission rule and cgfs's domain rule, then the kernel moves
    /// the process (the engine's can_attach around it: follow charges move with it or veto it).
    /// A pid the kernel does not know is the kernel's to refuse (ESRCH).</summary>
    public Errno MoveProcess(int id, Cgroup dst, int writerTid, Func<Cgroup, bool> mayWriteProcs)
    {
        int pid = id == 0 ? ProcFs.Tgid(writerTid) ?? writerTid : id;
        var src = Where(pid);
        if (src is not null && !mayWriteProcs(Hierarchy.CommonAncestor(src, dst)))
            return Errno.EACCES;
        if (DomainBusy(dst))
            return Errno.EBUSY;
        string file = FileOf(dst, "cgroup.procs");
        if (ProcFs.Process(pid) is not { } key)
            return real.Write(file, pid.ToString());
        // A thread id names its whole process (kernel: threadgroup); the record is by process.
        var tgid = ProcFs.Tgid(pid) ?? pid;
        var leader = tgid == pid ? key : ProcFs.Process(tgid) ?? key;
        return engine.Run(() => engine.MigrateByKernelLocked(leader, dst, () => real.Write(file, pid.ToString())));
    }

    /// <summary>cgroup.threads write: one thread; cgfs's controllers are not threaded, so only the
    /// permission and domain rules are cgfs's, the rest (same resource domain, …) the kernel's.</summary>
    public Errno MoveThread(int id, Cgroup dst, int writerTid, Func<Cgroup, bool> mayWriteProcs)
    {
        int tid = id == 0 ? writerTid : id;
        int pid = ProcFs.Tgid(tid) ?? tid;
        var src = Where(pid, tid);
        if (src is not null && !mayWriteProcs(Hierarchy.CommonAncestor(src, dst)))
            return Errno.EACCES;
        if (DomainBusy(dst))
            return Errno.EBUSY;
        return real.Write(FileOf(dst, "cgroup.threads"), tid.ToString());
    }

    /// <summary>kernel: cgroup_migrate_vet_dst: a cgroup other than the root that enables a domain
    /// controller in its subtree takes no processes (no internal processes) — here, cgfs's.</summary>
    private bool DomainBusy(Cgroup dst) => !dst.IsRoot && engine.Run(() => !engine.SettingsLocked(dst).SubtreeControl.IsEmpty);

    public Errno Kill(Cgroup c) => real.Write(FileOf(c, "cgroup.kill"), "1");

    public void Forked(int parentPid, int parentTid, int childPid) { }
    public void ThreadCreated(int pid, int creatorTid, int tid) { }
    public void Cloning(int creatorPid, int creatorTid, int realParentPid) { }

    public void Exited(int pid) => engine.Run(() =>
    {
        engine.PidExitedLocked(pid);
        return 0;
    });

    public void ThreadExited(int pid, int tid) { }

    /// <summary>Placements are the kernel's: the journal holds none in overlay mode.</summary>
    public Errno RestoreProcess(ProcessKey process, Cgroup c) => Errno.Ok;

    public Errno RestoreThread(ProcessKey process, int tid, Cgroup c) => Errno.Ok;
}
