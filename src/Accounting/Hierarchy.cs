using System.Diagnostics;

namespace CgFs.Accounting;

/// <summary>
/// The cgroup v2 hierarchy and every controller's state: the engine. No I/O, no FUSE, no text.
///
/// Controllers plug in through <see cref="Controller"/> (kernel: struct cgroup_subsys), registered
/// in the order given to the constructor; the core never names one.
///
/// Lock order (outermost first; never take an earlier lock while holding a later one):
///   1. CgFs.Tree.CgroupFileSystem node table lock   (kernfs_rwsem)
///   2. StateJournal commit lock (--state only): held from writing a record through applying its
///      change, so records are in the order changes were applied (the journal decides first)
///   3. <see cref="Sync"/>, this engine's one lock     (cgroup_mutex, rdmacg_mutex, misc's atomics);
///      every controller hook runs under it
///   4. leaves, never held together with each other:
///      CgroupFileSystem meta lock (modes, owners, xattrs; taken under Sync by the migration
///      permission check), PollWaiters lock (kernfs_open_file_mutex), JournalFile lock,
///      Session notify lock (one write(2) to /dev/fuse).
/// No I/O happens under <see cref="Sync"/>: the membership service reads procfs before or after
/// it (a liveness scan takes the candidates under the lock, checks them without it, and drops the
/// dead under it again by pid and start time). The one exception is overlay mode's migration
/// (<see cref="MigrateByKernelLocked"/>): the kernel's cgroup.procs write sits between can_attach
/// and attach, as the kernel's own migration does under cgroup_mutex. Methods whose name ends in <c>Locked</c> require
/// <see cref="Sync"/> held and assert it in Debug builds (<see cref="AssertLocked"/>, the kernel's
/// lockdep_assert_held). Changes to notifying files are collected under the lock and published
/// through <see cref="Changed"/> after it is released, so subscribers may call back into the engine.
///
/// Who owns a cgroup, and when it is released (kernel: css refcounts, css_free):
///   - online: its parent's ChildrenByName (and, for the view, its node table while the kernel
///     holds a lookup). Pools of an online state live as long as they show something (a limit,
///     usage, a peak, an event counter), registered in <see cref="RdmaDevice.StatesWithPools"/>.
///   - removed (rmdir) or disabled (-ctrl): each controller state goes offline; a state still
///     charged (its own charges or a dying descendant's) is dying and is kept in
///     <c>_offlineStates</c>; every charge object points at the state it was made against.
///   - released: when an offline state's usage reaches 0 — at offlining or at the last uncharge —
///     <see cref="ReleaseIfDeadLocked"/> frees all its pools (peaks and counters included, as
///     rdmacg_css_free does) and drops it from every registry. After that only the view's nodes
///     (until FORGET), open handles (until RELEASE) and released charge objects can point at it;
///     none of them is reachable from the engine, so the cgroup is garbage.
/// </summary>
public sealed partial class Hierarchy
{
    /// <summary>The engine lock.</summary>
    public readonly object Sync = new();

    private readonly List<Change> _pending = new();
    private long _nextId = 1;

    /// <summary>An engine with <paramref name="controllers"/> registered in that order (their
    /// subsystem ids). Each controller instance belongs to one hierarchy.</summary>
    public Hierarchy(IEnumerable<Controller> controllers)
    {
        Controllers = controllers.ToArray();
        if (Controllers.Count > 32)
            throw new ArgumentException("at most 32 controllers", nameof(controllers));
        for (int i = 0; i < Controllers.Count; i++)
            Controllers[i].Register(this, i);
        if (Controllers.Select(c => c.Name).Distinct().Count() != Controllers.Count)
            throw new ArgumentException("controller names must be unique", nameof(controllers));
        AllControllers = Controllers.Aggregate(ControllerMask.None, (m, c) => m | c.Mask);
        ThreadedControllers = Controllers.Where(c => c.Threaded).Aggregate(ControllerMask.None, (m, c) => m | c.Mask);
        Notifiers = [Notifier.CgroupEvents, .. Controllers.SelectMany(c => c.Notifiers)];
        Root = new Cgroup(null, "", _nextId++, Controllers.Count);
        lock (Sync)
            foreach (var c in Controllers)
                Root.States[c.Id] = c.NewStateLocked(Root, null);
    }

    public Cgroup Root { get; }

