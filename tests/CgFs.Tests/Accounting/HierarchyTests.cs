using CgFs.Accounting;

namespace CgFs.Tests.Accounting;

/// <summary>Tree invariants of the engine: populated propagation, membership, fork/exit, pid reuse.</summary>
public sealed class HierarchyTests
{
    private static readonly ProcessKey P = new(1000, 77);

    [Test]
    public void PopulatedPropagatesUpAndNotifiesEachFlip()
    {
        var h = EngineHarness.New();
        var a = h.Mkdir(h.Root, "A");
        var b = h.Mkdir(a, "B");
        var changes = new List<Change>();
        h.Changed += changes.AddRange;
        Assert.That(h.Do(() => h.MigrateProcessLocked(P, b, EngineHarness.Yes)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => (h.EventsLocked(a).Populated, h.EventsLocked(b).Populated)), Is.EqualTo((true, true)));
        Assert.That(changes, Is.EqualTo(new[] { new Change(b, Notifier.CgroupEvents), new Change(a, Notifier.CgroupEvents) }));
        changes.Clear();
        h.Do(() => { h.ExitLocked(P); return 0; });
        Assert.That(h.Do(() => h.EventsLocked(a).Populated), Is.False);
        Assert.That(changes, Has.Count.EqualTo(2));
    }

    [Test]
    public void MovingAProcessWhereItAlreadyIsChangesAndNotifiesNothing()
    {
        var h = EngineHarness.New();
        var a = h.Mkdir(h.Root, "A");
        h.Do(() => h.MigrateProcessLocked(P, a, EngineHarness.Yes));
        var changes = new List<Change>();
        h.Changed += changes.AddRange;
        Assert.That(h.Do(() => h.MigrateProcessLocked(P, a, EngineHarness.Yes)), Is.EqualTo(Errno.Ok));
        Assert.That(changes, Is.Empty);
        Assert.That(h.Do(() => (h.EventsLocked(a).Populated, h.CgroupOfLocked(P.Pid))), Is.EqualTo((true, a)));
    }

    [Test]
    public void ForkIsBornWhereTheParentIsAndPidReuseIsDetected()
    {
        var h = EngineHarness.New();
        var a = h.Mkdir(h.Root, "A");
        h.Do(() => h.MigrateProcessLocked(P, a, EngineHarness.Yes));
        var child = new ProcessKey(1001, 90);
        h.Do(() => { h.ForkLocked(P.Pid, P.Pid, child); return 0; });
        Assert.That(h.Do(() => h.CgroupOfLocked(child.Pid)), Is.SameAs(a));
        Assert.That(h.Do(() => h.RecordedProcsLocked(a)), Is.EquivalentTo(new[] { P.Pid, child.Pid }));
        h.Do(() => { h.ExitLocked(new ProcessKey(child.Pid, 12345)); return 0; });
        Assert.That(h.Do(() => h.IsMemberLocked(child.Pid)), Is.True, "an exit of another process with the same pid changes nothing");
        h.Do(() => { h.ExitLocked(child); return 0; });
        Assert.That(h.Do(() => h.IsMemberLocked(child.Pid)), Is.False);
        var reused = new ProcessKey(P.Pid, 999);
        Assert.That(h.Do(() => h.MigrateProcessLocked(reused, h.Root, g => g.IsRoot)), Is.EqualTo(Errno.Ok),
            "a recycled pid is not the recorded process: its source is the root");
        Assert.That(h.Do(() => h.EventsLocked(a).Populated), Is.False);
    }

    [Test]
    public void MigrationPermissionIsCheckedAtTheCommonAncestor()
    {
        var h = EngineHarness.New();
        var d = h.Mkdir(h.Root, "D");
        var x = h.Mkdir(d, "x");
        var y = h.Mkdir(d, "y");
        var o = h.Mkdir(h.Root, "O");
        h.Do(() => h.MigrateProcessLocked(P, x, EngineHarness.Yes));
        var asked = new List<Cgroup>();
        Assert.That(h.Do(() => h.MigrateProcessLocked(P, y, g => { asked.Add(g); return g == d; })), Is.EqualTo(Errno.Ok));
        Assert.That(asked, Is.EqualTo(new[] { d }));
        Assert.That(h.Do(() => h.MigrateProcessLocked(P, o, g => g == d)), Is.EqualTo(Errno.EACCES));
        Assert.That(Hierarchy.CommonAncestor(y, y), Is.SameAs(y));
        Assert.That(Hierarchy.CommonAncestor(y, x), Is.SameAs(d));
        Assert.That(Hierarchy.CommonAncestor(y, d), Is.SameAs(d));
    }

    [Test]
    public void RmdirRules()
    {
        var h = EngineHarness.New();
        var a = h.Mkdir(h.Root, "A");
        var b = h.Mkdir(a, "B");
        Assert.That(h.Do(() => h.RmdirLocked(a)), Is.EqualTo(Errno.EBUSY));
        Assert.That(h.Do(() => h.RmdirLocked(h.Root)), Is.EqualTo(Errno.EBUSY));
        h.Do(() => h.MigrateProcessLocked(P, b, EngineHarness.Yes));
        Assert.That(h.Do(() => h.RmdirLocked(b)), Is.EqualTo(Errno.EBUSY));
        h.Do(() => { h.ExitLocked(P); return 0; });
        Assert.That(h.Do(() => h.RmdirLocked(b)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.SnapshotLocked(h.Root).NrDescendants), Is.EqualTo(1));
        Assert.That(h.Do(() => h.MkdirLocked(b, "C", out _)), Is.EqualTo(Errno.ENOENT), "a removed parent");
    }

    [Test]
    public void FreezeIsEffectiveDownTheSubtreeAndAccumulatesTime()
    {
        var h = EngineHarness.New();
        var a = h.Mkdir(h.Root, "A");
        var b = h.Mkdir(a, "B");
        h.Do(() => h.SetFreezeLocked(a, true));
        Assert.That(h.Do(() => (h.EventsLocked(b).Frozen, h.SettingsLocked(b).FreezeSelf)), Is.EqualTo((true, false)));
        Thread.Sleep(20);
        h.Do(() => h.SetFreezeLocked(a, false));
        long usec = h.Do(() => h.FrozenUsecLocked(b));
        Assert.That(usec, Is.GreaterThanOrEqualTo(20_000));
        Thread.Sleep(10);
        Assert.That(h.Do(() => h.FrozenUsecLocked(b)), Is.EqualTo(usec), "thawed: no more time accrues");
    }
}
