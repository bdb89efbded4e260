using System.Diagnostics;

namespace CgFs.Accounting;

/// <summary>What cgroup.type reads.</summary>
public enum CgroupType { Domain, DomainThreaded, DomainInvalid, Threaded }

/// <summary>A consistent copy of one cgroup's core values, taken under the engine lock so
/// renderers can format outside it.</summary>
public readonly record struct CoreSnapshot(
    Controllers Controllers,
    Controllers SubtreeControl,
    CgroupType Type,
    bool Populated,
    bool Frozen,
    bool FreezeSelf,
    int MaxDepth,
    int MaxDescendants,
    int NrDescendants,
    int NrDyingDescendants,
    int[] NrSubsys,
    int[] NrDyingSubsys,
    long FrozenUsec);

public sealed partial class Hierarchy
{
    /// <summary>cgroup.controllers (kernel: cgroup_control): all for the root; the parent's
    /// subtree_control for a domain; only threaded controllers (none of ours) when threaded.</summary>
    public Controllers AvailableLocked(Cgroup c)
    {
        if (c.IsRoot)
            return Controllers.All;
        if (c.Threaded)
            return Controllers.None;
        return c.Parent!.SubtreeControl;
    }

    /// <summary>cgroup.subtree_control write after parsing (kernel: cgroup_subtree_control_write).
    /// The first failing controller in subsystem order decides the errno; all or nothing.</summary>
    public Errno WriteSubtreeControlLocked(Cgroup c, Controllers enable, Controllers disable)
    {
        if (c.Removed)
            return Errno.ENODEV;
        foreach (var ctrl in ControllerNames.Ordered)
        {
            if ((enable & ctrl) != 0)
            {
                if ((c.SubtreeControl & ctrl) != 0)
                    enable &= ~ctrl;
                else if ((AvailableLocked(c) & ctrl) == 0)
                    return Errno.ENOENT;
            }
            else if ((disable & ctrl) != 0)
            {
                if ((c.SubtreeControl & ctrl) == 0)
                    disable &= ~ctrl;
                else if (c.ChildrenByName.Values.Any(ch => (ch.SubtreeControl & ctrl) != 0))
                    return Errno.EBUSY;
            }
        }
        if (enable == Controllers.None && disable == Controllers.None)
            return Errno.Ok;
        if (enable != Controllers.None && !c.IsRoot)
        {
            // cgroup_vet_subtree_control_enable: rdma and misc are both domain controllers.
            if (!IsValidDomainLocked(c.DomCgroup))
                return Errno.EOPNOTSUPP;
            if (IsThreadRootLocked(c) || c.Threaded)
                return Errno.EOPNOTSUPP;
            if (c.OwnTasks > 0)
                return Errno.EBUSY;
        }

        c.SubtreeControl = (c.SubtreeControl | enable) & ~disable;
        foreach (var child in c.ChildrenByName.Values)
        {
            foreach (var ctrl in ControllerNames.Ordered)
            {
                int i = Cgroup.Index(ctrl);
                if ((enable & ctrl) != 0 && child.States[i] is null)
                    child.States[i] = NewState(ctrl, child, c.State(ctrl));
                else if ((disable & ctrl) != 0 && child.States[i] is { } old)
                {
                    child.States[i] = null;
                    OfflineLocked(old);
                }
            }
        }
        return Errno.Ok;
    }

    /// <summary>cgroup.type write of "threaded" (kernel: cgroup_enable_threaded), spec core.md 3.5.</summary>
    public Errno MakeThreadedLocked(Cgroup c)
    {
        if (c.Threaded)
            return Errno.Ok;
        if (c.Removed)
            return Errno.ENOENT;
        if (c.Populated || c.SubtreeControl != Controllers.None)
            return Errno.EOPNOTSUPP;
        var dom = c.Parent!.DomCgroup;
        if (!IsValidDomainLocked(dom) || !CanBeThreadRootLocked(dom))
            return Errno.EOPNOTSUPP;
        foreach (var d in SelfAndDescendants(c))
            if (ReferenceEquals(d, c) || d.Threaded)
                d.DomCgroup = dom;
        c.Parent.NrThreadedChildren++;
        return Errno.Ok;
    }