    /// <summary>The registered controllers in subsystem-id order (kernel: for_each_subsys).</summary>
    public IReadOnlyList<Controller> Controllers { get; }
    public ControllerMask AllControllers { get; }
    /// <summary>kernel: cgrp_dfl_threaded_ss_mask.</summary>
    public ControllerMask ThreadedControllers { get; }
    /// <summary>Every notifying file: the core's, then each controller's.</summary>
    public IReadOnlyList<Notifier> Notifiers { get; }

    /// <summary>The registered controller of type <typeparamref name="T"/>.</summary>
    public T Get<T>() where T : Controller =>
        Controllers.OfType<T>().FirstOrDefault() ?? throw new InvalidOperationException($"no {typeof(T).Name} registered");

    /// <summary>Names of the controllers in <paramref name="mask"/>, in subsystem order.</summary>
    public string[] Names(ControllerMask mask) => Controllers.Where(mask.Has).Select(c => c.Name).ToArray();

    /// <summary>Raised after the engine lock is released with the notifying files that changed.</summary>
    public event Action<IReadOnlyList<Change>>? Changed;

    /// <summary>Runs <paramref name="f"/> under the engine lock, then publishes what it changed.</summary>
    public T Run<T>(Func<T> f)
    {
        T result;
        Change[]? changes = null;
        lock (Sync)
        {
            result = f();
            if (_pending.Count > 0)
            {
                changes = _pending.ToArray();
                _pending.Clear();
            }
        }
        if (changes is not null)
            Changed?.Invoke(changes);
        return result;
    }

    public void NotifyLocked(Cgroup c, Notifier file)
    {
        AssertLocked();
        c.Generations ??= new Dictionary<Notifier, ulong>();
        c.Generations[file] = c.Generations.GetValueOrDefault(file) + 1;
        _pending.Add(new Change(c, file));
    }

    /// <summary>Change generation of a notifying file; a poller that read an older one sees POLLPRI.</summary>
    public ulong GenerationLocked(Cgroup c, Notifier file)
    {
        AssertLocked();
        return c.Generations?.GetValueOrDefault(file) ?? 0;
    }

    /// <summary>The kernel's lockdep_assert_held for <see cref="Sync"/>.</summary>
    [Conditional("DEBUG")]
    public void AssertLocked() => Debug.Assert(Monitor.IsEntered(Sync), "engine lock not held");

    /// <summary>The id the next successful mkdir will get (a journal records it before the mkdir).</summary>
    public long NextIdLocked
    {
        get
        {
            AssertLocked();
            return _nextId;
        }
    }

    public Cgroup? ChildLocked(Cgroup parent, string name)
    {
        AssertLocked();
        return parent.ChildrenByName.TryGetValue(name, out var child) ? child : null;
    }

    public Cgroup[] ChildrenLocked(Cgroup parent)
    {
        AssertLocked();
        return parent.ChildrenByName.Values.ToArray();
    }

    /// <summary>The children without a copy (a listing of 10k children is one allocation less);
    /// the view is valid only while the lock is held.</summary>
    public IReadOnlyCollection<Cgroup> ChildrenViewLocked(Cgroup parent)
    {
        AssertLocked();
        return parent.ChildrenByName.Values;
    }

    public int ChildCountLocked(Cgroup parent)
    {
        AssertLocked();
        return parent.ChildrenByName.Count;
    }

    public ControllerState? StateLocked(Cgroup c, Controller controller)
    {
        AssertLocked();
        return c.State(controller);
    }

    /// <summary>Nearest ancestor-or-self with state for the controller: where a process in
    /// <paramref name="c"/> charges (kernel: task_get_css walking to the effective css).</summary>
    public ControllerState EffectiveStateLocked(Cgroup c, Controller controller)
    {
        AssertLocked();
        for (var g = c; g is not null; g = g.Parent)
            if (g.State(controller) is { } s)
                return s;
        throw new InvalidOperationException("the root always has state");
    }

    /// <summary>mkdir (kernel: cgroup_mkdir); checks in the kernel's order, spec core.md 4.1.</summary>
    public Errno MkdirLocked(Cgroup parent, string name, out Cgroup? child)
    {
        AssertLocked();
        child = null;
        if (parent.Removed)
            return Errno.ENOENT;
        if (parent.ChildrenByName.ContainsKey(name))
            return Errno.EEXIST;
        if (name.Contains('\n'))
            return Errno.EINVAL;
        int level = 0;
        for (var a = parent; a is not null; a = a.Parent, level++)
            if (a.NrDescendants >= a.MaxDescendants || level >= a.MaxDepth)
                return Errno.EAGAIN;

        var c = new Cgroup(parent, name, _nextId++, Controllers.Count);
        parent.ChildrenByName.Add(name, c);
        for (var a = parent; a is not null; a = a.Parent)
            a.NrDescendants++;
        foreach (var ctrl in Controllers)
            if (parent.SubtreeControl.Has(ctrl))
                c.States[ctrl.Id] = ctrl.NewStateLocked(c, parent.State(ctrl));
        c.FrozenAncestors = parent.FrozenAncestors;
        if (c.Frozen)
            c.FreezeStartTicks = Stopwatch.GetTimestamp();
        child = c;
        return Errno.Ok;
    }

