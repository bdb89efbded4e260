namespace CgFs.Accounting;

/// <summary>
/// Overlay mode (the host's real cgroup v2 with cgfs's controllers added): membership is the
/// kernel's. The engine then decides no placement of its own; it keeps records only for
/// processes whose charges depend on where they are, and learns placements from the host.
/// </summary>
public sealed partial class Hierarchy
{
    /// <summary>A migration the kernel performs (a cgroup.procs write through an overlay mount):
    /// the controllers' can_attach first (follow charges may veto), then <paramref name="kernelMove"/>,
    /// then attach — or cancel_attach when the kernel refused. The kernel's write happens under the
    /// engine lock on purpose: the kernel holds cgroup_mutex over the same span (can_attach, the
    /// move, attach), and no other engine change may slip in between the veto and the commit.</summary>
    public Errno MigrateByKernelLocked(ProcessKey p, Cgroup dst, Func<Errno> kernelMove)
    {
        AssertLocked();
        if (dst.Removed)
            return Errno.ENODEV;
        var veto = CanAttachLocked(p.Pid, dst);
        if (veto != Errno.Ok)
            return veto;
        var e = kernelMove();
        if (e != Errno.Ok)
        {
            for (int j = Controllers.Count - 1; j >= 0; j--)
                Controllers[j].CancelAttachLocked(p.Pid, dst);
            return e;
        }
        PlaceLocked(p, dst);
        foreach (var ctrl in Controllers)
            ctrl.AttachLocked(p.Pid, dst);
        return Errno.Ok;
    }

    /// <summary>A placement seen after the fact (a move made behind cgfs's back, read from
    /// /proc/PID/cgroup): nothing can be refused any more, so what follows the process moves
    /// unconditionally (<see cref="Controller.ObservedAttachLocked"/>).</summary>
    public void ObservePlacementLocked(ProcessKey p, Cgroup where)
    {
        AssertLocked();
        _members.TryGetValue(p.Pid, out var m);
        if (m is not null && m.Key != p)
        {
            ExitedLocked(m);
            m = null;
        }
        if (ReferenceEquals(m?.Cgroup ?? Root, where) && m?.Threads is null)
            return;
        PlaceLocked(p, where);
        foreach (var ctrl in Controllers)
            ctrl.ObservedAttachLocked(p.Pid, where);
    }

    /// <summary>The kernel removed <paramref name="c"/> (it was empty there): records still placed in
    /// its subtree are stale, and are observed in its parent until procfs says where they are.</summary>
    public void EvacuateLocked(Cgroup c)
    {
        AssertLocked();
        foreach (var key in RecordedSubtreeLocked(c))
            ObservePlacementLocked(key, c.Parent ?? Root);
    }

    /// <summary>Records <paramref name="p"/> wholly in <paramref name="dst"/> (the root is not recorded).</summary>
    private void PlaceLocked(ProcessKey p, Cgroup dst)
    {
        AssertLocked();
        if (_members.TryGetValue(p.Pid, out var m))
            DropLocked(m);
        if (dst.IsRoot)
            return;
        _members[p.Pid] = new Member(p, dst);
        AddTaskLocked(dst, +1);
    }
}
