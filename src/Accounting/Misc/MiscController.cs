namespace CgFs.Accounting;

/// <summary>A successful misc charge, bound to the state it was charged to (a follow-type
/// charge is rebound when its process migrates).</summary>
public sealed class MiscCharge : Charge
{
    internal MiscCharge(MiscState state, MiscType type, ulong amount)
    {
        State = state;
        Type = type;
        Amount = amount;
    }

    public MiscState State { get; internal set; }
    public MiscType Type { get; }
    public ulong Amount { get; }

    protected override void ReleaseLocked() => ((MiscController)State.Controller).UnchargeLocked(this);
}

/// <summary>
/// The misc controller (kernel/cgroup/misc.c): resource types with capacities, limits,
/// try-charge with EBUSY/EINVAL, the level-by-level peak quirk, events attributed to the level
/// whose limit was hit. All methods require <see cref="Hierarchy.Sync"/>.
/// </summary>
public sealed partial class MiscController() : Controller("misc")
{
    /// <summary>misc.events: hierarchical max counters.</summary>
    public static readonly Notifier Events = new("misc.events");
    /// <summary>misc.events.local: counters of the level whose limit was hit.</summary>
    public static readonly Notifier EventsLocal = new("misc.events.local");

    public override IReadOnlyList<Notifier> Notifiers => [Events, EventsLocal];

    protected internal override ControllerState NewStateLocked(Cgroup cgroup, ControllerState? parent)
    {
        AssertLocked();
        return new MiscState(this, cgroup, parent);
    }

    /// <summary>The kernel's static types, in its order; capacity 0 until configured.</summary>
    public static readonly string[] KernelTypes = ["sev", "sev_es", "tdx"];

    private readonly List<MiscType> _types = KernelTypes.Select(n => new MiscType(n, 0, false)).ToList();

    public IReadOnlyList<MiscType> TypesLocked
    {
        get
        {
            AssertLocked();
            return _types;
        }
    }

    public MiscType? FindLocked(string name)
    {
        AssertLocked();
        return _types.FirstOrDefault(t => t.Name == name);
    }

    /// <summary>Sets a capacity; an unknown name registers a new type at the end (extension).</summary>
    public MiscType SetCapacityLocked(string name, ulong capacity, bool? follow = null)
    {
        AssertLocked();
        var t = FindLocked(name);
        if (t is null)
            _types.Add(t = new MiscType(name, capacity, follow ?? false));
        t.Capacity = capacity;
        if (follow is { } f)
            t.Follow = f;
        return t;
    }

    /// <summary>Removes a type (extension): refused with EBUSY while any state uses it.</summary>
    public Errno RemoveTypeLocked(MiscType t)
    {
        AssertLocked();
        if (!t.Registered)
            return Errno.EINVAL;
        if (AllStates().Any(s => s.Peek(t) is { Usage: > 0 }))
            return Errno.EBUSY;
        foreach (var s in AllStates())
            s.Values.Remove(t);
        t.Registered = false;
        _types.Remove(t);
        return Errno.Ok;
    }

    /// <summary>misc.max write after parsing (checks 5–6 of spec misc.md 3).</summary>
    public Errno SetMaxLocked(MiscState s, MiscType t, ulong max)
    {
        AssertLocked();
        if (t.Capacity == 0)
            return Errno.EINVAL;
        s.Of(t).Max = max;
        return Errno.Ok;
    }

