using System.Runtime.CompilerServices;
using CgFs.Accounting;
using FsCheck;
using FsCheck.Fluent;

namespace CgFs.Tests.Accounting;

/// <summary>The rdma engine (spec rdma.md 5–6): migration, hot-plug, properties, concurrency.</summary>
public sealed class RdmaControllerTests
{
    /// <summary>Device mlx5_0; root → A → A/B, with rdma enabled in the root and in A.</summary>
    private static (Hierarchy H, RdmaDevice Dev, Cgroup A, Cgroup B) Setup()
    {
        var h = EngineHarness.New();
        var dev = h.Do(() => h.Rdma.RegisterLocked("mlx5_0"));
        h.Enable(h.Root, h.RdmaBit);
        var a = h.Mkdir(h.Root, "A");
        h.Enable(a, h.RdmaBit);
        return (h, dev, a, h.Mkdir(a, "B"));
    }

    [Test]
    public void ChargesStayWhereTheyWereMadeWhenTheProcessMoves()  // E8, E9
    {
        var (h, dev, a, b) = Setup();
        var c = h.Mkdir(a, "C");
        h.Do(() => { h.Rdma.SetMaxLocked(h.RdmaOf(a), dev, 1, null); return 0; });
        var p = new ProcessKey(5, 5);
        h.Do(() => h.MigrateProcessLocked(p, b, EngineHarness.Yes));
        RdmaCharge? charge = null;
        Assert.That(h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(h.CgroupOfLocked(5)), dev, RdmaResource.HcaHandle, 1, out charge)), Is.EqualTo(Errno.Ok));
        h.Do(() => h.MigrateProcessLocked(p, c, EngineHarness.Yes));
        Assert.That(h.Row(h.RdmaOf(b), "mlx5_0").Current[0], Is.EqualTo(1));
        Assert.That(h.Row(h.RdmaOf(c), "mlx5_0").Current[0], Is.Zero);
        Assert.That(h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(h.CgroupOfLocked(5)), dev, RdmaResource.HcaHandle, 1, out _)), Is.EqualTo(Errno.EAGAIN));
        Assert.That(h.Row(h.RdmaOf(c), "mlx5_0").LocalAllocFail[0], Is.EqualTo(1UL));
        Assert.That(h.Row(h.RdmaOf(a), "mlx5_0").LocalMax[0], Is.EqualTo(1UL));
        h.Do(() => { charge!.UnchargeLocked(); return 0; });
        Assert.That(h.Row(h.RdmaOf(b), "mlx5_0").Current[0], Is.Zero);
        Assert.That(h.Row(h.RdmaOf(a), "mlx5_0").Current[0], Is.Zero);
    }

    [Test]
    public void UnregisterDiscardsEverythingAndReRegisterAppends()  // E11, E12
    {
        var h = EngineHarness.New();
        var mlx = h.Do(() => h.Rdma.RegisterLocked("mlx5_0"));
        h.Do(() => h.Rdma.RegisterLocked("rxe0"));
        h.Enable(h.Root, h.RdmaBit);
        var a = h.Mkdir(h.Root, "A");
        h.Do(() => { h.Rdma.SetMaxLocked(h.RdmaOf(a), mlx, 3, 4); return 0; });
        RdmaCharge? charge = null;
        h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(a), mlx, RdmaResource.HcaObject, 1, out charge) == Errno.Ok);
        Assert.That(h.Do(() => h.Rdma.UnregisterLocked(mlx)), Is.EqualTo(Errno.EBUSY), "held charges are never dropped");
        h.Do(() => { charge!.UnchargeLocked(); return 0; });
        Assert.That(h.Do(() => h.Rdma.UnregisterLocked(mlx)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.Rdma.RowsLocked(h.RdmaOf(a))).Select(r => r.Device), Is.EqualTo(new[] { "rxe0" }));
        Assert.That(mlx.StatesWithPools, Is.Empty);
        var again = h.Do(() => h.Rdma.RegisterLocked("mlx5_0"));
        var rows = h.Do(() => h.Rdma.RowsLocked(h.RdmaOf(a)));
        Assert.That(rows.Select(r => r.Device), Is.EqualTo(new[] { "rxe0", "mlx5_0" }));
        Assert.That((rows[1].Max[0], rows[1].Peak[1]), Is.EqualTo((int.MaxValue, 0)));
        Assert.That(h.Do(() => h.Rdma.FindLocked("mlx5_0")), Is.SameAs(again));
    }

    [Test]
    public void ARenamedDeviceKeepsItsPlaceLimitsChargesPeaksAndEvents()
    {
        var (h, dev, a, b) = Setup();
        var rxe = h.Do(() => h.Rdma.RegisterLocked("rxe0"));
        h.Do(() => { h.Rdma.SetMaxLocked(h.RdmaOf(a), dev, 2, null); return 0; });
        RdmaCharge? charge = null;
        h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(b), dev, RdmaResource.HcaHandle, 2, out charge));
        Assert.That(h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(b), dev, RdmaResource.HcaHandle, 1, out _)), Is.EqualTo(Errno.EAGAIN));
        var before = h.Row(h.RdmaOf(a), "mlx5_0");
        Assert.That(h.Do(() => h.Rdma.RenameLocked(dev, "rxe0")), Is.EqualTo(Errno.EEXIST), "another device has the name");
        Assert.That(h.Do(() => h.Rdma.RenameLocked(dev, "mlx5_9")), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.Rdma.FindLocked("mlx5_0")), Is.Null, "the old name is gone");
        Assert.That(h.Do(() => h.Rdma.FindLocked("mlx5_9")), Is.SameAs(dev));
        Assert.That(h.Do(() => h.Rdma.RowsLocked(h.RdmaOf(a))).Select(r => r.Device), Is.EqualTo(new[] { "mlx5_9", "rxe0" }));
        var after = h.Row(h.RdmaOf(a), "mlx5_9");
        Assert.That((after.Max, after.Current, after.Peak, after.EventsMax, after.LocalMax),
            Is.EqualTo((before.Max, before.Current, before.Peak, before.EventsMax, before.LocalMax)));
        h.Do(() => { charge!.UnchargeLocked(); return 0; });
        Assert.That(h.Row(h.RdmaOf(a), "mlx5_9").Current[0], Is.Zero, "the charge made before the rename is released from the same pools");
        Assert.That(h.Do(() => h.Rdma.RenameLocked(dev, "mlx5_0")), Is.EqualTo(Errno.Ok));
        Assert.That(h.Row(h.RdmaOf(a), "mlx5_0").Max[0], Is.EqualTo(2), "renamed back: the same limits");
        h.Do(() => h.Rdma.UnregisterLocked(rxe));
        Assert.That(h.Do(() => h.Rdma.RenameLocked(rxe, "rxe1")), Is.EqualTo(Errno.ENODEV), "an unregistered device cannot be renamed");
    }

    [Test]
    public void AVendorResourceChargesHierarchicallyAndAFailureLeavesTheOthersUnchanged()
    {
        var h = EngineHarness.New();
        var dev = h.Do(() => h.Rdma.RegisterLocked("mlx5_0", ["qp", "mr"]));
        h.Enable(h.Root, h.RdmaBit);
        var a = h.Mkdir(h.Root, "A");
        h.Enable(a, h.RdmaBit);
        var b = h.Mkdir(a, "B");
        var qp = (RdmaResource)2;
        h.Do(() => { h.Rdma.SetMaxLocked(h.RdmaOf(a), dev, [null, null, 3, null]); return 0; });
        h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(b), dev, RdmaResource.HcaHandle, 1, out _));
        Assert.That(h.Do(() => h.Rdma.TryChargeUnitsLocked(h.RdmaOf(b), dev, qp, 2, out _)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.Rdma.TryChargeUnitsLocked(h.RdmaOf(b), dev, qp, 2, out _)), Is.EqualTo(Errno.EAGAIN), "3 in A");
        var rowA = h.Row(h.RdmaOf(a), "mlx5_0");
        Assert.That((rowA.Current, rowA.Max[2], rowA.Peak[2], rowA.EventsMax[2], rowA.LocalMax[2]),
            Is.EqualTo((new[] { 1, 0, 2, 0 }, 3, 3, 1UL, 1UL)), "the refused unit rolled back; the peak saw the third");
        var rowB = h.Row(h.RdmaOf(b), "mlx5_0");
        Assert.That((rowB.Current, rowB.EventsAllocFail[2], rowB.EventsAllocFail[0]), Is.EqualTo((new[] { 1, 0, 2, 0 }, 1UL, 0UL)));
        Assert.That(rowB.Extra, Is.EqualTo(new[] { "qp", "mr" }));
        Assert.That(h.Do(() => h.Rdma.TryChargeLocked(h.RdmaOf(b), dev, (RdmaResource)4, 1, out _)), Is.EqualTo(Errno.EINVAL), "no fifth resource");
        Assert.Throws<ArgumentException>(() => h.Do(() => h.Rdma.RegisterLocked("big", [.. Enumerable.Range(0, 63).Select(i => $"r{i}")])));
    }

    [Test]
    public void TheShortcutChargesLikeUnitChargesAllOrNothing()
    {
        var (h, dev, a, b) = Setup();
        h.Do(() => { h.Rdma.SetMaxLocked(h.RdmaOf(a), dev, null, 3); return 0; });
        Assert.That(h.Do(() => h.Rdma.ApplyShortcutLocked(h.RdmaOf(b), dev, RdmaResource.HcaObject, 1)), Is.EqualTo(Errno.Ok));
        Assert.That(h.Do(() => h.Rdma.ApplyShortcutLocked(h.RdmaOf(b), dev, RdmaResource.HcaObject, 5)), Is.EqualTo(Errno.EAGAIN));
        var (rb, ra) = (h.Row(h.RdmaOf(b), "mlx5_0"), h.Row(h.RdmaOf(a), "mlx5_0"));
        Assert.That((rb.Current[1], ra.Current[1]), Is.EqualTo((1, 1)), "nothing of the refused write stays charged");
        Assert.That((rb.Peak[1], ra.Peak[1]), Is.EqualTo((3, 3)), "units 2 and 3 were charged before unit 4 was refused");
        Assert.That((ra.LocalMax[1], rb.LocalAllocFail[1], ra.EventsAllocFail[1]), Is.EqualTo((1UL, 1UL, 1UL)), "one refusal");
        Assert.That(h.Do(() => h.Rdma.ApplyShortcutLocked(h.RdmaOf(b), dev, RdmaResource.HcaHandle, int.MaxValue - 1)), Is.EqualTo(Errno.Ok),
            "a huge delta under no limit is one step, not billions");
        Assert.That(h.Do(() => h.Rdma.ApplyShortcutLocked(h.RdmaOf(b), dev, RdmaResource.HcaHandle, -(int.MaxValue - 1))), Is.EqualTo(Errno.Ok));
    }

    [Test]
    public void ExactlyMaxConcurrentChargesSucceed()
    {
        var (h, dev, a, _) = Setup();
        var state = h.RdmaOf(a);
        h.Do(() => { h.Rdma.SetMaxLocked(state, dev, 100, null); return 0; });
        int ok = 0, busy = 0;
        var threads = Enumerable.Range(0, 8).Select(n => new Thread(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                var e = h.Run(() => h.Rdma.TryChargeLocked(state, dev, RdmaResource.HcaHandle, 1, out _));
                Interlocked.Increment(ref e == Errno.Ok ? ref ok : ref busy);
            }
        })).ToArray();
        foreach (var t in threads)
            t.Start();
        foreach (var t in threads)
            Assert.That(t.Join(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That((ok, busy), Is.EqualTo((100, 8 * 2000 - 100)));
        Assert.That(h.Row(state, "mlx5_0").Current[0], Is.EqualTo(100));
        Assert.That(h.Row(state, "mlx5_0").LocalMax[0], Is.EqualTo((ulong)busy));
    }

    /// <summary>One random operation: kind, and three selectors interpreted modulo what exists.</summary>
    public readonly record struct Op(int Kind, int A, int B, int C);

    private static readonly Gen<Op> Ops =
        from k in Gen.Choose(0, 7)
        from a in Gen.Choose(0, 1000)
        from b in Gen.Choose(0, 1000)
        from c in Gen.Choose(0, 1000)
        select new Op(k, a, b, c);

    [Test]
    public void InvariantsHoldAfterAnySequence() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Ops).Select(l => l.ToArray())),
                (Op[] ops) => RunModel(ops) is { } why ? throw new AssertionException(why) : true)
            .Check(Config.QuickThrowOnFailure.WithMaxTest(300));

    /// <summary>Applies the ops and checks, after each: usage = Σ live charges of the subtree; a
    /// successful charge left every level within its limit; a failed one changed no usage; idle pools are gone.</summary>
    private static string? RunModel(Op[] ops)
    {
        var h = EngineHarness.New();
        h.Enable(h.Root, h.RdmaBit);
        var cgroups = new List<Cgroup> { h.Root };
        var devices = new List<RdmaDevice> { h.Do(() => h.Rdma.RegisterLocked("d0")) };
        var charges = new List<RdmaCharge>();
        int nextDevice = 1, nextName = 0;
        foreach (var op in ops)
        {
            var c = cgroups[op.A % cgroups.Count];
            switch (op.Kind)
            {
                case 0:
                    var child = h.Mkdir(c, $"c{nextName++}");
                    cgroups.Add(child);
                    if (op.C % 2 == 0)
                        h.Enable(c, h.RdmaBit);
                    break;
                case 1:
                    if (!c.IsRoot && h.Do(() => h.RmdirLocked(c)) == Errno.Ok)
                        cgroups.Remove(c);
                    break;
                case 2:
                case 3:
                    if (devices.Count == 0)
                        break;
                    var state = h.RdmaOf(c);
                    var dev = devices[op.B % devices.Count];
                    var res = (RdmaResource)(op.C % 2);
                    var before = Usages(h);
                    var e = h.Do(() => h.Rdma.TryChargeLocked(state, dev, res, 1 + op.C % 3, out var ch) is var err && err == Errno.Ok ? (err, ch) : (err, null));
                    if (e.Item1 == Errno.Ok)
                    {
                        charges.Add(e.Item2!);
                        for (ControllerState? l = state; l is not null; l = l.Parent)
                        {
                            var pool = ((RdmaState)l).Pools[dev];
                            if (pool.Usage[(int)res] > pool.Limit[(int)res])
                                return $"{op}: a successful charge left {l.Cgroup} over its limit";
                        }
                    }
                    else if (e.Item1 != Errno.EAGAIN || !Usages(h).SequenceEqual(before))
                        return $"{op}: a failed charge ({e.Item1}) changed usage";
                    break;
                case 4:
                    if (charges.Count == 0)
                        break;
                    var uc = charges[op.B % charges.Count];
                    charges.Remove(uc);
                    h.Do(() => { uc.UnchargeLocked(); return 0; });
                    break;
                case 5:
                    if (c.IsRoot || devices.Count == 0 || h.Do(() => h.StateLocked(c, h.Rdma)) is not RdmaState own)
                        break;
                    int? limit = op.C % 4 == 0 ? int.MaxValue : op.C % 5;
                    h.Do(() => { h.Rdma.SetMaxLocked(own, devices[op.B % devices.Count], op.B % 2 == 0 ? limit : null, limit); return 0; });
                    break;
                case 6:
                    devices.Add(h.Do(() => h.Rdma.RegisterLocked($"d{nextDevice++}")));
                    break;
                case 7:
                    if (devices.Count == 0)
                        break;
                    var victim = devices[op.B % devices.Count];
                    bool held = charges.Any(ch => ch.Device == victim);
                    var r = h.Do(() => h.Rdma.UnregisterLocked(victim));
                    if (r != (held ? Errno.EBUSY : Errno.Ok))
                        return $"{op}: unregister with held={held} gave {r}";
                    if (r == Errno.Ok)
                        devices.Remove(victim);
                    break;
            }
            if (Inconsistency(h, charges) is { } why)
                return $"after {op}: {why}";
        }
        return null;
    }

    /// <summary>Non-zero usages by (state, device, resource); a failed charge may add pools for its events.</summary>
    private static List<string> Usages(Hierarchy h) => h.Do(() =>
        h.AllStatesLocked().OfType<RdmaState>()
            .SelectMany(s => s.Pools.SelectMany(p => Enumerable.Range(0, 2).Where(r => p.Value.Usage[r] != 0)
                .Select(r => $"{s.Cgroup.Id}/{RuntimeHelpers.GetHashCode(s)}/{p.Key.Name}/{r}={p.Value.Usage[r]}")))
            .OrderBy(x => x, StringComparer.Ordinal).ToList());

    private static string? Inconsistency(Hierarchy h, List<RdmaCharge> charges) => h.Do(() =>
    {
        foreach (var s in h.AllStatesLocked().OfType<RdmaState>())
        {
            foreach (var (dev, pool) in s.Pools)
            {
                if (pool.IsDefault)
                    return $"idle pool of {dev.Name} kept in {s.Cgroup}";
                for (int r = 0; r < 2; r++)
                {
                    long expected = charges.Where(ch => ch.Device == dev && (int)ch.Resource == r && IsUnder(ch.State, s)).Sum(ch => (long)ch.Amount);
                    if (pool.Usage[r] != expected)
                        return $"{s.Cgroup} {dev.Name}[{r}] usage {pool.Usage[r]}, live charges {expected}";
                }
            }
            foreach (var ch in charges.Where(ch => IsUnder(ch.State, s)))
                if (!s.Pools.ContainsKey(ch.Device))
                    return $"{s.Cgroup} lost the pool of {ch.Device.Name} while charged";
        }
        return (string?)null;
    });

    private static bool IsUnder(ControllerState s, ControllerState ancestor)
    {
        for (ControllerState? l = s; l is not null; l = l.Parent)
            if (ReferenceEquals(l, ancestor))
                return true;
        return false;
    }
}
