using System.Diagnostics;

namespace CgFs.Accounting;

/// <summary>
/// A controller as the engine sees it (kernel: struct cgroup_subsys). This is the whole engine
/// contract: a name and an id (its bit in every <see cref="ControllerMask"/>), the factory of its
/// per-cgroup state (css_alloc), whether it is threaded, the notifying files it owns, and the
/// process hooks the core calls at fork, exit and migration (can_attach / cancel_attach /
/// attach). Text, files, journal records and control-protocol lines belong to the layers above;
/// a controller's contributions there are registered next to it (see CgFs.ControllerRegistry).
/// Every hook runs under <see cref="Hierarchy.Sync"/>.
/// </summary>
public abstract class Controller(string name)
{
    /// <summary>The name in cgroup.controllers, cgroup.subtree_control and cgroup.stat.</summary>
    public string Name { get; } = name;

    /// <summary>Subsystem id: the position in the hierarchy's registry, which is the order every
    /// listing and check uses (the kernel's subsystem-id order). Assigned when registered.</summary>
    public int Id { get; private set; } = -1;

    /// <summary>The hierarchy this controller is registered in (one each).</summary>
    public Hierarchy Hierarchy { get; private set; } = null!;

    public ControllerMask Mask => ControllerMask.Of(Id);

    /// <summary>A threaded controller may be enabled inside threaded subtrees (kernel:
    /// cgroup_subsys.threaded); a domain controller (rdma, misc) may not.</summary>
    public virtual bool Threaded => false;

    /// <summary>The notifying files this controller's state changes (kernel: cgroup_file_notify targets).</summary>
    public virtual IReadOnlyList<Notifier> Notifiers => [];

    internal void Register(Hierarchy hierarchy, int id)
    {
        if (Id >= 0)
            throw new InvalidOperationException($"controller {Name} is already registered");
        Hierarchy = hierarchy;
        Id = id;
    }

    /// <summary>kernel: css_alloc. <paramref name="parent"/> is the parent cgroup's state (null in the root).</summary>
    protected internal abstract ControllerState NewStateLocked(Cgroup cgroup, ControllerState? parent);

    /// <summary>kernel: can_attach. Called for a process migration after the core's own checks
    /// passed; a refusal aborts it and every controller asked before gets <see cref="CancelAttachLocked"/>.</summary>
    protected internal virtual Errno CanAttachLocked(int pid, Cgroup dst)
    {
        AssertLocked();
        return Errno.Ok;
    }

    /// <summary>kernel: cancel_attach: undo what <see cref="CanAttachLocked"/> prepared.</summary>
    protected internal virtual void CancelAttachLocked(int pid, Cgroup dst) { }

    /// <summary>kernel: attach: the process now is in <paramref name="dst"/>.</summary>
    protected internal virtual void AttachLocked(int pid, Cgroup dst) { }

    /// <summary>Overlay mode: the kernel moved the process without asking (a move made behind
    /// cgfs's back); nothing may be refused. Default: as an attach.</summary>
    protected internal virtual void ObservedAttachLocked(int pid, Cgroup dst) => AttachLocked(pid, dst);

    /// <summary>kernel: fork: a recorded process forked a child, born in <paramref name="where"/>.</summary>
    protected internal virtual void ForkLocked(int parentPid, int childPid, Cgroup where) { }

    /// <summary>kernel: exit/release: the recorded process is gone (exit, zombie, recycled pid).</summary>
    protected internal virtual void ExitLocked(int pid) { }

    [Conditional("DEBUG")]
    protected void AssertLocked() => Debug.Assert(Monitor.IsEntered(Hierarchy.Sync), "engine lock not held");

    public override string ToString() => Name;
}

/// <summary>A set of controllers as a bit mask, bit i being the controller with id i.</summary>
public readonly record struct ControllerMask(uint Bits)
{
    public static readonly ControllerMask None = default;

    public static ControllerMask Of(int id) => new(1u << id);

    public bool IsEmpty => Bits == 0;
    public bool Has(Controller c) => (Bits & (1u << c.Id)) != 0;

    public static ControllerMask operator |(ControllerMask a, ControllerMask b) => new(a.Bits | b.Bits);
    public static ControllerMask operator &(ControllerMask a, ControllerMask b) => new(a.Bits & b.Bits);
    public static ControllerMask operator ~(ControllerMask a) => new(~a.Bits);

    public override string ToString() => $"0x{Bits:x}";
}
