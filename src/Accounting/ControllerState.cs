namespace CgFs.Accounting;

/// <summary>A controller's state in one cgroup (kernel: cgroup_subsys_state). It exists in the
/// root always and in a child while the parent's subtree_control enables the controller. When
/// the cgroup is removed or the controller disabled it goes offline but lives on (dying) while
/// charges made against it are outstanding; those charges are always uncharged from it.</summary>
public abstract class ControllerState
{
    protected ControllerState(Controller controller, Cgroup cgroup, ControllerState? parent)
    {
        Controller = controller;
        Cgroup = cgroup;
        Parent = parent;
    }

    public Controller Controller { get; }
    public Cgroup Cgroup { get; }
    /// <summary>The parent state: charges walk these links, which survive removal and disabling.</summary>
    public ControllerState? Parent { get; }
    public bool Online { get; internal set; } = true;

    /// <summary>Whether anything is charged here or below (usage is hierarchical). A charge pins the
    /// state it was made against, and in the kernel a child css pins its parent, so an offline state
    /// is dying (not yet freed) exactly while this is true.</summary>
    protected internal abstract bool HasUsageLocked { get; }

    /// <summary>Called under the engine lock when the state goes offline (rmdir or -ctrl).</summary>
    protected internal abstract void OfflineLocked();

    /// <summary>The engine lock's lockdep_assert_held, for methods of a state.</summary>
    [System.Diagnostics.Conditional("DEBUG")]
    protected void AssertLocked() => Controller.Hierarchy.AssertLocked();

    /// <summary>Frees everything the state holds and unregisters it wherever it is registered, once
    /// it is offline and uncharged (kernel: css_free). Called once, under the engine lock.</summary>
    protected internal abstract void ReleaseLocked();
}
