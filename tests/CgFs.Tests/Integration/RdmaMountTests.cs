using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>spec rdma.md 10 through a mount: devices mlx5_0 then rxe0; root → A → A/B, A/C; rdma
/// enabled in the root's and A's subtree_control. "charge" = the rdma.current shortcut.</summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class RdmaMountTests(MountMode mode)
{
    private Mount _m = null!;
    private const string Fresh = "mlx5_0 hca_handle=max hca_object=max \nrxe0 hca_handle=max hca_object=max \n";
    private const string Zero = "mlx5_0 hca_handle=0 hca_object=0 \nrxe0 hca_handle=0 hca_object=0 \n";

    [SetUp]
    public void SetUp()
    {
        _m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--rdma-device", "rxe0");
        foreach (var step in new[] { "echo +rdma > cgroup.subtree_control", "mkdir A A/B A/C", "echo +rdma > A/cgroup.subtree_control" })
            Assert.That(_m.Sh(step).Code, Is.Zero, step);
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    /// <summary>cgroup.stat without the lines of the host kernel's own controllers (overlay mode).</summary>
    private string OwnStat(string file) => string.Concat(_m.Read(file).Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Where(l => !l.StartsWith("nr_subsys_") && !l.StartsWith("nr_dying_subsys_") || l.Contains("_rdma ") || l.Contains("_misc "))
        .Select(l => l + "\n"));

    private string Line(string file) => _m.Read(file).Split('\n')[0] + "\n";

    [Test]
    public void FreshFilesReadExactBytes()
    {
        Assert.That(_m.Read("A/rdma.max"), Is.EqualTo(Fresh));
        Assert.That(_m.Read("A/rdma.current"), Is.EqualTo(Zero));
        Assert.That(_m.Read("A/rdma.peak"), Is.EqualTo(Zero));
        Assert.That(_m.Read("A/rdma.events"), Is.EqualTo(
            "mlx5_0 hca_handle.max=0 hca_handle.alloc_fail=0 hca_object.max=0 hca_object.alloc_fail=0\nrxe0 hca_handle.max=0 hca_handle.alloc_fail=0 hca_object.max=0 hca_object.alloc_fail=0\n"));
        Assert.That(_m.Sh("stat -c '%n %a' A/rdma.*").Out, Is.EqualTo(
            "A/rdma.current 444\nA/rdma.events 444\nA/rdma.events.local 444\nA/rdma.max 644\nA/rdma.peak 444\n"));
        Assert.That(_m.List("").Where(n => n.StartsWith("rdma.")), Is.Empty, "no rdma files in the root");
    }

    [Test]
    public void NoDevicesMeansEmptyFiles()
    {
        using var m = Mount.Create(mode, "--misc", "sev=1");
        Assert.That(m.Sh("echo +rdma > cgroup.subtree_control && mkdir A && wc -c < A/rdma.max && wc -c < A/rdma.events").Out, Is.EqualTo("0\n0\n"));
    }

    [Test]
    public void ALegacyMountBehavesLikeKernelsBefore72()  // E15 and the Legacy column of 10.1
    {
        using var m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--rdma-device", "rxe0", "--rdma-legacy");
        Assert.That(m.Sh("echo +rdma > cgroup.subtree_control && mkdir A && echo +rdma > A/cgroup.subtree_control && mkdir A/B").Code, Is.Zero);
        Assert.That(m.List("A").Where(n => n.StartsWith("rdma.")), Is.EqualTo(new[] { "rdma.current", "rdma.max" }));
        Assert.That(m.Write("A/rdma.peak", "x"), Is.EqualTo(Errno.EACCES), "the file does not exist: creating it is refused");
        Assert.That(m.Write("A/rdma.max", "mlx5_0 hca_handle=10abc"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("A/rdma.max", "mlx5_0 hca_object=ma"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("A/rdma.max", "mlx5_0  hca_handle=5"), Is.EqualTo(Errno.EINVAL));
        Assert.That(m.Write("A/rdma.max", "nodev hca_handle=1"), Is.EqualTo(Errno.ENODEV));
        Assert.That(m.Read("A/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=10 hca_object=max \nrxe0 hca_handle=max hca_object=max \n"));
        Assert.That(m.Write("A/B/rdma.current", "mlx5_0 hca_handle=+10"), Is.EqualTo(Errno.Ok), "charging is the same");
        Assert.That(m.Write("A/B/rdma.current", "mlx5_0 hca_handle=+1"), Is.EqualTo(Errno.EAGAIN));
    }

    [Test]
    public void PartialUpdatesInSequence()  // R1–R3
    {
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=2 hca_object=max\n"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=max \n"));
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_object=10"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=10 \n"));
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=max"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=max hca_object=10 \n"));
    }

    [TestCase("mlx5_0 hca_object=5 hca_handle=3", "hca_handle=3 hca_object=5")]  // R4
    [TestCase("mlx5_0 hca_handle=1 hca_handle=7", "hca_handle=7 hca_object=max")] // R5
    [TestCase("mlx5_0", "hca_handle=max hca_object=max")]                       // R6
    [TestCase("mlx5_0 hca_handle=0", "hca_handle=0 hca_object=max")]            // R7
    [TestCase("mlx5_0 hca_handle=-0", "hca_handle=0 hca_object=max")]           // R18
    [TestCase("mlx5_0 hca_handle=-", "hca_handle=0 hca_object=max")]
    [TestCase("mlx5_0 hca_handle=2147483647", "hca_handle=max hca_object=max")] // R19
    [TestCase("mlx5_0 hca_handle=18446744073709551617", "hca_handle=1 hca_object=max")] // R21
    [TestCase("mlx5_0 hca_handle=0x10", "hca_handle=16 hca_object=max")]        // R22
    [TestCase("mlx5_0 hca_handle=010", "hca_handle=8 hca_object=max")]
    [TestCase("mlx5_0  hca_handle=5", "hca_handle=5 hca_object=max")]           // R29
    [TestCase("mlx5_0 hca_handle=5\thca_object=6", "hca_handle=5 hca_object=6")] // R30
    [TestCase("  mlx5_0 hca_handle=5  \n", "hca_handle=5 hca_object=max")]      // R31
    [TestCase("mlx5_0 hca_handle=00000000000000000000005", "hca_handle=5 hca_object=max")] // 11.1: 23 chars
    [TestCase("mlx5_0 hca_handle=5\0 hca_object=x", "hca_handle=5 hca_object=max")] // 11.3: NUL ends input
    public void MaxAccepts(string write, string line)
    {
        Assert.That(_m.Write("A/rdma.max", write), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/rdma.max"), Is.EqualTo($"mlx5_0 {line} \n"));
    }

    [TestCase("mlx9_9 hca_handle=1", Errno.ENODEV)]    // R8
    [TestCase("mlx9_9", Errno.ENODEV)]                 // R9
    [TestCase("bogus hca_handle=abc", Errno.EINVAL)]   // R10
    [TestCase("\n", Errno.ENODEV)]                     // R12
    [TestCase("   ", Errno.ENODEV)]
    [TestCase("mlx5_0 hca_handle", Errno.EINVAL)]      // R13
    [TestCase("mlx5_0 hca_handle=", Errno.EINVAL)]     // R14
    [TestCase("mlx5_0 hca_handle=ma", Errno.EINVAL)]   // R15
    [TestCase("mlx5_0 hca_handle=m", Errno.EINVAL)]
    [TestCase("mlx5_0 hca_handle=MAX", Errno.EINVAL)]  // R16
    [TestCase("mlx5_0 hca_handle=maxx", Errno.EINVAL)]
    [TestCase("mlx5_0 hca_handle=-1", Errno.EINVAL)]   // R17
    [TestCase("mlx5_0 hca_handle=2147483648", Errno.EINVAL)] // R20
    [TestCase("mlx5_0 hca_handle=08", Errno.EINVAL)]   // R23
    [TestCase("mlx5_0 hca_handle=+5", Errno.EINVAL)]   // R24
    [TestCase("mlx5_0 hca_handle=10abc", Errno.EINVAL)] // R25
    [TestCase("mlx5_0 hca_handle=5 hca_object=x", Errno.EINVAL)] // R26
    [TestCase("mlx5_0 bogus=5", Errno.EINVAL)]         // R27
    [TestCase("mlx5_0 HCA_HANDLE=5", Errno.EINVAL)]
    [TestCase("mlx5_0 =5", Errno.EINVAL)]
    [TestCase("mlx5_0 hca_handle==5", Errno.EINVAL)]
    [TestCase("mlx5_0 hca_handle=5 extra", Errno.EINVAL)] // R28
    [TestCase("mlx5_0\thca_handle=5", Errno.ENODEV)]   // R32
    [TestCase("mlx5_0 hca_handle=1\nrxe0 hca_handle=2", Errno.EINVAL)] // R33
    [TestCase("mlx5_0 hca_handle=000000000000000000000005", Errno.EINVAL)] // 11.1: 24 chars
    [TestCase("mlx5_0 hca_handle=10aaaaaaaaaaaaaaaaaaaaaa", Errno.EINVAL)]
    public void MaxRejectsAndChangesNothing(string write, Errno errno)
    {
        Assert.That(_m.Write("A/rdma.max", write), Is.EqualTo(errno));
        Assert.That(_m.Read("A/rdma.max"), Is.EqualTo(Fresh));
    }

    [Test]
    public void ZeroLengthAndReadOnlyWrites()  // R11, R34
    {
        Assert.That(_m.Sh(": > A/rdma.max").Code, Is.Zero);
        foreach (var f in new[] { "A/rdma.peak", "A/rdma.events", "A/rdma.events.local" })
            Assert.That(_m.Write(f, "mlx5_0 hca_handle=1"), Is.EqualTo(Errno.EINVAL), f);
        Assert.That(_m.Sh("setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'echo mlx5_0 > A/rdma.current'").Errno, Is.EqualTo(Errno.EACCES));
    }

    [Test]
    public void StaleDescriptorIsEnodev()  // R35
    {
        var r = _m.Sh("exec 3>A/C/rdma.max; rmdir A/C; echo mlx5_0 hca_handle=1 >&3; echo rc=$?");
        Assert.That((r.Out, Shell.ErrnoOf(r.Err)), Is.EqualTo(("rc=1\n", Errno.ENODEV)));
    }

    private Errno Charge(string cgroup, string delta = "hca_handle=+1", string device = "mlx5_0") =>
        _m.Write($"{cgroup}/rdma.current", $"{device} {delta}");

    private static string Events(ulong hMax, ulong hFail) =>
        $"mlx5_0 hca_handle.max={hMax} hca_handle.alloc_fail={hFail} hca_object.max=0 hca_object.alloc_fail=0\n";

    [Test]
    public void ChargingEventsAndPeaks()  // E1–E7, E10
    {
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=2"), Is.EqualTo(Errno.Ok));
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/B/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=0 \n"));
        Assert.That(Line("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=0 \n"));
        Assert.That(Line("A/rdma.peak"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=0 \n"));
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.EAGAIN));                       // E3
        Assert.That(Line("A/B/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=0 \n"));
        Assert.That(Line("A/B/rdma.events.local"), Is.EqualTo(Events(0, 1)));
        Assert.That(Line("A/rdma.events.local"), Is.EqualTo(Events(1, 0)));
        Assert.That(Line("A/rdma.events"), Is.EqualTo(Events(1, 1)));
        Assert.That(Line("A/B/rdma.events"), Is.EqualTo(Events(0, 1)));
        Assert.That(_m.Write("A/B/rdma.max", "mlx5_0 hca_handle=5"), Is.EqualTo(Errno.Ok)); // E4
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(Charge("A/B", "hca_handle=-2"), Is.EqualTo(Errno.Ok));           // E5
        Assert.That(Line("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=0 hca_object=0 \n"));
        Assert.That(Line("A/B/rdma.peak"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=0 \n"));
        Assert.That(Line("A/rdma.events"), Is.EqualTo(Events(2, 2)));
        Assert.That(_m.Write("A/B/rdma.max", "mlx5_0 hca_handle=1"), Is.EqualTo(Errno.Ok)); // E6
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(Line("A/B/rdma.events.local"), Is.EqualTo(Events(1, 3)));
        Assert.That(Line("A/B/rdma.events"), Is.EqualTo(Events(1, 3)));
        Assert.That(Line("A/rdma.events"), Is.EqualTo(Events(3, 3)));
        Assert.That(Line("A/rdma.events.local"), Is.EqualTo(Events(2, 0)));
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=0"), Is.EqualTo(Errno.Ok)); // E7
        Assert.That(Line("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=1 hca_object=0 \n"));
        Assert.That(Charge("A/C"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(_m.Read("A/rdma.current").Split('\n')[1], Is.EqualTo("rxe0 hca_handle=0 hca_object=0 "));  // E10
    }

    [Test]
    public void ShortcutRules()
    {
        Assert.That(Charge("A/B", "hca_handle=+1 hca_object=+3"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/B/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=1 hca_object=3 \n"));
        Assert.That(Charge("A", "hca_object=-1"), Is.EqualTo(Errno.EINVAL), "A itself charged nothing this way");
        Assert.That(Charge("A/B", "hca_object=-4"), Is.EqualTo(Errno.EINVAL));
        Assert.That(Charge("A/B", "hca_object=3"), Is.EqualTo(Errno.EINVAL), "deltas carry a sign");
        Assert.That(Charge("A/B", "hca_object=+1", "nodev"), Is.EqualTo(Errno.ENODEV));
        Assert.That(_m.Write("A/B/rdma.max", "mlx5_0 hca_object=4"), Is.EqualTo(Errno.Ok));
        Assert.That(Charge("A/B", "hca_handle=+1 hca_object=+2"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(Line("A/B/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=1 hca_object=3 \n"), "all or nothing");
        Assert.That(Charge("A/B", "hca_handle=-1 hca_object=-3"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=0 hca_object=0 \n"));
    }

    [Test]
    public void RemovedCgroupKeepsItsChargesInAncestors()  // E13
    {
        Assert.That(Charge("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Rmdir("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(Line("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=1 hca_object=0 \n"));
        Assert.That(OwnStat("A/cgroup.stat"), Is.EqualTo(
            "nr_descendants 1\nnr_subsys_rdma 2\nnr_subsys_misc 0\nnr_dying_descendants 1\nnr_dying_subsys_rdma 1\nnr_dying_subsys_misc 0\n"));
        Assert.That(_m.Mkdir("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/B/rdma.current"), Is.EqualTo(Zero), "a new cgroup with the same name is a new object");
    }

    [Test]
    public void DisableThenEnableGivesFreshState()  // E14
    {
        Assert.That(Charge("A/C"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/C/rdma.max", "mlx5_0 hca_handle=5"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.List("A/C").Where(n => n.StartsWith("rdma")), Is.Empty);
        Assert.That(_m.Read("A/cgroup.stat"), Does.Contain("nr_dying_subsys_rdma 1\n"));
        Assert.That(_m.Write("A/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/C/rdma.max"), Is.EqualTo(Fresh));
        Assert.That(_m.Read("A/C/rdma.current"), Is.EqualTo(Zero));
        Assert.That(Line("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=1 hca_object=0 \n"));
    }

    [Test]
    public void EventsFilesWakePollers()
    {
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=0"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh($"exec 3< <({Mount.Binary} poll A/rdma.events --timeout 10000 --ready); read -r -u 3 ready; echo 'mlx5_0 hca_handle=+1' > A/B/rdma.current; cat <&3");
        Assert.That(r.Out, Does.StartWith("POLLPRI POLLERR\n" + Events(1, 1)), r.ToString());
        var local = _m.Sh($"exec 3< <({Mount.Binary} poll A/B/rdma.events.local --timeout 10000 --ready); read -r -u 3 ready; echo 'mlx5_0 hca_handle=+1' > A/B/rdma.current; cat <&3");
        Assert.That(local.Out, Does.StartWith("POLLPRI POLLERR\n" + Events(0, 2)), local.ToString());
    }
}