    public CgroupType TypeLocked(Cgroup c)
    {
        if (c.Threaded)
            return CgroupType.Threaded;
        if (!IsValidDomainLocked(c))
            return CgroupType.DomainInvalid;
        return IsThreadRootLocked(c) ? CgroupType.DomainThreaded : CgroupType.Domain;
    }

    /// <summary>kernel: cgroup_is_valid_domain. No ancestor below the root may be a thread root or threaded.</summary>
    internal bool IsValidDomainLocked(Cgroup c)
    {
        if (c.Threaded)
            return false;
        for (var p = c.Parent; p is not null; p = p.Parent)
        {
            if (!p.IsRoot && IsThreadRootLocked(p))
                return false;
            if (p.Threaded)
                return false;
        }
        return true;
    }

    /// <summary>kernel: cgroup_is_thread_root. We have no threaded controllers, so only threaded children count.</summary>
    internal static bool IsThreadRootLocked(Cgroup c) => !c.Threaded && c.NrThreadedChildren > 0;

    /// <summary>kernel: cgroup_can_be_thread_root.</summary>
    internal static bool CanBeThreadRootLocked(Cgroup c)
    {
        if (c.IsRoot)
            return true;
        if (c.Threaded)
            return false;
        if (c.ChildrenByName.Values.Any(ch => ch.Populated && !ch.Threaded))
            return false;
        return c.SubtreeControl == Controllers.None;
    }

    public CoreSnapshot SnapshotLocked(Cgroup c)
    {
        var nrSubsys = new int[ControllerNames.Ordered.Length];
        var nrDyingSubsys = new int[ControllerNames.Ordered.Length];
        foreach (var d in SelfAndDescendants(c))
            for (int i = 0; i < nrSubsys.Length; i++)
                if (d.States[i] is not null)
                    nrSubsys[i]++;
        for (int i = 0; i < nrSubsys.Length; i++)
            if (c.States[i] is null)
                nrSubsys[i] = 0;
        var dyingCgroups = new HashSet<Cgroup>();
        foreach (var s in _offlineStates)
        {
            if (!IsDescendantOrSelf(s.Cgroup, c))
                continue;
            nrDyingSubsys[Cgroup.Index(s.Controller)]++;
            if (s.Cgroup.Removed && !ReferenceEquals(s.Cgroup, c))
                dyingCgroups.Add(s.Cgroup);
        }
        long frozenTicks = c.FrozenTicks + (c.Frozen && !c.Removed ? Stopwatch.GetTimestamp() - c.FreezeStartTicks : 0);
        return new CoreSnapshot(
            AvailableLocked(c), c.SubtreeControl, c.IsRoot ? CgroupType.Domain : TypeLocked(c),
            c.Populated, c.Frozen, c.FreezeSelf, c.MaxDepth, c.MaxDescendants,
            c.NrDescendants, dyingCgroups.Count, nrSubsys, nrDyingSubsys,
            frozenTicks * 1_000_000 / Stopwatch.Frequency);
    }

    internal static bool IsDescendantOrSelf(Cgroup c, Cgroup ancestor)
    {
        for (var g = c; g is not null; g = g.Parent)
            if (ReferenceEquals(g, ancestor))
                return true;
        return false;
    }

    internal static IEnumerable<Cgroup> SelfAndDescendants(Cgroup c)
    {
        var stack = new Stack<Cgroup>();
        stack.Push(c);
        while (stack.Count > 0)
        {
            var g = stack.Pop();
            yield return g;
            foreach (var child in g.ChildrenByName.Values)
                stack.Push(child);
        }
    }
}

public sealed partial class Hierarchy
{
    public Controllers SubtreeControlLocked(Cgroup c) => c.SubtreeControl;
    public int MaxDepthLocked(Cgroup c) => c.MaxDepth;
    public int MaxDescendantsLocked(Cgroup c) => c.MaxDescendants;
    public bool FreezeSelfLocked(Cgroup c) => c.FreezeSelf;
    public (bool Populated, bool Frozen) EventsLocked(Cgroup c) => (c.Populated, c.Frozen);

    public long FrozenUsecLocked(Cgroup c)
    {
        long ticks = c.FrozenTicks + (c.Frozen && !c.Removed ? Stopwatch.GetTimestamp() - c.FreezeStartTicks : 0);
        return ticks * 1_000_000 / Stopwatch.Frequency;
    }
}
