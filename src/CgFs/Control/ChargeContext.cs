using CgFs.Accounting;
using CgFs.Tree;

namespace CgFs.Control;

/// <summary>
/// A charging context: what an opened uverbs context (rdma) or a VM (misc) is in the kernel.
/// Charges are made as one process, to the effective state of that process's cgroup at the
/// moment of each charge; each remembers where it went; disposing the context — its connection
/// closed because the process exited or was killed — uncharges everything from those states.
/// This is also the in-process API tests use.
/// </summary>
public sealed class ChargeContext(Hierarchy engine, Processes processes, int pid) : IDisposable
{
    private readonly Dictionary<long, List<object>> _charges = new();
    private long _nextId;

    public int Pid => pid;

    /// <summary>Charges <paramref name="count"/> objects one at a time, as a verbs program creates
    /// them; if one is refused (EAGAIN), those made by this call are released and the errno returned.</summary>
    public (Errno Error, long Id) ChargeRdma(string deviceName, RdmaResource resource, int count)
    {
        processes.EnsureRecorded(pid);
        return engine.Run(() =>
        {
            var device = engine.Rdma.FindLocked(deviceName);
            if (device is null)
                return (Errno.ENODEV, 0L);
            var e = engine.ChargeRdmaAsProcessLocked(pid, device, resource, count, out var charge);
            return e == Errno.Ok ? (Errno.Ok, Keep([charge!])) : (e, 0L);
        });
    }

    /// <summary>One misc charge of <paramref name="amount"/> (misc_cg_try_charge): EBUSY or EINVAL.</summary>
    public (Errno Error, long Id) ChargeMisc(string typeName, ulong amount)
    {
        processes.EnsureRecorded(pid);
        return engine.Run(() =>
        {
            var type = engine.Misc.FindLocked(typeName);
            if (type is null)
                return (Errno.EINVAL, 0L);
            var e = engine.ChargeMiscAsProcessLocked(pid, type, amount, out var charge);
            if (e != Errno.Ok)
                return (e, 0L);
            return (Errno.Ok, Keep(charge is null ? [] : [charge]));
        });
    }

    public Errno Uncharge(long id) => engine.Run(() =>
    {
        if (!_charges.Remove(id, out var list))
            return Errno.EINVAL;
        ReleaseLocked(list);
        return Errno.Ok;
    });

    private long Keep(List<object> charges)
    {
        long id = ++_nextId;
        _charges[id] = charges;
        return id;
    }

    private void ReleaseLocked(List<object> charges)
    {
        foreach (var c in charges)
        {
            if (c is RdmaCharge r)
                engine.Rdma.UnchargeLocked(r);
            else if (c is MiscCharge m)
                engine.UnchargeMiscLocked(m);
        }
    }

    /// <summary>Releases everything this context holds.</summary>
    public void Dispose() => engine.Run(() =>
    {
        foreach (var list in _charges.Values)
            ReleaseLocked(list);
        _charges.Clear();
        return 0;
    });
}
