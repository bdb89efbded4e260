namespace CgFs.Accounting;

/// <summary>One cgroup (kernel: struct cgroup). Fields are guarded by <see cref="Hierarchy.Sync"/>;
/// read them only under that lock or through the hierarchy's snapshot methods.</summary>
public sealed class Cgroup
{
    internal readonly Dictionary<string, Cgroup> ChildrenByName = new(StringComparer.Ordinal);
    /// <summary>Indexed by controller id.</summary>
    internal readonly ControllerState?[] States;
    /// <summary>Change generations of notifying files that changed at least once (most cgroups: none).</summary>
    internal Dictionary<Notifier, ulong>? Generations;

    internal Cgroup(Cgroup? parent, string name, long id, int controllers)
    {
        Parent = parent;
        Name = name;
        Id = id;
        States = new ControllerState?[controllers];
        DomCgroup = this;
    }

    /// <summary>Unique for the life of the hierarchy; never reused.</summary>
    public long Id { get; }
    public string Name { get; }
    /// <summary>Kept after removal so a dying cgroup still knows its ancestors (charges walk up).</summary>
    public Cgroup? Parent { get; }
    public bool IsRoot => Parent is null;
    public bool Removed { get; internal set; }

    /// <summary>Owned by the presentation layer (like kernfs_node.priv); the engine never reads it.</summary>
    public object? ViewState { get; set; }

    internal ControllerMask SubtreeControl;
    internal int MaxDepth = int.MaxValue;
    internal int MaxDescendants = int.MaxValue;
    internal int NrDescendants;
    internal bool FreezeSelf;
    internal int FrozenAncestors; // ancestors-or-self with FreezeSelf; > 0 means effectively frozen
    internal long FreezeStartTicks;
    internal long FrozenTicks;

    /// <summary>The resource domain (kernel: dom_cgrp). A threaded cgroup points at its thread root.</summary>
    internal Cgroup DomCgroup;
    internal int NrThreadedChildren;

    /// <summary>Tasks placed directly here: processes whose leader is here plus threads moved here on their own.</summary>
    internal int OwnTasks;
    internal int NrPopulatedChildren;

    internal bool Threaded => !ReferenceEquals(DomCgroup, this);
    internal bool Populated => OwnTasks > 0 || NrPopulatedChildren > 0;
    internal bool Frozen => FrozenAncestors > 0;

    internal ControllerState? State(Controller c) => States[c.Id];

    public override string ToString() => Parent is null ? "/" : Parent.IsRoot ? "/" + Name : Parent + "/" + Name;
}
