using CgFs.Accounting;
using FsCheck;
using FsCheck.Fluent;

namespace CgFs.Tests.Accounting;

/// <summary>The misc engine (spec misc.md 4–6): capacities, migration, dynamic and follow types.</summary>
public sealed class MiscControllerTests
{
    private static (Hierarchy H, Cgroup A, Cgroup B, Cgroup C, MiscType Sev) Setup()
    {
        var h = EngineHarness.New();
        var sev = h.Do(() => h.Misc.SetCapacityLocked("sev", 10));
        h.Enable(h.Root, h.MiscBit);
        var a = h.Mkdir(h.Root, "A");
        h.Enable(a, h.MiscBit);
        return (h, a, h.Mkdir(a, "B"), h.Mkdir(h.Root, "C"), sev);
    }

    [Test]
    public void DefaultChargesStayWhenTheProcessMoves()  // X10
    {
        var (h, a, b, c, sev) = Setup();
        var p = new ProcessKey(7, 7);
        h.Do(() => h.MigrateProcessLocked(p, b, EngineHarness.Yes));
        MiscCharge? charge = null;
        Assert.That(h.Do(() => h.Misc.ChargeAsProcessLocked(7, sev, 2, out charge)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.MigrateProcessLocked(p, c, EngineHarness.Yes)), Is.EqualTo(Errno.Ok));
        Assert.That((h.Row(h.MiscOf(b), "sev").Current, h.Row(h.MiscOf(c), "sev").Current), Is.EqualTo((2UL, 0UL)));
        h.Do(() => { charge!.UnchargeLocked(); return 0; });
        Assert.That((h.Row(h.MiscOf(b), "sev").Current, h.Row(h.MiscOf(a), "sev").Current, h.Row(h.MiscOf(h.Root), "sev").Current), Is.EqualTo((0UL, 0UL, 0UL)));
    }

    [Test]
    public void CapacityCanDropBelowUsageAndToZero()  // X11, M19
    {
        var (h, a, b, _, sev) = Setup();
        h.Do(() => h.Misc.TryChargeLocked(h.MiscOf(b), sev, 2, out _));
        h.Do(() => h.Misc.SetCapacityLocked("sev", 1));
        Assert.That(h.Do(() => h.Misc.TryChargeLocked(h.MiscOf(b), sev, 1, out _)), Is.EqualTo(Errno.EBUSY));
        Assert.That(h.Do(() => h.Misc.SetMaxLocked(h.MiscOf(a), sev, 3)), Is.EqualTo(Errno.Ok));
        h.Do(() => h.Misc.SetCapacityLocked("sev", 0));
        Assert.That(h.Do(() => h.Misc.SetMaxLocked(h.MiscOf(a), sev, 4)), Is.EqualTo(Errno.EINVAL));
        Assert.That(h.Do(() => h.Misc.TryChargeLocked(h.MiscOf(b), sev, 1, out _)), Is.EqualTo(Errno.EINVAL));
        h.Do(() => h.Misc.SetCapacityLocked("sev", 10));
        Assert.That(h.Row(h.MiscOf(a), "sev").Max, Is.EqualTo(3UL), "the stored limit reappears");
    }

    [Test]
    public void DynamicTypesAppendAndCannotBeRemovedWhileUsed()
    {
        var (h, _, b, _, _) = Setup();
        var ioasid = h.Do(() => h.Misc.SetCapacityLocked("ioasid", 64));
        Assert.That(h.Do(() => h.Misc.TypesLocked.Select(t => t.Name).ToArray()), Is.EqualTo(new[] { "sev", "sev_es", "tdx", "ioasid" }));
        MiscCharge? charge = null;
        h.Do(() => h.Misc.TryChargeLocked(h.MiscOf(b), ioasid, 1, out charge));
        Assert.That(h.Do(() => h.Misc.RemoveTypeLocked(ioasid)), Is.EqualTo(Errno.EBUSY));
        h.Do(() => { charge!.UnchargeLocked(); return 0; });
        Assert.That(h.Do(() => h.Misc.RemoveTypeLocked(ioasid)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.Misc.FindLocked("ioasid")), Is.Null);
        Assert.That(h.Do(() => h.Misc.RowsLocked(h.MiscOf(b))).Select(r => r.Name), Is.EqualTo(new[] { "sev", "sev_es", "tdx" }));
    }

