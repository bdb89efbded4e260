using CgFs.Accounting;
using CgFs.Membership;

namespace CgFs.Control;

/// <summary>
/// A charging context: what an opened uverbs context (rdma) or a VM (misc) is in the kernel.
/// Charges are made as one process, to the effective state of that process's cgroup at the
/// moment of each charge; each remembers where it went; disposing the context — its connection
/// closed because the process exited or was killed — uncharges everything, whatever controller
/// each charge is of. This is also the in-process API tests use.
/// </summary>
public sealed class ChargeContext(Hierarchy engine, IMembership membership, int pid) : IDisposable
{
    /// <summary>By id; null for a charge of nothing (misc amount 0), which may still be uncharged once.</summary>
    private readonly Dictionary<long, Charge?> _charges = new();
    private long _nextId;

    public int Pid => pid;

    /// <summary>Charges <paramref name="count"/> objects one at a time, as a verbs program creates
    /// them; if one is refused (EAGAIN), those made by this call are released and the errno returned.</summary>
    public (Errno Error, long Id) ChargeRdma(string deviceName, RdmaResource resource, int count)
    {
        var rdma = engine.Get<RdmaController>();
        return ChargeAs(() => rdma.FindLocked(deviceName) is { } device
            ? (rdma.ChargeAsProcessLocked(pid, device, resource, count, out var charge), charge)
            : (Errno.ENODEV, null));
    }

    /// <summary>One misc charge of <paramref name="amount"/> (misc_cg_try_charge): EBUSY or EINVAL.</summary>
    public (Errno Error, long Id) ChargeMisc(string typeName, ulong amount)
    {
        var misc = engine.Get<MiscController>();
        return ChargeAs(() => misc.FindLocked(typeName) is { } type
            ? (misc.ChargeAsProcessLocked(pid, type, amount, out var charge), charge)
            : (Errno.EINVAL, null));
    }

    /// <summary>Places the process first (a fork event may not have arrived yet), then charges under
    /// the engine lock and keeps the charge. A charge of nothing succeeds and holds nothing.</summary>
    private (Errno Error, long Id) ChargeAs(Func<(Errno, Charge?)> charge)
    {
        membership.EnsureRecorded(pid);
        return engine.Run(() =>
        {
            var (e, made) = charge();
            if (e != Errno.Ok)
                return (e, 0L);
            long id = ++_nextId;
            _charges[id] = made;
            return (Errno.Ok, id);
        });
    }

    public Errno Uncharge(long id) => engine.Run(() =>
    {
        if (!_charges.Remove(id, out var charge))
            return Errno.EINVAL;
        charge?.UnchargeLocked();
        return Errno.Ok;
    });

    /// <summary>Releases everything this context holds.</summary>
    public void Dispose() => engine.Run(() =>
    {
        foreach (var charge in _charges.Values)
            charge?.UnchargeLocked();
        _charges.Clear();
        return 0;
    });
}
