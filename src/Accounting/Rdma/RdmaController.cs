namespace CgFs.Accounting;

/// <summary>A successful rdma charge. It remembers the state it was charged to, so it is always
/// uncharged from there (spec rdma.md 5.2), wherever the process went since.</summary>
public sealed class RdmaCharge : Charge
{
    internal RdmaCharge(RdmaState state, RdmaDevice device, RdmaResource resource, int amount)
    {
        State = state;
        Device = device;
        Resource = resource;
        Amount = amount;
    }

    public RdmaState State { get; }
    public RdmaDevice Device { get; }
    public RdmaResource Resource { get; }
    public int Amount { get; }

    protected override void ReleaseLocked() => ((RdmaController)State.Controller).UnchargeUnitsLocked(this);
}

/// <summary>
/// The rdma controller (kernel/cgroup/rdma.c, 7.2): the device registry, limits, the
/// hierarchical try-charge with rollback, uncharge, peaks and the four event counters.
/// All methods require <see cref="Hierarchy.Sync"/>.
/// </summary>
public sealed class RdmaController() : Controller("rdma")
{
    /// <summary>rdma.events: hierarchical max and alloc_fail counters.</summary>
    public static readonly Notifier Events = new("rdma.events");
    /// <summary>rdma.events.local: counters of this level only.</summary>
    public static readonly Notifier EventsLocal = new("rdma.events.local");

    private readonly List<RdmaDevice> _devices = new();

    public override IReadOnlyList<Notifier> Notifiers => [Events, EventsLocal];

    protected internal override ControllerState NewStateLocked(Cgroup cgroup, ControllerState? parent)
    {
        AssertLocked();
        return new RdmaState(this, cgroup, parent);
    }

    /// <summary>Charges <paramref name="count"/> objects as process <paramref name="pid"/> would (spec
    /// rdma.md 5.1): to the effective state of its cgroup now, one at a time, all or nothing.</summary>
    public Errno ChargeAsProcessLocked(int pid, RdmaDevice device, RdmaResource resource, int count, out RdmaCharge? charge)
    {
        AssertLocked();
        return TryChargeUnitsLocked((RdmaState)Hierarchy.EffectiveStateLocked(Hierarchy.CgroupOfLocked(pid), this), device, resource, count, out charge);
    }

    /// <summary>Registered devices in registration order.</summary>
    public IReadOnlyList<RdmaDevice> DevicesLocked
    {
        get
        {
            AssertLocked();
            return _devices;
        }
    }

    /// <summary>A write naming a device selects the first registered one with that name.</summary>
    public RdmaDevice? FindLocked(string name)
    {
        AssertLocked();
        return _devices.FirstOrDefault(d => d.Name == name);
    }

    public RdmaDevice RegisterLocked(string name, IReadOnlyList<string>? extraResources = null)
    {
        AssertLocked();
        if (extraResources is { Count: > RdmaDevice.MaxResources - 2 })
            throw new ArgumentException($"at most {RdmaDevice.MaxResources} resources per device", nameof(extraResources));
        var d = new RdmaDevice(name, extraResources);
        _devices.Add(d);
        return d;
    }

    /// <summary>Renames a registered device (kernel: ib_device_rename): its pools are keyed by the
    /// device, not the name, so limits, usage, peaks, event counters and charges stay with it and
    /// its line keeps its place; writes must use the new name. A name another registered device has
    /// is EEXIST; the same name is a no-op, as in the kernel.</summary>
    public Errno RenameLocked(RdmaDevice d, string name)
    {
        AssertLocked();
        if (!d.Registered)
            return Errno.ENODEV;
        if (d.Name == name)
            return Errno.Ok;
        if (FindLocked(name) is not null)
            return Errno.EEXIST;
        d.Name = name;
        return Errno.Ok;
    }

    /// <summary>Unregisters a device and discards all its pools. The kernel waits until the device's
    /// resources are released (rdma.md 11.5); cgfs refuses with EBUSY instead and never drops a held charge.</summary>
    public Errno UnregisterLocked(RdmaDevice d)
    {
        AssertLocked();
        if (!d.Registered)
            return Errno.ENODEV;
        if (d.StatesWithPools.Any(s => s.Pools[d].Usage.Any(u => u != 0)))
            return Errno.EBUSY;
        foreach (var s in d.StatesWithPools)
            s.Pools.Remove(d);
        d.StatesWithPools.Clear();
        d.Registered = false;
        _devices.Remove(d);
        return Errno.Ok;
    }