    [Test]
    public void FollowChargesMoveWithTheirProcessOrVetoTheMove()
    {
        var (h, a, b, c, _) = Setup();
        var ioasid = h.Do(() => h.Misc.SetCapacityLocked("ioasid", 64, follow: true));
        var p = new ProcessKey(9, 9);
        h.Do(() => h.MigrateProcessLocked(p, b, EngineHarness.Yes));
        Assert.That(h.Do(() => h.Misc.ChargeAsProcessLocked(9, ioasid, 3, out _)), Is.EqualTo(Errno.Ok));
        h.Enable(c, h.MiscBit);
        var c1 = h.Mkdir(c, "C1");
        h.Do(() => h.Misc.SetMaxLocked(h.MiscOf(c1), ioasid, 2));
        Assert.That(h.Do(() => h.MigrateProcessLocked(p, c1, EngineHarness.Yes)), Is.EqualTo(Errno.EBUSY), "the can_attach veto");
        Assert.That(h.Do(() => h.CgroupOfLocked(9)), Is.SameAs(b));
        Assert.That(h.Row(h.MiscOf(b), "ioasid").Current, Is.EqualTo(3UL));
        Assert.That(h.Row(h.MiscOf(c1), "ioasid").Events, Is.Zero, "a veto is not a failed charge");
        h.Do(() => h.Misc.SetMaxLocked(h.MiscOf(c1), ioasid, 3));
        Assert.That(h.Do(() => h.MigrateProcessLocked(p, c1, EngineHarness.Yes)), Is.EqualTo(Errno.Ok));
        Assert.That((h.Row(h.MiscOf(b), "ioasid").Current, h.Row(h.MiscOf(a), "ioasid").Current), Is.EqualTo((0UL, 0UL)));
        Assert.That((h.Row(h.MiscOf(c1), "ioasid").Current, h.Row(h.MiscOf(c), "ioasid").Current, h.Row(h.MiscOf(h.Root), "ioasid").Current),
            Is.EqualTo((3UL, 3UL, 3UL)));
    }

    [Test]
    public void UsageEqualsLiveChargesAndNeverExceedsLimits() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Gen.Choose(0, 99).Two()).Select(l => l.ToArray())),
                ((int, int)[] ops) => Run(ops) is { } why ? throw new AssertionException(why) : true)
            .Check(Config.QuickThrowOnFailure.WithMaxTest(300));

    /// <summary>Random charges, uncharges and limits over root → A → B and root → C.</summary>
    private static string? Run((int, int)[] ops)
    {
        var (h, a, b, c, sev) = Setup();
        var states = new[] { h.MiscOf(h.Root), h.MiscOf(a), h.MiscOf(b), h.MiscOf(c) };
        var charges = new List<MiscCharge>();
        ulong failures = 0;
        foreach (var (x, y) in ops)
        {
            var s = states[x % 4];
            switch (x % 3)
            {
                case 0:
                    var before = states.Select(st => h.Row(st, "sev").Current).ToArray();
                    var e = h.Do(() => h.Misc.TryChargeLocked(s, sev, (ulong)(y % 5), out var ch) is var r && r == Errno.Ok ? (r, ch) : (r, null));
                    if (e.Item1 == Errno.Ok && e.Item2 is not null)
                        charges.Add(e.Item2);
                    else if (e.Item1 == Errno.EBUSY)
                    {
                        failures++;
                        if (!states.Select(st => h.Row(st, "sev").Current).SequenceEqual(before))
                            return "a failed charge changed usage";
                    }
                    break;
                case 1:
                    if (charges.Count > 0)
                    {
                        var ch = charges[y % charges.Count];
                        charges.Remove(ch);
                        h.Do(() => { ch.UnchargeLocked(); return 0; });
                    }
                    break;
                case 2:
                    if (!s.Cgroup.IsRoot)
                        h.Do(() => h.Misc.SetMaxLocked(s, sev, y % 7 == 0 ? ulong.MaxValue : (ulong)(y % 9)));
                    break;
            }
            foreach (var st in states)
            {
                ulong expected = (ulong)charges.Where(ch => IsUnder(ch.State, st)).Sum(ch => (long)ch.Amount);
                if (h.Row(st, "sev").Current != expected)
                    return $"{st.Cgroup}: usage {h.Row(st, "sev").Current} but live charges {expected}";
            }
        }
        // Each failure is credited once, locally at the level whose limit hit (invisible at the root),
        // and hierarchically there and above.
        var (ra, rb, rc) = (h.Row(states[1], "sev"), h.Row(states[2], "sev"), h.Row(states[3], "sev"));
        if (ra.EventsLocal + rb.EventsLocal + rc.EventsLocal > failures)
            return "more events than failures";
        if (ra.Events != ra.EventsLocal + rb.EventsLocal || rb.Events != rb.EventsLocal || rc.Events != rc.EventsLocal)
            return "hierarchical events differ from the sum of local events below";
        return null;
    }

    private static bool IsUnder(ControllerState s, ControllerState ancestor)
    {
        for (ControllerState? l = s; l is not null; l = l.Parent)
            if (ReferenceEquals(l, ancestor))
                return true;
        return false;
    }
}