    /// <summary>kernel: misc_cg_try_charge. Peaks rise level by level before the levels above are
    /// checked (the peak quirk); the failing level is the lowest over its max or the capacity.</summary>
    public Errno TryChargeLocked(MiscState c, MiscType t, ulong amount, out MiscCharge? charge)
    {
        AssertLocked();
        charge = null;
        if (!t.Registered || t.Capacity == 0)
            return Errno.EINVAL;
        if (amount == 0)
            return Errno.Ok;
        for (ControllerState? level = c; level is not null; level = level.Parent)
        {
            var v = ((MiscState)level).Of(t);
            ulong next = v.Usage + amount;
            bool overflow = next < v.Usage;
            if (overflow || next > v.Max || next > t.Capacity)
            {
                RecordFailureLocked((MiscState)level, t);
                for (ControllerState? undo = c; !ReferenceEquals(undo, level); undo = undo!.Parent)
                    ((MiscState)undo!).Of(t).Usage -= amount;
                return Errno.EBUSY;
            }
            v.Usage = next;
            v.Peak = Math.Max(v.Peak, next);
        }
        charge = new MiscCharge(c, t, amount);
        return Errno.Ok;
    }

    /// <summary>kernel: misc_cg_uncharge. Never fails, never goes below zero. A follow charge stops following.</summary>
    internal void UnchargeLocked(MiscCharge charge)
    {
        AssertLocked();
        StopFollowingLocked(charge);
        UnchargeUnitsLocked(charge.State, charge.Type, charge.Amount);
    }

    private void UnchargeUnitsLocked(MiscState from, MiscType t, ulong amount)
    {
        AssertLocked();
        for (ControllerState? level = from; level is not null; level = level.Parent)
        {
            var v = ((MiscState)level).Of(t);
            v.Usage = v.Usage >= amount ? v.Usage - amount : 0;
            Hierarchy.ReleaseIfDeadLocked(level);
        }
    }

    /// <summary>Shell shortcut (documented extension): signed delta to misc.current.</summary>
    public Errno ApplyShortcutLocked(MiscState s, MiscType t, bool negative, ulong amount)
    {
        AssertLocked();
        if (!negative)
        {
            var e = TryChargeLocked(s, t, amount, out var charge);
            if (e == Errno.Ok && charge is not null)
                s.Of(t).ShortcutHeld += amount;
            return e;
        }
        var v = s.Peek(t);
        if (amount == 0)
            return Errno.Ok;
        if (v is null || v.ShortcutHeld < amount)
            return Errno.EINVAL;
        v.ShortcutHeld -= amount;
        UnchargeUnitsLocked(s, t, amount);
        return Errno.Ok;
    }

    /// <summary>Events (spec misc.md 4.3): local at the failing level; hierarchical there and
    /// above, never at the root, which has no events file.</summary>
    private void RecordFailureLocked(MiscState at, MiscType t)
    {
        AssertLocked();
        if (at.Cgroup.IsRoot)
            return;
        at.Of(t).EventsLocal++;
        Hierarchy.NotifyLocked(at.Cgroup, EventsLocal);
        for (ControllerState? l = at; l is { Cgroup.IsRoot: false }; l = l.Parent)
        {
            ((MiscState)l).Of(t).Events++;
            Hierarchy.NotifyLocked(l.Cgroup, Events);
        }
    }

    public MiscRow[] RowsLocked(MiscState s) => _types.Select(t =>
    {
        AssertLocked();
        var v = s.Peek(t);
        return new MiscRow(t.Name, t.Capacity, v?.Max ?? ulong.MaxValue, v?.Usage ?? 0, v?.Peak ?? 0,
            v?.Events ?? 0, v?.EventsLocal ?? 0);
    }).ToArray();

    private IEnumerable<MiscState> AllStates() => Hierarchy.AllStatesLocked().OfType<MiscState>();

    /// <summary>What a restart must restore of one state: configured limits and shortcut holdings per type.</summary>
    public List<MiscConfig> ConfigLocked(MiscState s)
    {
        AssertLocked();
        return _types.Where(s.Values.ContainsKey).Select(t => new MiscConfig(t.Name, s.Values[t].Max, s.Values[t].ShortcutHeld)).ToList();
    }
}

/// <summary>Configured misc limit of one (state, type) and what the shortcut charged there.</summary>
public readonly record struct MiscConfig(string Type, ulong Max, ulong Held);
