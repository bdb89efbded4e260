using System.Diagnostics;

namespace CgFs.Accounting;

/// <summary>What cgroup.type reads.</summary>
public enum CgroupType { Domain, DomainThreaded, DomainInvalid, Threaded }

/// <summary>A consistent copy of one cgroup's core values, taken under the engine lock so
/// renderers can format outside it.</summary>
public readonly record struct CoreSnapshot(
    ControllerMask Controllers,
    ControllerMask SubtreeControl,
    CgroupType Type,
    bool Populated,
    bool Frozen,
    bool FreezeSelf,
    int MaxDepth,
    int MaxDescendants,
    int NrDescendants,
    int NrDyingDescendants,
    (string Name, int Count)[] NrSubsys,
    (string Name, int Count)[] NrDyingSubsys,
    long FrozenUsec);

public sealed partial class Hierarchy
{
    /// <summary>cgroup.controllers (kernel: cgroup_control): all for the root; the parent's
    /// subtree_control for a domain; only its threaded controllers when threaded.</summary>
    public ControllerMask AvailableLocked(Cgroup c)
    {
        AssertLocked();
        if (c.IsRoot)
            return AllControllers;
        if (c.Threaded)
            return c.Parent!.SubtreeControl & ThreadedControllers;
        return c.Parent!.SubtreeControl;
    }

    /// <summary>cgroup.subtree_control write after parsing (kernel: cgroup_subtree_control_write).
    /// The first failing controller in subsystem order decides the errno; all or nothing.
    /// <paramref name="vet"/> replaces the engine's own no-internal-process and domain checks when
    /// those facts are the host kernel's (overlay mode), read by the caller before taking the lock.</summary>
    public Errno WriteSubtreeControlLocked(Cgroup c, ControllerMask enable, ControllerMask disable, Func<Cgroup, ControllerMask, Errno>? vet = null)
    {
        AssertLocked();
        if (c.Removed)
            return Errno.ENODEV;
        foreach (var ctrl in Controllers)
        {
            if (enable.Has(ctrl))
            {
                if (c.SubtreeControl.Has(ctrl))
                    enable &= ~ctrl.Mask;
                else if (!AvailableLocked(c).Has(ctrl))
                    return Errno.ENOENT;
            }
            else if (disable.Has(ctrl))
            {
                if (!c.SubtreeControl.Has(ctrl))
                    disable &= ~ctrl.Mask;
                else if (c.ChildrenByName.Values.Any(ch => ch.SubtreeControl.Has(ctrl)))
                    return Errno.EBUSY;
            }
        }
        if (enable.IsEmpty && disable.IsEmpty)
            return Errno.Ok;
        if (!c.IsRoot && (vet ?? VetEnableLocked)(c, enable) is var vetted && vetted != Errno.Ok)
            return vetted;
        c.SubtreeControl = (c.SubtreeControl | enable) & ~disable;
        foreach (var child in c.ChildrenByName.Values)
            foreach (var ctrl in Controllers)
            {
                if (enable.Has(ctrl) && child.States[ctrl.Id] is null)
                    child.States[ctrl.Id] = ctrl.NewStateLocked(child, c.State(ctrl));
                else if (disable.Has(ctrl) && child.States[ctrl.Id] is { } old)
                {
                    child.States[ctrl.Id] = null;
                    OfflineLocked(old);
                }
            }
        return Errno.Ok;
    }

    /// <summary>kernel: cgroup_vet_subtree_control_enable. Threaded controllers may be enabled
    /// anywhere; a domain controller only in a valid domain that is not a thread root and has no
    /// processes of its own (no internal processes).</summary>
    private Errno VetEnableLocked(Cgroup c, ControllerMask enable)
    {
        AssertLocked();
        if ((enable & ~ThreadedControllers).IsEmpty)
            return Errno.Ok;
        if (!IsValidDomainLocked(c.DomCgroup))
            return Errno.EOPNOTSUPP;
        if (IsThreadRootLocked(c) || c.Threaded)
            return Errno.EOPNOTSUPP;
        return c.OwnTasks > 0 ? Errno.EBUSY : Errno.Ok;
    }

