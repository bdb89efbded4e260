using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>Core rules that involve the rdma and misc controllers (spec core.md 3.2, 5.2, 6; C25–C30)
/// and the root cgroup, checked through a cgfs mount (the kernel here has neither controller).</summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class CoreControllerTests(MountMode mode)
{
    private Mount _m = null!;

    [SetUp]
    public void SetUp() => _m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--misc", "sev=10");

    [TearDown]
    public void TearDown() => _m.Dispose();

    [Test]
    public void RootInventoryAndModes()
    {
        var r = _m.Sh("stat -c '%n %a %U:%G' . *").Out;
        if (mode == MountMode.Overlay)
        {
            // The overlay's root is the real directory it mirrors (here a child cgroup), plus misc's root files.
            var real = Shell.Run("stat -c '%n %a %U:%G' . *", _m.Overlaid!).Out;
            var own = "misc.capacity 444 root:root\nmisc.current 444 root:root\nmisc.peak 444 root:root\n";
            Assert.That(r.Split('\n').Order(StringComparer.Ordinal), Is.EqualTo((real + own).Split('\n').Order(StringComparer.Ordinal)));
            return;
        }
        Assert.That(r, Is.EqualTo(string.Join("", new[]
        {
            ". 555 root:root", "cgroup.controllers 444 root:root", "cgroup.max.depth 644 root:root",
            "cgroup.max.descendants 644 root:root", "cgroup.pressure 644 root:root", "cgroup.procs 644 root:root",
            "cgroup.stat 444 root:root", "cgroup.subtree_control 644 root:root", "cgroup.threads 644 root:root",
            "cpu.pressure 644 root:root", "cpu.stat 444 root:root", "cpu.stat.local 444 root:root",
            "io.pressure 644 root:root", "memory.pressure 644 root:root", "misc.capacity 444 root:root",
            "misc.current 444 root:root", "misc.peak 444 root:root",
        }.Select(l => l + "\n"))));
        Assert.That(_m.Read("cgroup.controllers"), Is.EqualTo("rdma misc\n"));
        Assert.That(_m.Read("cgroup.stat"), Is.EqualTo(
            "nr_descendants 0\nnr_subsys_rdma 1\nnr_subsys_misc 1\nnr_dying_descendants 0\nnr_dying_subsys_rdma 0\nnr_dying_subsys_misc 0\n"));
        Assert.That(_m.Read("cgroup.procs"), Does.StartWith("1\n"), "unrecorded processes are in the root");
    }

    [Test]
    public void TopDownConstraint()  // C25–C27
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.ENOENT));
        foreach (var noop in new[] { "-rdma", "", "  ", "+rdma -rdma" })
            Assert.That(_m.Write("A/cgroup.subtree_control", noop), Is.EqualTo(Errno.Ok), noop);
        foreach (var bad in new[] { "rdma", "xrdma", "+RDMA", "+ rdma", "+rdma\t-misc", "+rdma\n+misc" })
            Assert.That(_m.Write("A/cgroup.subtree_control", bad), Is.EqualTo(Errno.EINVAL), bad);
        // Emulated, memory is unknown; an overlay's kernel knows it, and it is not enabled above A.
        Assert.That(_m.Write("A/cgroup.subtree_control", "+memory"), Is.EqualTo(mode == MountMode.Overlay ? Errno.ENOENT : Errno.EINVAL));
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("cgroup.subtree_control"), Is.EqualTo("rdma\n"));
        Assert.That(_m.Read("A/cgroup.controllers"), Is.EqualTo("rdma\n"));
        Assert.That(_m.List("A"), Does.Contain("rdma.max").And.Contain("rdma.current").And.Not.Contain("misc.max"));
        Assert.That(_m.Write("cgroup.subtree_control", "+misc +rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("cgroup.subtree_control"), Is.EqualTo("rdma misc\n"));
        Assert.That(_m.Read("cgroup.stat"), mode == MountMode.Emulated
            ? Does.StartWith("nr_descendants 1\nnr_subsys_rdma 2\nnr_subsys_misc 2\n")
            : Does.StartWith("nr_descendants 1\n").And.Contains("\nnr_subsys_rdma 2\nnr_subsys_misc 2\nnr_dying_descendants "), "after the kernel's own subsystems");
    }

    [Test]
    public void NoInternalProcesses()  // C28–C30
    {
        using var s = _m.StartSleeper();
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok), "the root is exempt");
        Assert.That(_m.Write("A/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Write("cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Mkdir("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/B/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/B/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Write("cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/B/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Write("cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_m.Write("A/B/cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.List("A/B"), Does.Not.Contain("rdma.max"));
    }

    [Test]
    public void ControllerFilesBelongToWhoeverEnabledThem()
    {
        Assert.That(_m.Mkdir("D"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Sh("chown 65534:65534 D D/cgroup.subtree_control D/cgroup.procs && chmod 755 D").Code, Is.Zero);
        Assert.That(_m.Sh("setpriv --reuid=65534 --regid=65534 --clear-groups mkdir D/x").Code, Is.Zero);
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Sh("setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'echo +rdma > D/cgroup.subtree_control'").Code, Is.Zero);
        Assert.That(_m.Sh("stat -c '%U %a' D/rdma.max D/x/rdma.max D/x/cgroup.procs").Out, Is.EqualTo("root 644\nnobody 644\nnobody 644\n"));
        Assert.That(_m.Sh("setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'echo mlx5_0 hca_handle=1 > D/rdma.max'").Errno, Is.EqualTo(Errno.EACCES),
            "the delegatee cannot raise its own limits");
    }

    [Test]
    public void DisablingKillsOpenDescriptorsOfControllerFiles()
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh("exec 3<A/rdma.max; echo -rdma > cgroup.subtree_control; cat <&3; echo rc=$?");
        Assert.That(r.Out, Is.EqualTo("rc=1\n"));
        Assert.That(Shell.ErrnoOf(r.Err), Is.EqualTo(Errno.ENODEV));
    }

    [Test]
    public void KernelCachedEntriesOfVanishedFilesAreInvalidated()
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh("stat -c %n A/rdma.max A/io.pressure >/dev/null && echo -rdma > cgroup.subtree_control && echo 0 > A/cgroup.pressure; " +
                      "stat A/rdma.max; echo rc=$?; stat A/io.pressure; echo rc=$?");
        Assert.That(r.Out, Does.EndWith("rc=1\nrc=1\n"), r.ToString());
    }

    [Test]
    public void PressureFilesCanBeHidden()
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.pressure", "0"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.List("A").Where(n => n.Contains("pressure")), Is.EqualTo(new[] { "cgroup.pressure" }));
        Assert.That(_m.Write("A/cgroup.pressure", "2"), Is.EqualTo(Errno.ERANGE));
        Assert.That(_m.Write("A/cgroup.pressure", "1"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.List("A").Count(n => n.Contains("pressure")), Is.EqualTo(4));
    }

    [Test]
    public void MkdirHonoursModeAndUmask()
    {
        Assert.That(_m.Sh("mkdir -m 700 A && umask 027 && mkdir B && stat -c %a A B").Out, Is.EqualTo("700\n750\n"));
        Assert.That(_m.Sh("chmod 711 A && touch -d @1000000000 A/cgroup.procs && stat -c '%a %Y' A A/cgroup.procs").Out, Is.EqualTo($"711 {_m.Sh("stat -c %Y A").Out.Trim()}\n644 1000000000\n"));
        Assert.That(_m.Sh("stat -c %h .").Out, Is.EqualTo("4\n"), "link count is 2 + child directories");
    }

    [Test]
    public void ExtendedAttributes()
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Sh("setfattr -n user.delegate -v 1 A && setfattr -n trusted.delegate -v 1 A && setfattr -n user.x -v y A/cgroup.procs").Errno, Is.EqualTo(Errno.Ok));
        Assert.That(_m.Sh("getfattr --absolute-names -d -m - A | grep -v '^#' | sort").Out, Is.EqualTo("\ntrusted.delegate=\"1\"\nuser.delegate=\"1\"\n"));
        Assert.That(_m.Sh("getfattr --absolute-names --only-values -n user.x A/cgroup.procs").Out, Is.EqualTo("y"));
        Assert.That(_m.Sh("getfattr -n user.missing A").Errno, Is.EqualTo(Errno.ENODATA));
        Assert.That(_m.Sh("setfattr -n other.x -v 1 A").Errno, Is.EqualTo(Errno.EOPNOTSUPP));
        Assert.That(_m.Sh("setfattr -x user.delegate A && getfattr -n user.delegate A").Errno, Is.EqualTo(Errno.ENODATA));
    } 

    [Test]
    public void StatFsAndFsType()
    {
        Assert.That(_m.Sh("stat -f -c '%t %s %l' .").Out, Is.EqualTo("65735546 4096 255\n"), "FUSE magic: the cgroup2 magic cannot be faked");
        Assert.That(_m.Sh($"grep ' {_m.MountPoint} ' /proc/mounts | cut -d' ' -f1,3").Out, Is.EqualTo("cgfs fuse.cgfs\n"));
    }

    [Test]
    public void RemovedCgroupPollReportsError()
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh($"exec 3< <({Mount.Binary} poll A/cgroup.events --timeout 10000 --ready); read -r -u 3 ready; rmdir A; cat <&3");
        Assert.That(r.Out, Does.StartWith("POLLPRI POLLERR\n"), r.ToString());
    }

    [Test]
    public void KillSignalsEveryRecordedProcessOfTheSubtree()
    {
        Assert.That(_m.Mkdir("A"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Mkdir("A/B"), Is.EqualTo(Errno.Ok));
        using var s1 = _m.StartSleeper();
        using var s2 = _m.StartSleeper();
        Assert.That(_m.Write("A/cgroup.procs", s1.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/B/cgroup.procs", s2.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/cgroup.kill", "1"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh($"{Mount.Binary} poll A/cgroup.events --timeout 5000; cat A/cgroup.events");
        Assert.That(r.Out, Does.EndWith("populated 0\nfrozen 0\n"), r.ToString());
        Assert.That(_m.Sh($"kill -0 {s1.Pid} || kill -0 {s2.Pid}").Code, Is.Not.Zero, "both were killed");
    }
}
