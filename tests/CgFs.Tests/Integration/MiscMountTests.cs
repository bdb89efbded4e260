using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>spec misc.md 7 through a mount: capacities sev=10, sev_es=0, tdx=4; root → A → A/B,
/// root → C; misc enabled in the root's and A's subtree_control. "charge" = the misc.current shortcut.</summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class MiscMountTests(MountMode mode)
{
    private Mount _m = null!;

    [SetUp]
    public void SetUp()
    {
        _m = Mount.Create(mode, "--misc", "sev=10", "--misc", "sev_es=0", "--misc", "tdx=4");
        foreach (var step in new[] { "echo +misc > cgroup.subtree_control", "mkdir A A/B C", "echo +misc > A/cgroup.subtree_control" })
            Assert.That(_m.Sh(step).Code, Is.Zero, step);
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    [TestCase("misc.capacity", "sev 10\ntdx 4\n")]      // M0a
    [TestCase("misc.current", "sev 0\ntdx 0\n")]        // M0b
    [TestCase("misc.peak", "sev 0\ntdx 0\n")]
    [TestCase("A/misc.max", "sev max\ntdx max\n")]      // M0c
    [TestCase("A/misc.events", "sev.max 0\ntdx.max 0\n")] // M0d
    [TestCase("A/misc.events.local", "sev.max 0\ntdx.max 0\n")]
    [TestCase("A/misc.current", "sev 0\ntdx 0\n")]
    public void Reads(string file, string content) => Assert.That(_m.Read(file), Is.EqualTo(content));

    [Test]
    public void AllCapacitiesZeroMeansEmptyFiles()  // M0e
    {
        using var m = Mount.Create(mode, "--rdma-device", "x");
        Assert.That(m.Sh("echo +misc > cgroup.subtree_control && mkdir A && cat misc.capacity misc.current A/misc.max A/misc.events | wc -c").Out, Is.EqualTo("0\n"));
    }

    [Test]
    public void RootAndChildInventory()  // M0f
    {
        Assert.That(_m.List("").Where(n => n.StartsWith("misc.")), Is.EqualTo(new[] { "misc.capacity", "misc.current", "misc.peak" }));
        Assert.That(_m.Sh("stat -c '%n %a' A/misc.*").Out, Is.EqualTo(
            "A/misc.current 444\nA/misc.events 444\nA/misc.events.local 444\nA/misc.max 644\nA/misc.peak 444\n"));
        Assert.That(_m.Sh("echo 'sev 5' > misc.max").Errno, Is.EqualTo(Errno.EACCES));  // M17
    }

    [TestCase("sev 5\n", "sev 5\ntdx max\n")]        // M1
    [TestCase("sev max", "sev max\ntdx max\n")]      // M2
    [TestCase("sev 0x10", "sev 16\ntdx max\n")]      // M3
    [TestCase("sev 010", "sev 8\ntdx max\n")]
    [TestCase("sev +7", "sev 7\ntdx max\n")]
    [TestCase("sev 18446744073709551615", "sev max\ntdx max\n")] // M6
    [TestCase("  sev 5  \n", "sev 5\ntdx max\n")]    // M13
    [TestCase("sev 20", "sev 20\ntdx max\n")]        // M15
    [TestCase("tdx 0", "sev max\ntdx 0\n")]
    public void MaxAccepts(string write, string content)
    {
        Assert.That(_m.Write("A/misc.max", write), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/misc.max"), Is.EqualTo(content));
    }

    [TestCase("sev 08", Errno.EINVAL)]     // M4
    [TestCase("sev 1e3", Errno.EINVAL)]
    [TestCase("sev 5abc", Errno.EINVAL)]
    [TestCase("sev -1", Errno.EINVAL)]     // M5
    [TestCase("sev 18446744073709551616", Errno.ERANGE)] // M7
    [TestCase("sev", Errno.EINVAL)]        // M8
    [TestCase("sev ", Errno.EINVAL)]
    [TestCase("\n", Errno.EINVAL)]
    [TestCase("bogus 5", Errno.EINVAL)]    // M9
    [TestCase("SEV 5", Errno.EINVAL)]
    [TestCase("sev_es 5", Errno.EINVAL)]   // M10
    [TestCase("sev_es 99999999999999999999", Errno.ERANGE)] // M11
    [TestCase("sev  5", Errno.EINVAL)]     // M12
    [TestCase("sev 5 6", Errno.EINVAL)]
    [TestCase("sev\t5", Errno.EINVAL)]
    [TestCase("sev 5\ntdx 1", Errno.EINVAL)]
    [TestCase("sev MAX", Errno.EINVAL)]    // M14
    [TestCase("sev maxx", Errno.EINVAL)]
    [TestCase("sev ma", Errno.EINVAL)]
    public void MaxRejectsAndChangesNothing(string write, Errno errno)
    {
        Assert.That(_m.Write("A/misc.max", write), Is.EqualTo(errno));
        Assert.That(_m.Read("A/misc.max"), Is.EqualTo("sev max\ntdx max\n"));
    }

    [Test]
    public void ZeroLengthAndReadOnlyWrites()  // M16, M18
    {
        Assert.That(_m.Sh(": > A/misc.max").Code, Is.Zero);
        Assert.That(_m.Write("misc.capacity", "x"), Is.EqualTo(Errno.EINVAL));
        Assert.That(_m.Write("misc.current", "x"), Is.EqualTo(Errno.EINVAL));
        Assert.That(_m.Write("A/misc.events", "x"), Is.EqualTo(Errno.EINVAL));
    }

    private Errno Charge(string cgroup, string delta) => _m.Write($"{cgroup}/misc.current", delta);

    [Test]
    public void ChargingEventsAndThePeakQuirk()  // X1–X9
    {
        Assert.That(_m.Write("A/misc.max", "sev 3"), Is.EqualTo(Errno.Ok));
        for (int i = 0; i < 3; i++)
            Assert.That(Charge("A/B", "sev +1"), Is.EqualTo(Errno.Ok));
        Assert.That((_m.Read("A/B/misc.current"), _m.Read("A/misc.current"), _m.Read("misc.current")), Is.EqualTo(("sev 3\ntdx 0\n", "sev 3\ntdx 0\n", "sev 3\ntdx 0\n")));
        Assert.That(_m.Read("misc.peak"), Is.EqualTo("sev 3\ntdx 0\n"));
        Assert.That(Charge("A/B", "sev +1"), Is.EqualTo(Errno.EBUSY));                           // X2
        Assert.That(_m.Read("A/misc.events"), Is.EqualTo("sev.max 1\ntdx.max 0\n"));
        Assert.That(_m.Read("A/misc.events.local"), Is.EqualTo("sev.max 1\ntdx.max 0\n"));
        Assert.That(_m.Read("A/B/misc.events"), Is.EqualTo("sev.max 0\ntdx.max 0\n"));
        Assert.That(_m.Read("A/B/misc.peak"), Is.EqualTo("sev 4\ntdx 0\n"), "the peak quirk");
        Assert.That(_m.Read("A/misc.peak"), Is.EqualTo("sev 3\ntdx 0\n"));
        Assert.That(_m.Write("A/B/misc.max", "sev 1"), Is.EqualTo(Errno.Ok));                    // X3
        Assert.That(Charge("A/B", "sev +1"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Read("A/B/misc.events") + _m.Read("A/B/misc.events.local"), Is.EqualTo("sev.max 1\ntdx.max 0\nsev.max 1\ntdx.max 0\n"));
        Assert.That(_m.Read("A/misc.events") + _m.Read("A/misc.events.local"), Is.EqualTo("sev.max 2\ntdx.max 0\nsev.max 1\ntdx.max 0\n"));
        Assert.That(_m.Write("A/B/misc.max", "sev max"), Is.EqualTo(Errno.Ok));                  // X4
        Assert.That(_m.Write("A/misc.max", "sev max"), Is.EqualTo(Errno.Ok));
        Assert.That(Charge("C", "sev +7"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("misc.current"), Is.EqualTo("sev 10\ntdx 0\n"));
        Assert.That(Charge("A/B", "sev +1"), Is.EqualTo(Errno.EBUSY));                           // X5
        Assert.That(_m.Read("A/misc.events") + _m.Read("A/B/misc.events"), Is.EqualTo("sev.max 2\ntdx.max 0\nsev.max 1\ntdx.max 0\n"), "root failures are invisible");
        Assert.That(_m.Read("A/misc.peak"), Is.EqualTo("sev 4\ntdx 0\n"));
        Assert.That(Charge("A/B", "sev +0"), Is.EqualTo(Errno.Ok));                              // X6
        Assert.That(Charge("A/B", "sev_es +1"), Is.EqualTo(Errno.EINVAL));                       // X7
        Assert.That(Charge("C", "sev -7"), Is.EqualTo(Errno.Ok));                                // X8
        Assert.That(Charge("A/B", "sev +8"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Read("A/B/misc.events.local"), Is.EqualTo("sev.max 2\ntdx.max 0\n"));
        Assert.That(_m.Read("A/misc.events"), Is.EqualTo("sev.max 3\ntdx.max 0\n"));
        Assert.That(Charge("A/B", "sev -3"), Is.EqualTo(Errno.Ok));                              // X9
        Assert.That(_m.Read("A/misc.current") + _m.Read("A/B/misc.peak"), Is.EqualTo("sev 0\ntdx 0\nsev 4\ntdx 0\n"), "the rejecting level's own peak is not raised");
    }

    [Test]
    public void ZeroCapacityTypesShowOnlyNonZeroValues()
    {
        Assert.That(Charge("A/B", "tdx +2"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/misc.max", "tdx 1"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/misc.max"), Is.EqualTo("sev max\ntdx 1\n"));
    }

    [Test]
    public void RemovedCgroupKeepsItsCharges()  // X12
    {
        Assert.That(Charge("A/B", "sev +2"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Rmdir("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/misc.current"), Is.EqualTo("sev 2\ntdx 0\n"));
        Assert.That(_m.Read("A/cgroup.stat"), Does.Contain("nr_dying_descendants 1\n").And.Contain("nr_dying_subsys_misc 1\n"));
    }

    [Test]
    public void EventsWakePollers()
    {
        Assert.That(_m.Write("A/misc.max", "sev 0"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh($"exec 3< <({Mount.Binary} poll A/misc.events --timeout 10000 --ready); read -r -u 3 ready; echo 'sev +1' > A/B/misc.current; cat <&3");
        Assert.That(r.Out, Is.EqualTo("POLLPRI POLLERR\nsev.max 1\ntdx.max 0\n"), r.ToString());
    }
}
