namespace CgFs.Accounting;

/// <summary>
/// Follow types (documented extension, the IOASID discussion): charges made as a process move
/// with it on migration. This is misc's can_attach / cancel_attach / attach, which the kernel's
/// misc controller does not have: can_attach moves every follow charge of the process to the
/// destination's effective state, all or none, and refuses with EBUSY when the destination side
/// cannot take them; cancel_attach moves them back (another controller refused).
/// </summary>
public sealed partial class MiscController
{
    /// <summary>Follow charges made as each process.</summary>
    private readonly Dictionary<int, List<MiscCharge>> _followCharges = new();
    /// <summary>What the running migration moved, so cancel_attach can put it back.</summary>
    private readonly List<(MiscCharge Charge, MiscState From)> _moved = new();

    /// <summary>One charge of <paramref name="amount"/> as process <paramref name="pid"/> (spec misc.md
    /// 4.1): to the effective state of its cgroup now; a follow type's charge follows the process.</summary>
    public Errno ChargeAsProcessLocked(int pid, MiscType type, ulong amount, out MiscCharge? charge)
    {
        AssertLocked();
        var state = (MiscState)Hierarchy.EffectiveStateLocked(Hierarchy.CgroupOfLocked(pid), this);
        var e = TryChargeLocked(state, type, amount, out charge);
        if (e == Errno.Ok && charge is not null && type.Follow)
        {
            if (!_followCharges.TryGetValue(pid, out var list))
                _followCharges[pid] = list = new List<MiscCharge>();
            list.Add(charge);
        }
        return e;
    }

    protected internal override Errno CanAttachLocked(int pid, Cgroup dst)
    {
        AssertLocked();
        _moved.Clear();
        if (!_followCharges.TryGetValue(pid, out var list))
            return Errno.Ok;
        var to = (MiscState)Hierarchy.EffectiveStateLocked(dst, this);
        foreach (var charge in list)
        {
            var from = charge.State;
            if (TransferLocked(charge, to, force: false) != Errno.Ok)
            {
                CancelAttachLocked(pid, dst);
                return Errno.EBUSY;
            }
            _moved.Add((charge, from));
        }
        return Errno.Ok;
    }

    protected internal override void CancelAttachLocked(int pid, Cgroup dst)
    {
        AssertLocked();
        foreach (var (charge, from) in _moved)
            TransferLocked(charge, from, force: true);
        _moved.Clear();
    }

    protected internal override void AttachLocked(int pid, Cgroup dst)
    {
        AssertLocked();
        _moved.Clear();
    }

    /// <summary>A move the kernel made without asking: follow charges go along even past a max.</summary>
    protected internal override void ObservedAttachLocked(int pid, Cgroup dst)
    {
        AssertLocked();
        if (!_followCharges.TryGetValue(pid, out var list))
            return;
        var to = (MiscState)Hierarchy.EffectiveStateLocked(dst, this);
        foreach (var charge in list)
            TransferLocked(charge, to, force: true);
    }

    protected internal override void ExitLocked(int pid)
    {
        AssertLocked();
        _followCharges.Remove(pid);
    }

    private void StopFollowingLocked(MiscCharge charge)
    {
        AssertLocked();
        if (!charge.Type.Follow)
            return;
        foreach (var (pid, list) in _followCharges)
            if (list.Remove(charge))
            {
                if (list.Count == 0)
                    _followCharges.Remove(pid);
                return;
            }
    }

    /// <summary>Moves a follow-type charge to another state (extension): the can_attach veto
    /// refuses with EBUSY if any level from the destination up to (not including) the common
    /// ancestor would exceed its max or the capacity; nothing changes then. <paramref name="force"/>
    /// skips the check (rolling back a partial move). Levels above the common ancestor keep their usage.</summary>
    internal Errno TransferLocked(MiscCharge charge, MiscState to, bool force)
    {
        AssertLocked();
        if (charge.Released || ReferenceEquals(charge.State, to))
            return Errno.Ok;
        var t = charge.Type;
        var ancestors = new HashSet<ControllerState>();
        for (ControllerState? l = charge.State; l is not null; l = l.Parent)
            ancestors.Add(l);
        if (!force)
        {
            for (ControllerState? l = to; l is not null && !ancestors.Contains(l); l = l.Parent)
            {
                var v = ((MiscState)l).Of(t);
                ulong next = v.Usage + charge.Amount;
                if (next < v.Usage || next > v.Max || next > t.Capacity)
                    return Errno.EBUSY;
            }
        }
        UnchargeUnitsLocked(charge.State, t, charge.Amount);
        for (ControllerState? l = to; l is not null; l = l.Parent)
        {
            var v = ((MiscState)l).Of(t);
            v.Usage += charge.Amount;
            v.Peak = Math.Max(v.Peak, v.Usage);
        }
        charge.State = to;
        return Errno.Ok;
    }

}
