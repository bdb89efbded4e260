namespace CgFs.Accounting;

/// <summary>
/// Charging as a process (spec rdma.md 5.1, misc.md 4.1): the charge goes to the effective state
/// of the process's cgroup at that moment and remembers it. rdma and default misc charges never
/// move; charges of a misc type declared <see cref="MiscType.Follow"/> (extension, the IOASID
/// discussion) move with their process on migration, which is refused with EBUSY when the
/// destination side cannot take them — the can_attach veto the kernel's misc controller lacks.
/// </summary>
public sealed partial class Hierarchy
{
    private readonly Dictionary<int, List<MiscCharge>> _followCharges = new();

    /// <summary>Charges <paramref name="count"/> rdma objects as a process, one at a time as the kernel
    /// does, all or nothing (<see cref="RdmaController.TryChargeUnitsLocked"/>).</summary>
    public Errno ChargeRdmaAsProcessLocked(int pid, RdmaDevice device, RdmaResource resource, int count, out RdmaCharge? charge) =>
        Rdma.TryChargeUnitsLocked((RdmaState)EffectiveStateLocked(CgroupOfLocked(pid), Controllers.Rdma), device, resource, count, out charge);

    public Errno ChargeMiscAsProcessLocked(int pid, MiscType type, ulong amount, out MiscCharge? charge)
    {
        var e = Misc.TryChargeLocked((MiscState)EffectiveStateLocked(CgroupOfLocked(pid), Controllers.Misc), type, amount, out charge);
        if (e == Errno.Ok && charge is not null && type.Follow)
        {
            if (!_followCharges.TryGetValue(pid, out var list))
                _followCharges[pid] = list = new List<MiscCharge>();
            list.Add(charge);
        }
        return e;
    }

    /// <summary>Releases a misc charge made as a process (it no longer follows anybody).</summary>
    public void UnchargeMiscLocked(MiscCharge charge)
    {
        foreach (var (pid, list) in _followCharges)
            if (list.Remove(charge) && list.Count == 0)
            {
                _followCharges.Remove(pid);
                break;
            }
        Misc.UnchargeLocked(charge);
    }

    /// <summary>Moves the follow charges of <paramref name="pid"/> to the effective misc state of
    /// <paramref name="dst"/>, all or none. Called by migration after every other check passed.</summary>
    private Errno MoveFollowChargesLocked(int pid, Cgroup dst)
    {
        if (!_followCharges.TryGetValue(pid, out var list) || list.Count == 0)
            return Errno.Ok;
        var to = (MiscState)EffectiveStateLocked(dst, Controllers.Misc);
        var moved = new List<(MiscCharge Charge, MiscState From)>();
        foreach (var charge in list)
        {
            var from = charge.State;
            if (Misc.TransferLocked(charge, to, force: false) != Errno.Ok)
            {
                foreach (var (c, f) in moved)
                    Misc.TransferLocked(c, f, force: true);
                return Errno.EBUSY;
            }
            moved.Add((charge, from));
        }
        return Errno.Ok;
    }

    private void ForgetFollowerLocked(int pid) => _followCharges.Remove(pid);
}