    /// <summary>rdma.max write after parsing: a partial update, null keeps a limit.</summary>
    public void SetMaxLocked(RdmaState s, RdmaDevice d, int? handle, int? obj) => SetMaxLocked(s, d, [handle, obj]);

    /// <summary>rdma.max write with a limit (or null) per resource of the device, by index.</summary>
    public void SetMaxLocked(RdmaState s, RdmaDevice d, IReadOnlyList<int?> limits)
    {
        AssertLocked();
        var pool = s.PoolLocked(d);
        for (int r = 0; r < limits.Count && r < pool.Limit.Length; r++)
            if (limits[r] is { } v)
                pool.Limit[r] = v;
        s.DiscardIfDefaultLocked(d);
    }

    /// <summary>Hierarchical try-charge (kernel: rdmacg_try_charge, 7.2): walks from the charged
    /// state to the root, fails with EAGAIN at the first pool over its limit, rolls the walk back,
    /// records events; raises peaks only after the whole walk succeeded.</summary>
    public Errno TryChargeLocked(RdmaState c, RdmaDevice d, RdmaResource resource, int amount, out RdmaCharge? charge)
    {
        AssertLocked();
        charge = null;
        if (!d.Registered)
            return Errno.ENODEV;
        if (amount <= 0 || (uint)resource >= (uint)d.ResourceCount)
            return Errno.EINVAL;
        int r = (int)resource;
        for (ControllerState? level = c; level is not null; level = level.Parent)
        {
            var s = (RdmaState)level;
            var pool = s.PoolLocked(d);
            if ((long)pool.Usage[r] + amount > pool.Limit[r])
            {
                RecordFailureLocked(c, s, d, r);
                for (ControllerState? undo = c; !ReferenceEquals(undo, s); undo = undo!.Parent)
                {
                    var u = (RdmaState)undo!;
                    u.Pools[d].Usage[r] -= amount;
                    u.DiscardIfDefaultLocked(d);
                }
                s.DiscardIfDefaultLocked(d);
                return Errno.EAGAIN;
            }
            pool.Usage[r] += amount;
        }
        for (ControllerState? level = c; level is not null; level = level.Parent)
        {
            var pool = ((RdmaState)level).Pools[d];
            pool.Peak[r] = Math.Max(pool.Peak[r], pool.Usage[r]);
        }
        charge = new RdmaCharge(c, d, resource, amount);
        return Errno.Ok;
    }

    /// <summary>
    /// Charges <paramref name="count"/> objects as the kernel would, one at a time, all or nothing:
    /// the result is one charge of <paramref name="count"/>. Computed in closed form, so a huge count
    /// costs no more than one: with h the smallest headroom on the path, units 1..h succeed (raising
    /// peaks to usage + h) and unit h + 1 is refused where that headroom is, recording one event;
    /// then the h units are released again.
    /// </summary>
    public Errno TryChargeUnitsLocked(RdmaState c, RdmaDevice d, RdmaResource resource, int count, out RdmaCharge? charge)
    {
        AssertLocked();
        charge = null;
        if ((uint)resource >= (uint)d.ResourceCount)
            return Errno.EINVAL;
        int r = (int)resource;
        long headroom = long.MaxValue;
        for (ControllerState? l = c; l is not null; l = l.Parent)
        {
            var p = ((RdmaState)l).Pools.GetValueOrDefault(d);
            headroom = Math.Min(headroom, p is null ? RdmaPool.Max : (long)p.Limit[r] - p.Usage[r]);
        }
        if (headroom >= count)
            return TryChargeLocked(c, d, resource, count, out charge);
        RdmaCharge? partial = null;
        if (headroom > 0)
            TryChargeLocked(c, d, resource, (int)headroom, out partial);
        var refused = TryChargeLocked(c, d, resource, 1, out _);
        if (partial is not null)
            partial.UnchargeLocked();
        return refused;
    }

