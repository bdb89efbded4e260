using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>
/// The journal decides first (issue 9): with --state on a filesystem that fills up
/// or loses the journal's directory, every refused operation fails with the write's errno and
/// changes nothing visible; writes work again once the condition is gone, without a restart; and
/// after kill -9 and a remount the tree is exactly what was acknowledged. The journal lives on a
/// small tmpfs of its own (mounted and unmounted by each test).
/// </summary>
[NonParallelizable]
public sealed class JournalFaultTests
{
    private string _dir = null!;
    private string Disk => Path.Combine(_dir, "disk");
    private string State => Path.Combine(Disk, "state.journal");

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("cgfs-fault-").FullName;
        Directory.CreateDirectory(Disk);
        Assert.That(Shell.Run($"mount -t tmpfs -o size=256k tmpfs '{Disk}'").Code, Is.Zero, "tmpfs for the journal");
    }

    /// <summary>Every mount a test started, stopped in teardown even when the test failed half-way.</summary>
    private readonly List<Mount> _mounts = new();

    [TearDown]
    public void TearDown()
    {
        foreach (var m in _mounts)
            m.Dispose();
        _mounts.Clear();
        Shell.Run($"umount -l '{Disk}'");
        Directory.Delete(_dir, recursive: true);
    }

    private Mount Start(string? state = null)
    {
        var m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=10", "--state", state ?? State);
        _mounts.Add(m);
        return m;
    }


    /// <summary>Everything a user can see: every file's bytes (but the root's membership, which is the
    /// host's, and frozen time, which runs), every entry's mode and owner, every extended attribute.</summary>
    private static string Observe(Mount m, bool restart = false)
    {
        var files = Directory.EnumerateFiles(m.MountPoint, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(m.MountPoint, f))
            .Where(f => f is not ("cgroup.procs" or "cgroup.threads") && !f.EndsWith("cgroup.stat.local") && !f.EndsWith("cgroup.kill"))
            // Peaks and event counters restart at 0 (documented): compared only while running.
            .Where(f => !restart || !(f.EndsWith(".peak") || f.Contains(".events")))
            .Order(StringComparer.Ordinal);
        var contents = string.Concat(files.Select(f => $"{f}: {Native.ReadFile(Path.Combine(m.MountPoint, f)).Replace("\n", "|")}\n"));
        var meta = m.Sh("find . -mindepth 1 | LC_ALL=C sort | xargs stat -c '%n %a %u %g' && getfattr -R -d -m - . 2>/dev/null").Out;
        return contents + meta;
    }

    private static void Fill(string disk) => Shell.Run($"dd if=/dev/zero of='{disk}/fill' bs=4k status=none; true");

    /// <summary>One operation of each journaled kind, as the i-th step of a run.</summary>
    private static string Op(Mount m, int i, int sleeper) => (i % 12) switch
    {
        0 => $"mkdir d{i}",
        1 => $"rmdir pre{i % 5}",
        2 => $"echo 'mlx5_0 hca_handle={i}' > A/rdma.max",
        3 => $"echo 'sev {i % 10}' > A/misc.max",
        4 => $"echo {(i % 24 < 12 ? "-misc" : "+misc")} > A/B/cgroup.subtree_control",
        5 => $"echo {sleeper} > A/{(i % 24 < 12 ? "C" : "B")}/cgroup.procs",
        6 => $"echo 'mlx5_0 hca_object=+1' > A/C/rdma.current",
        7 => i % 24 < 12 ? $"chmod {(i % 48 < 24 ? 700 : 750)} A/C" : $"chown {i} A/C/cgroup.procs",
        8 => $"setfattr -n user.k{i % 3} -v {i} A",
        9 => $"{Mount.Binary} ctl --control {m.Control} device add rxe{i}",
        10 => $"{Mount.Binary} ctl --control {m.Control} misc capacity sev {i % 7 + 3}",
        _ => $"{Mount.Binary} ctl --control {m.Control} device remove rxe{i - 2}",
    };

    private static void Prepare(Mount m)
    {
        Assert.That(m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir -p A/B A/C pre0 pre1 pre2 pre3 pre4 && " +
                         "echo '+rdma +misc' > A/cgroup.subtree_control").Code, Is.Zero);
    }

    [Test]
    public void AFullDiskRefusesChangesUnchangedAndKillNineKeepsWhatWasAcknowledged()
    {
        using var sleeper = new Sleeper();
        var m = Start();
        Prepare(m);
        Fill(Disk);
        // The journal's last page still has room: changes are acknowledged until it is used up.
        int slack = 0;
        while (slack < 500 && m.Write("A/cgroup.max.depth", (slack % 9 + 1).ToString()) == Errno.Ok)
            slack++;
        Assert.That(m.Write("A/cgroup.max.depth", "max"), Is.EqualTo(Errno.ENOSPC));
        int refused = 0, acknowledged = 0;
        var kinds = new HashSet<int>();
        var differences = new List<string>();
        for (int i = 0; i < 48; i++)
        {
            var before = Observe(m);
            var op = Op(m, i, sleeper.Pid);
            var r = m.Sh(op);
            if (r.Code == 0)
            {
                acknowledged++;
                continue;
            }
            refused++;
            // A step may also be refused by the kernel's own rules (the device it removes was never
            // added, the cgroup it removes is gone): unchanged all the same.
            if (r.Err.Contains("No space left on device"))
                kinds.Add(i % 12);
            var after = Observe(m);
            if (after != before)
                differences.Add($"{op}:\n{Diff(before, after)}");
        }
        TestContext.Out.WriteLine($"full disk: {slack} acknowledged before the last page was full; then {acknowledged} acknowledged, " +
                                  $"{refused} refused, {differences.Count} refused with a visible change");
        Assert.That(differences, Is.Empty);
        Assert.That(kinds, Has.Count.EqualTo(12), "every kind of journaled change was refused at least once");
        Assert.That(m.Read("A/misc.max"), Does.StartWith("sev "), "reads keep working");

        Shell.Run($"rm -f '{Disk}/fill'");
        Assert.That(m.Write("A/misc.max", "sev 7"), Is.EqualTo(Errno.Ok), "space again: writes succeed without a restart");
        Assert.That(m.Sh("mkdir after").Code, Is.Zero);
        var log = m.Log;
        Assert.That(log.Split('\n').Count(l => l.Contains("cannot record changes")), Is.EqualTo(1), "logged once:\n" + log);
        Assert.That(log, Does.Contain("recording changes again"));

        var acknowledgedState = Observe(m, restart: true);
        m.Kill9();
        var again = Start();
        Assert.That(Diff(acknowledgedState, Observe(again, restart: true)), Is.Empty);
    }

    [Test]
    public void AVanishedDirectoryRefusesWithEnoentUntilItIsBackThenTheJournalIsWholeAgain()
    {
        var sub = Path.Combine(Disk, "sub");
        Directory.CreateDirectory(sub);
        var state = Path.Combine(sub, "state.journal");
        var m = Start(state);
        Prepare(m);
        Directory.Delete(sub, recursive: true);
        var before = Observe(m);
        Assert.That(m.Write("A/misc.max", "sev 2"), Is.EqualTo(Errno.ENOENT), "acknowledging would lie: the journal is gone");
        Assert.That(Observe(m), Is.EqualTo(before));
        Directory.CreateDirectory(sub);
        Assert.That(m.Write("A/misc.max", "sev 2"), Is.EqualTo(Errno.Ok));
        Assert.That(File.Exists(state), Is.True, "rewritten from the live state");
        var acknowledged = Observe(m, restart: true);
        m.Kill9();
        var again = Start(state);
        Assert.That(Observe(again, restart: true), Is.EqualTo(acknowledged));
    }

    [Test]
    public void AnUnwritableOrUncompactableJournalStopsTheMountBeforeAnythingIsMounted()
    {
        var mnt = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(mnt);
        string Mount(string state) =>
            $"timeout 20 {Integration.Mount.Binary} mount '{mnt}' -f --control '{_dir}/c.sock' --state '{state}'; echo rc=$?; mountpoint -q '{mnt}' && echo mounted";

        // A journal cannot be compacted at start: its disk is full. The old journal stays as it was.
        var first = Start();
        Prepare(first);
        first.Dispose();
        var journal = File.ReadAllBytes(State);
        Fill(Disk);
        var full = Shell.Run(Mount(State));
        Assert.That(full.Out, Does.Match("^rc=[1-9][0-9]*\n$"), "exits non-zero and mounts nothing: " + full);
        Assert.That(full.Err, Does.Contain($"state {State}: cannot write the journal: ENOSPC (No space left on device)"));
        Assert.That(File.ReadAllBytes(State), Is.EqualTo(journal));
        Assert.That(File.Exists(State + ".tmp"), Is.False);

        // The state file cannot be written at all: a read-only filesystem.
        Shell.Run($"rm -f '{Disk}/fill'");
        Assert.That(Shell.Run($"mount -o remount,ro '{Disk}'").Code, Is.Zero);
        var ro = Shell.Run(Mount(Path.Combine(Disk, "new.journal")));
        Assert.That(ro.Out, Does.Match("^rc=[1-9][0-9]*\n$"), "exits non-zero and mounts nothing: " + ro);
        Assert.That(ro.Err, Does.Contain("cannot write the journal: EROFS (Read-only file system)"));
    }

    private static string Diff(string a, string b)
    {
        var x = a.Split('\n');
        var y = b.Split('\n');
        return string.Join('\n', x.Except(y).Select(l => "- " + l).Concat(y.Except(x).Select(l => "+ " + l)));
    }
}
