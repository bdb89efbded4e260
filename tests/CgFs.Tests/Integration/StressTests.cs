using System.Text;
using CgFs.Accounting;
using CgFs.Tests.Accounting;
using CgFs.Control;
using CgFs.Tree;

namespace CgFs.Tests.Integration;

/// <summary>
/// Reliability under fuzz, storms and kills. `make test` runs these reduced; `make stress`
/// (CGFS_STRESS=full) runs the full sizes: 10^5 fuzzed writes, 8 × 10^5 engine operations,
/// 1,000 SIGKILLed holders.
/// </summary>
[Category("Stress")]
[NonParallelizable]
public sealed class StressTests
{
    private static bool Full => StressSize.Full;
    private static int Scale(int reduced, int full) => StressSize.Scale(reduced, full);

    /// <summary>The errnos the spec allows from each writable file (besides E2BIG over a page).</summary>
    private static readonly Dictionary<string, Errno[]> Allowed = new()
    {
        ["cgroup.subtree_control"] = [Errno.EINVAL, Errno.ENOENT, Errno.EBUSY, Errno.EOPNOTSUPP],
        ["cgroup.procs"] = [Errno.EINVAL, Errno.ESRCH, Errno.EBUSY, Errno.EOPNOTSUPP, Errno.EACCES],
        ["cgroup.threads"] = [Errno.EINVAL, Errno.ESRCH, Errno.EBUSY, Errno.EOPNOTSUPP, Errno.EACCES],
        ["cgroup.type"] = [Errno.EINVAL, Errno.EOPNOTSUPP],
        ["cgroup.max.descendants"] = [Errno.EINVAL, Errno.ERANGE],
        ["cgroup.max.depth"] = [Errno.EINVAL, Errno.ERANGE],
        ["cgroup.freeze"] = [Errno.EINVAL, Errno.ERANGE],
        ["cgroup.pressure"] = [Errno.EINVAL, Errno.ERANGE],
        ["cpu.pressure"] = [Errno.EINVAL],
        ["io.pressure"] = [Errno.EINVAL],
        ["memory.pressure"] = [Errno.EINVAL],
        ["rdma.max"] = [Errno.EINVAL, Errno.ENODEV],
        ["rdma.current"] = [Errno.EINVAL, Errno.ENODEV, Errno.EAGAIN],
        ["misc.max"] = [Errno.EINVAL, Errno.ERANGE],
        ["misc.current"] = [Errno.EINVAL, Errno.EBUSY, Errno.ERANGE],
    };

    private static readonly string[] Seeds =
    [
        "+rdma", "-misc", "+rdma +misc", "threaded", "max", "5", "0x10", "010", "1", "0", "-1", "2147483648",
        "mlx5_0 hca_handle=2 hca_object=max", "mlx5_0 hca_object=+1", "mlx5_0 hca_handle=-1", "rxe0 hca_handle=08",
        "sev 5", "sev max", "sev +1", "sev -1", "tdx 18446744073709551616", "some 150000 1000000", "  ", "\n",
    ];

    private static byte[] Mutate(Random r)
    {
        var s = Encoding.Latin1.GetBytes(Seeds[r.Next(Seeds.Length)]).ToList();
        int edits = r.Next(0, 4);
        for (int i = 0; i < edits; i++)
        {
            int at = s.Count == 0 ? 0 : r.Next(s.Count);
            switch (r.Next(4))
            {
                case 0: s.Insert(at, (byte)r.Next(256)); break;
                case 1: if (s.Count > 0) s.RemoveAt(at); break;
                case 2: if (s.Count > 0) s[at] = (byte)" \t\n0123456789abcdefmx+-=_.%"[r.Next(27)]; break;
                case 3: s.InsertRange(at, Encoding.Latin1.GetBytes(Seeds[r.Next(Seeds.Length)])); break;
            }
        }
        if (r.Next(50) == 0)
            return Enumerable.Range(0, r.Next(1, 6000)).Select(_ => (byte)r.Next(256)).ToArray();
        return s.ToArray();
    }