    /// <summary>Uncharges from the state that was charged, up to the root (kernel: rdmacg_uncharge_hierarchy).</summary>
    internal void UnchargeUnitsLocked(RdmaCharge charge)
    {
        AssertLocked();
        if (!charge.Device.Registered)
            return;
        int r = (int)charge.Resource;
        for (ControllerState? level = charge.State; level is not null; level = level.Parent)
        {
            var s = (RdmaState)level;
            if (s.Pools.TryGetValue(charge.Device, out var pool))
            {
                pool.Usage[r] = Math.Max(0, pool.Usage[r] - charge.Amount);
                s.DiscardIfDefaultLocked(charge.Device);
            }
            Hierarchy.ReleaseIfDeadLocked(s);
        }
    }

    /// <summary>Shell shortcut (documented extension): a signed delta written to rdma.current.
    /// Positive charges like a process in that cgroup would (<see cref="TryChargeUnitsLocked"/>);
    /// negative returns units that were charged this way to this very cgroup, otherwise EINVAL.</summary>
    public Errno ApplyShortcutLocked(RdmaState s, RdmaDevice d, RdmaResource resource, long delta)
    {
        AssertLocked();
        if ((uint)resource >= (uint)d.ResourceCount)
            return Errno.EINVAL;
        int r = (int)resource;
        if (delta > 0)
        {
            if (delta > int.MaxValue)
                return Errno.EINVAL;
            var e = TryChargeUnitsLocked(s, d, resource, (int)delta, out _);
            if (e == Errno.Ok)
                s.Pools[d].ShortcutHeld[r] += delta;
            return e;
        }
        if (delta < 0)
        {
            long n = -delta;
            if (!s.Pools.TryGetValue(d, out var pool) || pool.ShortcutHeld[r] < n)
                return Errno.EINVAL;
            pool.ShortcutHeld[r] -= n;
            new RdmaCharge(s, d, resource, (int)n).UnchargeLocked();
        }
        return Errno.Ok;
    }

    /// <summary>Events (spec rdma.md 5.4): max at the over-limit level O, alloc_fail at the requester C;
    /// hierarchical counters up to but not including the root.</summary>
    private void RecordFailureLocked(RdmaState c, RdmaState o, RdmaDevice d, int r)
    {
        AssertLocked();
        c.PoolLocked(d).LocalAllocFail[r]++;
        Hierarchy.NotifyLocked(c.Cgroup, EventsLocal);
        o.PoolLocked(d).LocalMax[r]++;
        if (!ReferenceEquals(o, c))
            Hierarchy.NotifyLocked(o.Cgroup, EventsLocal);
        for (ControllerState? l = o; l is { Cgroup.IsRoot: false }; l = l.Parent)
            ((RdmaState)l).PoolLocked(d).EventsMax[r]++;
        for (ControllerState? l = c; l is { Cgroup.IsRoot: false }; l = l.Parent)
        {
            ((RdmaState)l).PoolLocked(d).EventsAllocFail[r]++;
            Hierarchy.NotifyLocked(l.Cgroup, Events);
        }
    }

    /// <summary>One row per registered device, registration order, for the rdma.* renderers.</summary>
    public RdmaRow[] RowsLocked(RdmaState s)
    {
        AssertLocked();
        var rows = new RdmaRow[_devices.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            var d = _devices[i];
            var p = s.Pools.GetValueOrDefault(d) ?? new RdmaPool(d.ResourceCount);
            rows[i] = new RdmaRow(d.Name, (int[])p.Limit.Clone(), (int[])p.Usage.Clone(), (int[])p.Peak.Clone(),
                (ulong[])p.EventsMax.Clone(), (ulong[])p.EventsAllocFail.Clone(),
                (ulong[])p.LocalMax.Clone(), (ulong[])p.LocalAllocFail.Clone(), d.ExtraResources.Count > 0 ? d.ExtraResources : null);
        }
        return rows;
    }

    /// <summary>What a restart must restore of one state: configured limits and shortcut holdings per device.</summary>
    public List<RdmaConfig> ConfigLocked(RdmaState s)
    {
        AssertLocked();
        return _devices.Where(s.Pools.ContainsKey).Select(d =>
        {
            var p = s.Pools[d];
            return new RdmaConfig(d.Name, (int[])p.Limit.Clone(), (long[])p.ShortcutHeld.Clone(), d.ExtraResources);
        }).ToList();
    }
}

/// <summary>Configured rdma limits of one (state, device) and what the shortcut charged there, per resource.</summary>
public readonly record struct RdmaConfig(string Device, int[] Max, long[] Held, IReadOnlyList<string> Extra);