    /// <summary>cgroup.type write of "threaded" (kernel: cgroup_enable_threaded), spec core.md 3.5.</summary>
    public Errno MakeThreadedLocked(Cgroup c)
    {
        AssertLocked();
        if (c.Threaded)
            return Errno.Ok;
        if (c.Removed)
            return Errno.ENOENT;
        if (c.Populated || !(c.SubtreeControl & ~ThreadedControllers).IsEmpty)
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
        AssertLocked();
        if (c.Threaded)
            return CgroupType.Threaded;
        if (!IsValidDomainLocked(c))
            return CgroupType.DomainInvalid;
        return IsThreadRootLocked(c) ? CgroupType.DomainThreaded : CgroupType.Domain;
    }

    /// <summary>kernel: cgroup_is_valid_domain. No ancestor below the root may be a thread root or threaded.</summary>
    internal bool IsValidDomainLocked(Cgroup c)
    {
        AssertLocked();
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

    /// <summary>kernel: cgroup_is_thread_root: threaded children, or own processes with threaded controllers enabled.</summary>
    internal bool IsThreadRootLocked(Cgroup c)
    {
        AssertLocked();
        return !c.Threaded && (c.NrThreadedChildren > 0 || c.OwnTasks > 0 && !(c.SubtreeControl & ThreadedControllers).IsEmpty);
    }

    /// <summary>kernel: cgroup_can_be_thread_root.</summary>
    internal bool CanBeThreadRootLocked(Cgroup c)
    {
        AssertLocked();
        if (c.IsRoot)
            return true;
        if (c.Threaded)
            return false;
        if (c.ChildrenByName.Values.Any(ch => ch.Populated && !ch.Threaded))
            return false;
        return (c.SubtreeControl & ~ThreadedControllers).IsEmpty;
    }

    public CoreSnapshot SnapshotLocked(Cgroup c)
    {
        AssertLocked();
        var nrSubsys = new int[Controllers.Count];
        var nrDyingSubsys = new int[Controllers.Count];
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
            nrDyingSubsys[s.Controller.Id]++;
            if (s.Cgroup.Removed && !ReferenceEquals(s.Cgroup, c))
                dyingCgroups.Add(s.Cgroup);
        }
        return new CoreSnapshot(
            AvailableLocked(c), c.SubtreeControl, c.IsRoot ? CgroupType.Domain : TypeLocked(c),
            c.Populated, c.Frozen, c.FreezeSelf, c.MaxDepth, c.MaxDescendants,
            c.NrDescendants, dyingCgroups.Count,
            Controllers.Select(x => (x.Name, nrSubsys[x.Id])).ToArray(),
            Controllers.Select(x => (x.Name, nrDyingSubsys[x.Id])).ToArray(),
            FrozenUsecLocked(c));
    }

    internal static bool IsDescendantOrSelf(Cgroup c, Cgroup ancestor)
    {
        for (var g = c; g is not null; g = g.Parent)
            if (ReferenceEquals(g, ancestor))
                return true;
        return false;
    }

    /// <summary>Online cgroups under and including <paramref name="c"/>; iterate under the lock.</summary>
    public IEnumerable<Cgroup> SelfAndDescendantsLocked(Cgroup c)
    {
        AssertLocked();
        return SelfAndDescendants(c);
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
    /// <summary>subtree_control, max.depth, max.descendants and freeze are read through <see cref="SettingsLocked"/>.</summary>
    public (bool Populated, bool Frozen) EventsLocked(Cgroup c)
    {
        AssertLocked();
        return (c.Populated, c.Frozen);
    }

    public long FrozenUsecLocked(Cgroup c)
    {
        AssertLocked();
        long ticks = c.FrozenTicks + (c.Frozen && !c.Removed ? Stopwatch.GetTimestamp() - c.FreezeStartTicks : 0);
        return ticks * 1_000_000 / Stopwatch.Frequency;
    }
}
