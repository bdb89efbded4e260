using System.Text;
using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>Restart without loss (--state): what a remount restores, and that a torn or corrupt
/// journal never stops the daemon from restoring everything before the damage.</summary>
[NonParallelizable]
public sealed class StateTests
{
    private string _dir = null!;
    private string State => Path.Combine(_dir, "state.journal");

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("cgfs-state-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private Mount Start() => new("--rdma-device", "mlx5_0", "--misc", "sev=10", "--state", State);


    private static readonly string[] Files =
    [
        "cgroup.subtree_control", "A/cgroup.subtree_control", "A/B/rdma.max", "A/B/rdma.current", "A/misc.max",
        "A/misc.current", "misc.current", "A/cgroup.max.depth", "A/B/cgroup.freeze", "misc.capacity", "A/B/cgroup.type",
        "T/cgroup.type", "C d/cgroup.procs", "C d/cgroup.pressure",
    ];

    private static string Observe(Mount m) =>
        string.Concat(Files.Select(f => $"{f}: {m.Read(f).Replace("\n", "|")}\n")) +
        m.Sh("stat -c '%n %a %U' 'C d' 'C d/cgroup.procs' A/B/rdma.max && getfattr --only-values -n user.delegate A && ls 'C d'").Out;

    [Test]
    public void EverythingIsRestoredAfterKillNine()
    {
        using var sleeper = new Sleeper();
        string before;
        var m = Start();
        foreach (var step in new[]
                 {
                     "echo '+rdma +misc' > cgroup.subtree_control", "mkdir -p A/B T/t 'C d'", "chmod 700 'C d'",
                     "echo +rdma > A/cgroup.subtree_control", "echo 'mlx5_0 hca_handle=3' > A/B/rdma.max",
                     "echo 'sev 4' > A/misc.max", "echo 2 > A/cgroup.max.depth", "echo 'mlx5_0 hca_object=+2' > A/B/rdma.current",
                     "echo 'sev +3' > A/misc.current", "chown 65534 'C d/cgroup.procs'", "setfattr -n user.delegate -v 1 A",
                     $"echo {sleeper.Pid} > 'C d/cgroup.procs'", "echo 1 > A/B/cgroup.freeze", "echo threaded > T/t/cgroup.type",
                     "echo 0 > 'C d/cgroup.pressure'", "mkdir gone && rmdir gone",
                 })
            Assert.That(m.Sh(step).Code, Is.Zero, step);
        Assert.That(m.Ctl("device add rxe0").Code, Is.Zero);
        Assert.That(m.Ctl("misc capacity ioasid 5 follow").Code, Is.Zero);
        before = Observe(m);
        m.Kill9();
        using var again = Start();
        Assert.That(Observe(again), Is.EqualTo(before));
        Assert.That(again.Read("A/B/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=3 hca_object=max \nrxe0 hca_handle=max hca_object=max \n"), "devices are not registered twice");
        Assert.That(again.Ctl("status").Out, Does.Contain("misc ioasid capacity=5 current=0 follow"));
        Assert.That(again.Read("cgroup.stat"), Does.StartWith("nr_descendants 5\n"));
    }

    [Test]
    public void DeadProcessesAreNotRestored()
    {
        var m = Start();
        var sleeper = new Sleeper();
        Assert.That(m.Sh($"mkdir A && echo {sleeper.Pid} > A/cgroup.procs").Code, Is.Zero);
        m.Kill9();
        sleeper.Dispose();
        using var again = Start();
        Assert.That(again.Read("A/cgroup.procs"), Is.Empty);
        Assert.That(again.Rmdir("A"), Is.EqualTo(Errno.Ok));
    }

    [Test]
    public void ATornTailOrACorruptRecordLosesOnlyWhatFollows()
    {
        var m = Start();
        Assert.That(m.Sh("mkdir A B C").Code, Is.Zero);
        m.Dispose(); // clean stop: compacted
        File.AppendAllText(State, "1234abcd mkdir 99 1 493 0 0 torn");  // no newline, bad checksum
        using (var again = Start())
            Assert.That(again.List("").Where(n => n.Length == 1), Is.EqualTo(new[] { "A", "B", "C" }));
        var lines = File.ReadAllLines(State);
        int b = Array.FindIndex(lines, l => l.EndsWith(" B"));
        lines[b] = lines[b].Replace(" B", " X");  // payload no longer matches its checksum
        File.WriteAllLines(State, lines);
        using var third = Start();
        Assert.That(third.List("").Where(n => n.Length == 1), Is.EqualTo(new[] { "A" }), "replay stops at the corrupt record");
        Assert.That(third.Log, Does.Contain("torn or corrupt"));
    }

    [Test]
    public void EveryAcknowledgedChangeSurvivesAKillInTheMiddleOfAStorm()
    {
        var m = Start();
        var log = Path.Combine(_dir, "acked");
        // Record each mkdir only after it returned: everything in the log was acknowledged.
        m.Sh($"( for i in $(seq 5000); do mkdir d$i && echo d$i >> {log} || break; done ) > /dev/null 2>&1 & sleep 1.5; kill -KILL {m.DaemonPid}; wait", timeoutMs: 60_000);
        m.Daemon.WaitForExit(10_000);
        m.Dispose();
        var acked = File.ReadAllLines(log);
        Assert.That(acked.Length, Is.GreaterThan(50), "the storm ran for a while");
        using var again = Start();
        var present = again.List("").Where(n => n.StartsWith('d') && n != "d").ToHashSet();
        Assert.That(acked.Where(d => !present.Contains(d)), Is.Empty, "no acknowledged mkdir is lost");
        Assert.That(present.Count, Is.LessThanOrEqualTo(acked.Length + 1), "at most the one in flight");
    }

    [Test]
    public void HoldContextsAreReleasedByARestartButShortcutChargesAreRestored()
    {
        var m = Start();
        Assert.That(m.Sh("echo +misc > cgroup.subtree_control && mkdir A B && echo 'sev +2' > B/misc.current").Code, Is.Zero);
        m.Sh($"( echo $BASHPID > A/cgroup.procs; exec {Mount.Binary} hold --control {m.Control} --misc sev=3 -- sleep 300 ) > /dev/null 2>&1 < /dev/null &");
        Assert.That(Wait.Until(() => m.Read("A/misc.current") == "sev 3\n"), Is.True);
        m.Kill9();
        using var again = Start();
        Assert.That((again.Read("A/misc.current"), again.Read("B/misc.current"), again.Read("misc.current")), Is.EqualTo(("sev 0\n", "sev 2\n", "sev 2\n")));
        Assert.That(again.Read("A/cgroup.procs"), Is.Not.Empty, "the holder itself is still a member");
        again.Sh($"pkill -f 'hold --control {m.Control}'");
    }

    [Test]
    public void ACleanStopCompactsTheJournal()
    {
        var m = Start();
        Assert.That(m.Sh("for i in $(seq 50); do mkdir x$i && rmdir x$i; done; mkdir kept").Code, Is.Zero);
        int during = File.ReadAllLines(State).Length;
        m.Dispose();
        int after = File.ReadAllLines(State).Length;
        Assert.That(after, Is.LessThan(during - 90), $"{during} records while running, {after} after a clean stop");
        using var again = Start();
        Assert.That(again.List("").Where(n => n.StartsWith('x') || n == "kept"), Is.EqualTo(new[] { "kept" }));
    }

}