    /// <summary>rmdir (kernel: cgroup_rmdir / cgroup_destroy_locked), spec core.md 4.2.</summary>
    public Errno RmdirLocked(Cgroup c)
    {
        AssertLocked();
        if (c.IsRoot)
            return Errno.EBUSY;
        if (c.Removed)
            return Errno.ENOENT;
        if (c.Populated)
            return Errno.EBUSY;
        if (c.ChildrenByName.Count > 0)
            return Errno.EBUSY;

        var parent = c.Parent!;
        parent.ChildrenByName.Remove(c.Name);
        c.Removed = true;
        for (var a = parent; a is not null; a = a.Parent)
            a.NrDescendants--;
        if (c.Threaded)
            parent.NrThreadedChildren--;
        if (c.Frozen)
            c.FrozenTicks += Stopwatch.GetTimestamp() - c.FreezeStartTicks;
        foreach (var ctrl in Controllers)
            if (c.State(ctrl) is { } s)
                OfflineLocked(s);
        return Errno.Ok;
    }

    /// <summary>cgroup.max.depth / cgroup.max.descendants write; the value is already validated.</summary>
    public Errno SetMaxDepthLocked(Cgroup c, int value)
    {
        AssertLocked();
        if (c.Removed)
            return Errno.ENOENT;
        c.MaxDepth = value;
        return Errno.Ok;
    }

    public Errno SetMaxDescendantsLocked(Cgroup c, int value)
    {
        AssertLocked();
        if (c.Removed)
            return Errno.ENOENT;
        c.MaxDescendants = value;
        return Errno.Ok;
    }

    /// <summary>cgroup.freeze write. Recorded only: processes are never stopped (spec core.md 8.8),
    /// so a frozen-in-effect cgroup reports frozen at once.</summary>
    public Errno SetFreezeLocked(Cgroup c, bool freeze)
    {
        AssertLocked();
        if (c.Removed)
            return Errno.ENOENT;
        if (c.FreezeSelf == freeze)
            return Errno.Ok;
        c.FreezeSelf = freeze;
        long now = Stopwatch.GetTimestamp();
        ApplyFreezeLocked(c, freeze ? 1 : -1, now);
        return Errno.Ok;
    }

    private void ApplyFreezeLocked(Cgroup c, int delta, long now)
    {
        AssertLocked();
        bool was = c.Frozen;
        c.FrozenAncestors += delta;
        if (was != c.Frozen)
        {
            if (c.Frozen)
                c.FreezeStartTicks = now;
            else
                c.FrozenTicks += now - c.FreezeStartTicks;
            if (!c.IsRoot)
                NotifyLocked(c, Notifier.CgroupEvents);
        }
        foreach (var child in c.ChildrenByName.Values)
            ApplyFreezeLocked(child, delta, now);
    }

    /// <summary>Offline states that may still be dying; pruned when their usage is gone.</summary>
    private readonly HashSet<ControllerState> _offlineStates = new();

    private void OfflineLocked(ControllerState s)
    {
        AssertLocked();
        s.Online = false;
        s.OfflineLocked();
        if (s.HasUsageLocked)
            _offlineStates.Add(s);
        else
            s.ReleaseLocked();
    }

    /// <summary>Called after usage was taken from <paramref name="s"/>: an offline state with no usage
    /// left stops dying and is freed (kernel: css_free once the last reference is put).</summary>
    public void ReleaseIfDeadLocked(ControllerState s)
    {
        AssertLocked();
        if (s.Online || s.HasUsageLocked)
            return;
        _offlineStates.Remove(s);
        s.ReleaseLocked();
    }

    /// <summary>Every state that can hold usage: online ones in the tree, and offline ones still charged.</summary>
    internal IEnumerable<ControllerState> AllStatesLocked()
    {
        AssertLocked();
        foreach (var g in SelfAndDescendants(Root))
            foreach (var s in g.States)
                if (s is not null)
                    yield return s;
        foreach (var s in _offlineStates)
            yield return s;
    }
}
