using CgFs.Accounting;
using CgFs.Membership;
using CgFs.Tree;

namespace CgFs.Control;

/// <summary>
/// A charging context: what an opened uverbs context (rdma) or a VM (misc) is in the kernel.
/// Charges are made as one process, to the effective state of that process's cgroup at the
/// moment of each charge; each remembers where it went; disposing the context — its connection
/// closed because the process exited or was killed — uncharges everything, whatever controller
/// each charge is of. Controllers make the charges (their plugins serve the charge requests).
/// </summary>
public sealed class ChargeContext(Hierarchy engine, IMembership membership, int pid) : IChargeScope, IDisposable
{
    /// <summary>By id; null for a charge of nothing (misc amount 0), which may still be uncharged once.</summary>
    private readonly Dictionary<long, Charge?> _charges = new();
    private long _nextId;

    public int Pid => pid;

    /// <summary>Places the process first (a fork event may not have arrived yet), then charges under
    /// the engine lock and keeps the charge. A charge of nothing succeeds and holds nothing.</summary>
    public (Errno Error, long Id) Charge(Func<(Errno, Charge?)> chargeLocked)
    {
        membership.EnsureRecorded(pid);
        return engine.Run(() =>
        {
            var (e, made) = chargeLocked();
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