    /// <summary>What a rejected write must leave unchanged: every readable file of the tree.</summary>
    private static SortedDictionary<string, string> Observe(string root) =>
        new(Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("cgroup.kill") && !f.EndsWith("cgroup.stat.local") && !f.EndsWith("cgroup.procs") && !f.EndsWith("cgroup.threads"))
            .ToDictionary(f => f, Native.ReadFile), StringComparer.Ordinal);

    /// <summary>A refused charge (EBUSY/EAGAIN from a *.current shortcut) is the exception the spec
    /// makes: it records events, and misc may raise a lower level's peak. Everything else must hold.</summary>
    private static string[] Unchanged(SortedDictionary<string, string> tree, bool refusedCharge) =>
        tree.Where(kv => !refusedCharge || !(kv.Key.Contains(".events") || kv.Key.EndsWith(".peak")))
            .Select(kv => $"{kv.Key}={kv.Value}").ToArray();

    [Test]
    public void FuzzedWritesNeverCrashAndRejectedOnesChangeNothing()
    {
        using var m = new Mount("--rdma-device", "mlx5_0", "--rdma-device", "rxe0", "--misc", "sev=10", "--misc", "tdx=4");
        Assert.That(m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir -p A/B C && echo '+rdma +misc' > A/cgroup.subtree_control").Code, Is.Zero);
        var r = new Random(Full ? Environment.TickCount : 4242);
        var targets = Directory.EnumerateFiles(m.MountPoint, "*", SearchOption.AllDirectories)
            .Where(f => Allowed.ContainsKey(Path.GetFileName(f)) || Path.GetFileName(f) is "cgroup.controllers" or "cgroup.stat" or "rdma.peak" or "misc.capacity")
            .ToArray();
        int writes = Scale(3_000, 100_000), rejected = 0, checkedRejections = 0;
        for (int i = 0; i < writes; i++)
        {
            var file = targets[r.Next(targets.Length)];
            if (!File.Exists(file))
                continue;
            var data = Mutate(r);
            // One write in 16 is checked in full: the whole tree before and after.
            var before = i % 16 == 0 ? Observe(m.MountPoint) : null;
            var e = Native.WriteFile(file, data);
            if (e == Errno.Ok)
                continue;
            rejected++;
            var name = Path.GetFileName(file);
            var allowed = Allowed.GetValueOrDefault(name, [Errno.EINVAL]);
            Assert.That(e == Errno.E2BIG ? data.Length > 4096 : allowed.Contains(e), Is.True,
                $"{name} <- {Convert.ToHexString(data)[..Math.Min(80, data.Length * 2)]}: {e}");
            if (before is not null)
            {
                bool refusedCharge = name.EndsWith(".current") && e is Errno.EBUSY or Errno.EAGAIN;
                Assert.That(Unchanged(Observe(m.MountPoint), refusedCharge), Is.EqualTo(Unchanged(before, refusedCharge)),
                    $"rejected write {name} <- '{Encoding.Latin1.GetString(data)}' ({e}) changed the tree");
                checkedRejections++;
            }
        }
        Assert.That(m.Daemon.HasExited, Is.False, "the daemon survived");
        Assert.That(m.Log, Does.Not.Contain("bug:"), "no handler threw");
        Assert.That(rejected, Is.GreaterThan(writes / 4));
        TestContext.Out.WriteLine($"{writes} writes, {rejected} rejected, {checkedRejections} rejections compared in full");
    }

    [Test]
    public void EightConcurrentWorkersKeepTheEngineConsistent()
    {
        var h = EngineHarness.New();
        var devices = h.Run(() => new[] { h.Rdma.RegisterLocked("d0"), h.Rdma.RegisterLocked("d1") });
        var sev = h.Run(() => h.Misc.SetCapacityLocked("sev", 1000));
        h.Run(() => h.WriteSubtreeControlLocked(h.Root, h.AllControllers, ControllerMask.None));
        var top = h.Run(() => { h.MkdirLocked(h.Root, "top", out var t); h.WriteSubtreeControlLocked(t!, h.AllControllers, ControllerMask.None); return t!; });
        int ops = Scale(5_000, 100_000);
        var failures = new List<string>();
        var threads = Enumerable.Range(0, 8).Select(w => new Thread(() =>
        {
            var r = new Random(w);
            var mine = new List<Cgroup>();
            var rdma = new List<RdmaCharge>();
            var misc = new List<MiscCharge>();
            for (int i = 0; i < ops; i++)
            {
                int k = r.Next(7);
                h.Run(() =>
                {
                    var c = mine.Count > 0 && r.Next(3) > 0 ? mine[r.Next(mine.Count)] : top;
                    switch (k)
                    {
                        case 0:
                            if (h.MkdirLocked(c, $"w{w}-{i}", out var child) == Errno.Ok)
                                mine.Add(child!);
                            break;
                        case 1:
                            if (c != top && h.RmdirLocked(c) == Errno.Ok)
                                mine.Remove(c);
                            break;
                        case 2:
                            if (h.Rdma.TryChargeLocked((RdmaState)h.EffectiveStateLocked(c, h.Rdma), devices[r.Next(2)], (RdmaResource)r.Next(2), 1, out var rc) == Errno.Ok)
                                rdma.Add(rc!);
                            break;
                        case 3:
                            if (h.Misc.TryChargeLocked((MiscState)h.EffectiveStateLocked(c, h.Misc), sev, (ulong)r.Next(1, 4), out var mc) == Errno.Ok)
                                misc.Add(mc!);
                            break;
                        case 4:
                            if (rdma.Count > 0) { int j = r.Next(rdma.Count); rdma[j].UnchargeLocked(); rdma.RemoveAt(j); }
                            if (misc.Count > 0) { int j = r.Next(misc.Count); misc[j].UnchargeLocked(); misc.RemoveAt(j); }
                            break;
                        case 5:
                            if (h.StateLocked(c, h.Rdma) is RdmaState s && !c.IsRoot)
                                h.Rdma.SetMaxLocked(s, devices[r.Next(2)], r.Next(2) == 0 ? int.MaxValue : r.Next(20), null);
                            break;
                        case 6:
                            if (h.StateLocked(c, h.Misc) is MiscState ms)
                                h.Misc.SetMaxLocked(ms, sev, r.Next(2) == 0 ? ulong.MaxValue : (ulong)r.Next(50));
                            break;
                    }
                    return 0;
                });
            }
            h.Run(() =>
            {
                foreach (var c in rdma) c.UnchargeLocked();
                foreach (var c in misc) c.UnchargeLocked();
                return 0;
            });
        })).ToArray();
        foreach (var t in threads)
            t.Start();
        foreach (var t in threads)
            Assert.That(t.Join(TimeSpan.FromMinutes(10)), Is.True);
        var leftovers = h.Run(() => h.AllStatesLocked().Where(s => s is RdmaState r ? r.HasUsageLocked : ((MiscState)s).HasUsageLocked).Select(s => s.Cgroup.ToString()).ToList());
        Assert.That(leftovers, Is.Empty, "every state returned to zero usage once all charges were released");
        Assert.That(h.Run(() => h.Misc.RowsLocked((MiscState)h.StateLocked(h.Root, h.Misc)!)).Single(x => x.Name == "sev").Current, Is.Zero);
        Assert.That(h.Run(() => h.SnapshotLocked(h.Root).NrDescendants), Is.EqualTo(h.Run(() => h.DescendantsPreOrderLocked(h.Root).Count)));
    }

    [Test]
    public void SigkilledHoldersLeaveNoCharges()
    {
        using var m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=100000");
        Assert.That(m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir A").Code, Is.Zero);
        int holders = Scale(40, 1000);
        var hold = $"{Mount.Binary} hold --control {m.Control} --rdma mlx5_0:hca_handle=1,hca_object=2 --misc sev=1 -- sleep 300";
        var script = $$"""
            echo $$ > A/cgroup.procs
            for i in $(seq {{holders}}); do
              ( exec setsid {{hold}} ) > /dev/null 2>&1 < /dev/null &
              pid=$!
              ( sleep 0.$((RANDOM % 40)); kill -KILL -- -$pid 2>/dev/null || kill -KILL $pid ) &
              [ $((i % 20)) = 0 ] && wait
            done
            wait
            """;
        var r = m.Sh(script, timeoutMs: 900_000);
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(Wait.Until(() => m.Read("A/rdma.current") == "mlx5_0 hca_handle=0 hca_object=0 \n" && m.Read("A/misc.current") == "sev 0\n", 20_000), Is.True,
            $"charges left: {m.Read("A/rdma.current")} {m.Read("A/misc.current")}");
        Assert.That(m.Read("A/rdma.peak"), Is.Not.EqualTo("mlx5_0 hca_handle=0 hca_object=0 \n"), "some holders did charge before being killed");
    }

    [Test]
    public void ADelegateeCannotWriteOrMigrateOutsideItsSubtree()
    {
        using var m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=10");
        Assert.That(m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir -p D/x O/y && chown 65534:65534 D D/cgroup.procs D/cgroup.threads D/cgroup.subtree_control").Code, Is.Zero);
        using var s = new Sleeper();
        Assert.That(m.Write("D/x/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        var script = $$"""
            ok=0
            for f in $(find . -type f ! -path './D/*'); do
              for v in 1 0 max '+rdma' 'mlx5_0 hca_handle=9' 'sev 9' 'sev +1' threaded {{s.Pid}} $$; do
                if printf '%s' "$v" 2>/dev/null > "$f"; then ok=$((ok+1)); echo "wrote $f: $v"; fi
              done
            done
            for d in O O/y .; do echo {{s.Pid}} > $d/cgroup.procs 2>/dev/null && { ok=$((ok+1)); echo "migrated to $d"; }; done
            echo $$ > D/x/cgroup.procs 2>/dev/null && { ok=$((ok+1)); echo "moved itself in"; }
            mkdir O/z 2>/dev/null && { ok=$((ok+1)); echo "mkdir outside"; }
            rmdir O/y 2>/dev/null && { ok=$((ok+1)); echo "rmdir outside"; }
            echo "allowed=$ok"
            """;
        var r = m.Sh($"setpriv --reuid=65534 --regid=65534 --clear-groups bash -c {Quote(script)}", timeoutMs: 120_000);
        Assert.That(r.Out, Is.EqualTo("allowed=0\n"), r.ToString());
        Assert.That(m.Read("D/x/cgroup.procs"), Is.EqualTo($"{s.Pid}\n"));
        var inside = m.Sh($"setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'mkdir D/z && echo {s.Pid} > D/z/cgroup.procs'");
        Assert.That(inside.Code, Is.Zero, "inside its subtree it may do both");
    }

    [Test]
    public void RepeatedTermAndKillCyclesNeverLeaveAStaleMount()
    {
        int cycles = Scale(4, 30);
        for (int i = 0; i < cycles; i++)
        {
            var m = new Mount();
            Assert.That(m.Mkdir("A"), Is.EqualTo(Errno.Ok));
            Shell.Run($"kill -{(i % 2 == 0 ? "TERM" : "KILL")} {m.DaemonPid}");
            Assert.That(m.Daemon.WaitForExit(10_000), Is.True);
            Assert.That(Wait.Until(() => !CgFs.Fuse.Mounter.IsMounted(m.MountPoint)), Is.True, $"cycle {i}");
            Assert.That(Shell.Run($"ls {m.MountPoint}").Code, Is.Zero, "no 'Transport endpoint is not connected'");
            m.Dispose();
        }
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

}
