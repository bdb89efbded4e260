using CgFs.Accounting;

namespace CgFs.Membership;

/// <summary>
/// The one owner of membership: which cgroup each process and thread is in. Every change goes
/// through here — writes to cgroup.procs and cgroup.threads, fork and exit events, liveness
/// scans, restore from the journal — and host facts (procfs) are read here, never under the
/// engine lock. cgfs's own implementation records placements in the engine
/// (<see cref="RecordedMembership"/>); a host's real cgroup v2 can stand behind the same interface.
/// </summary>
public interface IMembership
{
    /// <summary>Forgets processes of <paramref name="scope"/>'s subtree (all when null) that exited or
    /// whose pid was reused, and places processes born since when fork events are not available.</summary>
    void Refresh(Cgroup? scope = null);

    /// <summary>Makes sure a process about to charge is placed where the kernel would have it.</summary>
    void EnsureRecorded(int pid);

    /// <summary>cgroup.procs of <paramref name="c"/>, sorted: EOPNOTSUPP in a threaded cgroup.</summary>
    (Errno Error, List<int> Pids) Processes(Cgroup c);

    /// <summary>cgroup.threads of <paramref name="c"/>, sorted.</summary>
    List<int> Threads(Cgroup c);

    /// <summary>cgroup.procs write (spec core.md 3.3): the process of <paramref name="id"/> (0: the
    /// writer, <paramref name="writerTid"/>) moves to <paramref name="dst"/>.</summary>
    Errno MoveProcess(int id, Cgroup dst, int writerTid, Func<Cgroup, bool> mayWriteProcs);

    /// <summary>cgroup.threads write (spec core.md 3.4): one thread moves.</summary>
    Errno MoveThread(int tid, Cgroup dst, int writerTid, Func<Cgroup, bool> mayWriteProcs);

    /// <summary>cgroup.kill: SIGKILL to every process of the subtree.</summary>
    Errno Kill(Cgroup c);

    /// <summary>A fork event: <paramref name="childPid"/> was born to thread <paramref name="parentTid"/> of <paramref name="parentPid"/>.</summary>
    void Forked(int parentPid, int parentTid, int childPid);

    void ThreadCreated(int pid, int creatorTid, int tid);

    /// <summary>Thread <paramref name="creatorTid"/> of <paramref name="creatorPid"/> is about to clone with
    /// CLONE_PARENT: the next child whose fork event names <paramref name="realParentPid"/> as parent is
    /// born where the creator is (kernel: cgroup_post_fork uses the caller's css_set, not the parent's).</summary>
    void Cloning(int creatorPid, int creatorTid, int realParentPid);

    /// <summary>An exit event of the process holding <paramref name="pid"/>.</summary>
    void Exited(int pid);

    void ThreadExited(int pid, int tid);

    /// <summary>Restores a journaled placement if that very process (pid and start time) is still alive.</summary>
    Errno RestoreProcess(ProcessKey process, Cgroup c);

    Errno RestoreThread(ProcessKey process, int tid, Cgroup c);
}
