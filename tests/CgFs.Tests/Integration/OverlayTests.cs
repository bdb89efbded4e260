using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>
/// Overlay mode on this machine's real cgroup2 (a scratch child of it, removed afterwards): the
/// kernel's files read and written through byte for byte, real placement of processes, the merged
/// core files with a real controller and cgfs's mixed, changes made behind cgfs's back, and a
/// restart onto a real tree that changed while cgfs was down. The emulated suites (rdma, misc,
/// core rules, holders) also run against an overlay: see their fixtures' MountMode.
/// </summary>
[NonParallelizable]
public sealed class OverlayTests
{
    private KernelScratch _real = null!;
    private Mount _m = null!;
    private string? _enabledAtRoot;
    /// <summary>A controller of the kernel's that the scratch directory offers (hugetlb on this VM).</summary>
    private string _ctrl = null!;

    [OneTimeSetUp]
    public void EnableARealController()
    {
        if (KernelScratch.Hierarchy is not { } h)
        {
            Assert.Ignore("no writable cgroup2 hierarchy on this machine: overlay mode not tested");
            return;
        }
        var offered = Shell.Run($"cat {h}/cgroup.controllers").Out.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        _ctrl = new[] { "pids", "hugetlb", "memory", "cpu", "io" }.FirstOrDefault(c => offered.Contains(c))
            ?? throw new InvalidOperationException($"{h} offers no controller to test pass-through with ({string.Join(",", offered)})");
        if (!File.ReadAllText(Path.Combine(h, "cgroup.subtree_control")).Split([' ', '\n']).Contains(_ctrl))
        {
            Assert.That(Shell.Run($"echo +{_ctrl} > {h}/cgroup.subtree_control").Code, Is.Zero);
            _enabledAtRoot = _ctrl;
        }
    }

    [OneTimeTearDown]
    public void Restore()
    {
        if (_enabledAtRoot is not null)
            Shell.Run($"echo -{_enabledAtRoot} > {KernelScratch.Hierarchy}/cgroup.subtree_control");
    }

    [SetUp]
    public void SetUp()
    {
        _real = new KernelScratch();
        _m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=10", "--overlay", _real.Base);
    }

    [TearDown]
    public void TearDown()
    {
        _m.Dispose();
        _real.Dispose();
    }

    private string Real(string relative) => Path.Combine(_real.Base, relative);
    private string ReadReal(string relative) => File.ReadAllText(Real(relative));
    private static readonly string[] Merged = ["cgroup.controllers", "cgroup.subtree_control", "cgroup.stat"];

    [Test]
    public void RefusesADirectoryThatCannotCarryAnOverlay()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-ov-").FullName;
        try
        {
            var notCgroup = Shell.Run($"{Mount.Binary} mount {dir} --overlay /tmp");
            Assert.That(notCgroup.Code, Is.Not.Zero);
            Assert.That(notCgroup.Err, Does.Contain("/tmp is not a cgroup2 directory"));
            var missing = Shell.Run($"{Mount.Binary} mount {dir} --overlay /sys/fs/cgroup/unified/no-such-cgroup-here");
            Assert.That(missing.Err, Does.Contain("no such directory"));
            Assert.That(Shell.Run($"grep -c ' {dir} ' /proc/mounts").Out.Trim(), Is.EqualTo("0"), "nothing was mounted");
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    [Test]
    public void KernelFilesReadThroughByteForByte()
    {
        Assert.That(_m.Write("cgroup.subtree_control", $"+{_ctrl} +rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Mkdir("job"), Is.EqualTo(Errno.Ok));
        Assert.That(Directory.Exists(Real("job")), "mkdir made the real cgroup");
        var realFiles = Directory.GetFiles(Real("job")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.That(realFiles, Does.Contain($"{_ctrl}.{(_ctrl == "hugetlb" ? "2MB.max" : "max")}"));
        var ours = _m.List("job").Where(n => n.StartsWith("rdma.")).ToArray();
        Assert.That(_m.List("job"), Is.EqualTo(realFiles.Concat(ours).Order(StringComparer.Ordinal)), "the kernel's files, then rdma's");
        foreach (var f in realFiles.Where(f => !Merged.Contains(f) && f != "cgroup.kill"))
            Assert.That(_m.Read($"job/{f}"), Is.EqualTo(ReadReal($"job/{f}")), f);
        Assert.That(_m.Sh("stat -c '%a %U:%G %i' job/cgroup.events job/cgroup.procs job").Out,
            Is.EqualTo(Shell.Run($"stat -c '%a %U:%G %i' {Real("job/cgroup.events")} {Real("job/cgroup.procs")} {Real("job")}").Out), "modes, owners, inode numbers");
        Assert.That(_m.Read("job/cgroup.controllers"), Is.EqualTo($"{_ctrl} rdma\n"));
        Assert.That(ReadReal("job/cgroup.controllers"), Is.EqualTo($"{_ctrl}\n"));
        Assert.That(_m.Ctl("status").Out, Does.Contain($"\noverlay {_real.Base}\n"));
    }

    [Test]
    public void WritesGoToTheKernelWithItsErrnos()
    {
        Assert.That(_m.Write("cgroup.subtree_control", $"+{_ctrl}"), Is.EqualTo(Errno.Ok));
        Assert.That(ReadReal("cgroup.subtree_control"), Is.EqualTo($"{_ctrl}\n"));
        Assert.That(_m.Mkdir("job"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("job/cgroup.max.descendants", "5"), Is.EqualTo(Errno.Ok));
        Assert.That(ReadReal("job/cgroup.max.descendants"), Is.EqualTo("5\n"));
        var limit = _ctrl == "hugetlb" ? "hugetlb.2MB.max" : $"{_ctrl}.max";
        var value = _ctrl == "hugetlb" ? "4194304" : "100";
        Assert.That(_m.Write($"job/{limit}", value), Is.EqualTo(Errno.Ok));
        Assert.That(ReadReal($"job/{limit}"), Is.EqualTo(value + "\n"));
        foreach (var (file, bad) in new[] { ("cgroup.max.descendants", "-1"), ("cgroup.max.depth", "abc"), (limit, "bogus"), ("cgroup.freeze", "2"), ("cgroup.kill", "0") })
        {
            var kernel = Shell.Run($"printf '%s' '{bad}' > {Real("job/" + file)}").Errno;
            Assert.That(kernel, Is.Not.EqualTo(Errno.Ok), $"{file} {bad}: the kernel refuses it");
            Assert.That(_m.Write($"job/{file}", bad), Is.EqualTo(kernel), $"{file} {bad}: the kernel's errno");
        }
        Assert.That(_m.Write("job/cgroup.freeze", "1"), Is.EqualTo(Errno.Ok));
        Assert.That(Wait.Until(() => ReadReal("job/cgroup.events").Contains("frozen 1")), "the kernel froze it");
        Assert.That(_m.Rmdir("nosuch"), Is.EqualTo(Errno.ENOENT));
        Assert.That(_m.Mkdir("job"), Is.EqualTo(Errno.EEXIST));
        Assert.That(_m.Write("job/cgroup.max.descendants", "0"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Mkdir("job/child"), Is.EqualTo(Errno.EAGAIN), "the kernel's limit");
    }

    [Test]
    public void ExtendedAttributesAreTheKernels()
    {
        Assert.That(_m.Mkdir("job"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Sh("setfattr -n user.delegate -v 1 job && setfattr -n trusted.cgfs -v x job/cgroup.procs").Code, Is.Zero);
        Assert.That(Shell.Run($"getfattr --only-values -n user.delegate {Real("job")}").Out, Is.EqualTo("1"), "systemd's delegation mark is on the real cgroup");
        Assert.That(Shell.Run($"getfattr --only-values -n trusted.cgfs {Real("job/cgroup.procs")}").Out, Is.EqualTo("x"));
        Shell.Run($"setfattr -n user.other -v 2 {Real("job")}");
        Assert.That(_m.Sh("getfattr --only-values -n user.other job").Out, Is.EqualTo("2"), "and read back from it");
        Assert.That(_m.Sh("setfattr -x user.delegate job && getfattr -n user.delegate job").Errno, Is.EqualTo(Errno.ENODATA));
    }

    [Test]
    public void ProcessesAreReallyPlaced()
    {
        Assert.That(_m.Mkdir("job"), Is.EqualTo(Errno.Ok));
        using var s = _m.StartSleeper();
        Assert.That(_m.Write("job/cgroup.procs", $"{s.Pid}\n"), Is.EqualTo(Errno.Ok));
        var procPath = File.ReadAllText($"/proc/{s.Pid}/cgroup").Split('\n').Single(l => l.StartsWith("0::"));
        Assert.That(procPath, Does.EndWith("/" + Path.GetFileName(_real.Base) + "/job"), "the kernel has it there");
        Assert.That(_m.Read("job/cgroup.procs"), Is.EqualTo($"{s.Pid}\n"));
        Assert.That(ReadReal("job/cgroup.procs"), Is.EqualTo($"{s.Pid}\n"));
        Assert.That(_m.Read("job/cgroup.events"), Is.EqualTo("populated 1\nfrozen 0\n"));
        Assert.That(_m.Write("job/cgroup.procs", "999999999"), Is.EqualTo(Errno.ESRCH), "the kernel's pid check");
        Assert.That(_m.Rmdir("job"), Is.EqualTo(Errno.EBUSY), "the kernel keeps a populated cgroup");
        var r = _m.Sh($"exec 3< <({Mount.Binary} poll job/cgroup.events --timeout 10000 --ready); read -r -u 3 ready; kill {s.Pid}; cat <&3");
        Assert.That(r.Out, Does.Contain("populated 0"), "the kernel's cgroup.events wake-up reached the mount's poller: " + r);
        Assert.That(_m.Rmdir("job"), Is.EqualTo(Errno.Ok));
        Assert.That(Directory.Exists(Real("job")), Is.False);
    }

    [Test]
    public void MigrationNeedsWriteAccessToTheCommonAncestor()
    {
        Assert.That(_m.Sh("mkdir a b && chown 65534 a/cgroup.procs b/cgroup.procs").Code, Is.Zero);
        Assert.That(Shell.Run($"stat -c %u {Real("a/cgroup.procs")}").Out.Trim(), Is.EqualTo("65534"), "chown went to the real file");
        var nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups";
        var r = _m.Sh($"{nobody} sleep 300 & p=$!; echo $p > a/cgroup.procs; {nobody} bash -c \"echo $p > b/cgroup.procs\"; echo rc=$?; kill $p");
        Assert.That(r.Out, Does.Contain("rc=1"), r.ToString());
        Assert.That(r.Err, Does.Contain("Permission denied"), "the common ancestor's cgroup.procs is root's (spec core.md 5.1)");
    }

    [Test]
    public void SubtreeControlMixesTheKernelsControllersWithCgfss()
    {
        Assert.That(_m.Write("cgroup.subtree_control", $"+{_ctrl}"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Sh("mkdir job job/leaf busy t").Code, Is.Zero);
        Assert.That(_m.Write("job/cgroup.subtree_control", $"+{_ctrl} +rdma"), Is.EqualTo(Errno.ENOENT), "rdma is not enabled above");
        Assert.That(ReadReal("job/cgroup.subtree_control"), Is.Empty, "all or nothing: the kernel's part was undone");
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma +misc"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("cgroup.subtree_control"), Is.EqualTo($"{_ctrl} rdma misc\n"));
        Assert.That(ReadReal("cgroup.subtree_control"), Is.EqualTo($"{_ctrl}\n"));
        Assert.That(_m.Write("job/cgroup.subtree_control", $"+rdma +{_ctrl} -misc"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("job/cgroup.subtree_control"), Is.EqualTo($"{_ctrl} rdma\n"));
        Assert.That(_m.Read("job/leaf/cgroup.controllers"), Is.EqualTo($"{_ctrl} rdma\n"));
        var stat = _m.Read("job/cgroup.stat").Split('\n');
        Assert.That(Array.IndexOf(stat, "nr_subsys_rdma 2"), Is.EqualTo(Array.FindIndex(stat, l => l.StartsWith($"nr_subsys_{_ctrl} ")) + 1), string.Join("|", stat));
        Assert.That(stat, Does.Contain("nr_dying_subsys_rdma 0"));
        Assert.That(_m.Write("cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.EBUSY), "job still enables rdma");

        using var s = _m.StartSleeper();
        Assert.That(_m.Write("job/cgroup.procs", $"{s.Pid}"), Is.EqualTo(Errno.EBUSY), "no internal processes: job enables rdma");
        Assert.That(_m.Write("busy/cgroup.procs", $"{s.Pid}"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("busy/cgroup.subtree_control", "+misc"), Is.EqualTo(Errno.EBUSY), "judged on the real membership");
        Assert.That(_m.Read("busy/cgroup.subtree_control"), Is.Empty);

        Assert.That(_m.Write("t/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Mkdir("t/x"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("t/x/cgroup.type", "threaded"), Is.EqualTo(Errno.EOPNOTSUPP), "rdma in the parent is a domain controller");
        Assert.That(_m.Write("t/cgroup.subtree_control", "-rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("t/x/cgroup.type", "threaded"), Is.EqualTo(Errno.Ok));
        Assert.That(ReadReal("t/x/cgroup.type"), Is.EqualTo("threaded\n"));
        Assert.That(_m.Write("t/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.EOPNOTSUPP), "t is a thread root now");

        // Made threaded behind cgfs's back (the kernel cannot know t2 enables rdma): rdma is not offered there.
        Assert.That(_m.Sh("mkdir t2 t2/y && echo +rdma > t2/cgroup.subtree_control").Code, Is.Zero);
        Assert.That(_m.Read("t2/y/cgroup.controllers"), Is.EqualTo("rdma\n"));
        Assert.That(Shell.Run($"echo threaded > {Real("t2/y/cgroup.type")}").Code, Is.Zero);
        Assert.That(_m.Read("t2/y/cgroup.controllers"), Is.Empty);
        Assert.That(_m.Write("t2/y/cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.ENOENT));
    }

    [Test]
    public void NamesAreBytes()
    {
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Mkdir("jöb ☃"), Is.EqualTo(Errno.Ok));
        Assert.That(Directory.Exists(Real("jöb ☃")), "the same bytes on the real tree");
        Assert.That(_m.Write("jöb ☃/rdma.max", "mlx5_0 hca_handle=1"), Is.EqualTo(Errno.Ok));
        Directory.CreateDirectory(Real("ünder"));
        Assert.That(Wait.Until(() => _m.List("").Contains("ünder")));
        using var s = _m.StartSleeper();
        Assert.That(_m.Write("ünder/cgroup.procs", $"{s.Pid}"), Is.EqualTo(Errno.Ok));
        Assert.That(File.ReadAllText($"/proc/{s.Pid}/cgroup"), Does.EndWith("/ünder\n"));
        Assert.That(_m.Rmdir("jöb ☃"), Is.EqualTo(Errno.Ok));
        Assert.That(Directory.Exists(Real("jöb ☃")), Is.False);
    }

    [Test]
    public void ChangesBehindCgfssBackAreSeen()
    {
        Assert.That(_m.Write("cgroup.subtree_control", "+rdma"), Is.EqualTo(Errno.Ok));
        Directory.CreateDirectory(Real("sideways"));
        Assert.That(Wait.Until(() => _m.List("").Contains("sideways")), "a directory made on the real tree appears");
        Assert.That(_m.Write("sideways/rdma.max", "mlx5_0 hca_handle=3"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("sideways/rdma.current", "mlx5_0 hca_handle=+2"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("cgroup.stat"), Does.Contain("nr_subsys_rdma 2\n"));
        Assert.That(_m.Read("sideways/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=3 hca_object=max \n"));
        Directory.Delete(Real("sideways"));
        Assert.That(Wait.Until(() => _m.Sh("stat sideways").Errno == Errno.ENOENT), "removed on the real tree, gone from the mount");
        Assert.That(Wait.Until(() => _m.Read("cgroup.stat").Contains("nr_subsys_rdma 1\n")), "its rdma state went with it");
        Directory.CreateDirectory(Real("sideways"));
        Assert.That(Wait.Until(() => _m.Sh("cat sideways/rdma.max").Out == "mlx5_0 hca_handle=max hca_object=max \n"), "made again: a new cgroup");
    }

    [Test]
    public void FollowChargesGoAlongWithAMoveMadeBehindCgfssBack()
    {
        Assert.That(_m.Ctl("misc capacity ioasid 8 follow").Code, Is.Zero);
        Assert.That(_m.Sh("echo +misc > cgroup.subtree_control && mkdir a b && echo 'ioasid 1' > b/misc.max").Code, Is.Zero);
        var r = _m.Sh($"( echo $BASHPID > a/cgroup.procs; exec {Mount.Binary} hold --control {_m.Control} --misc ioasid=2 -- sleep 300 ) " +
                      "> /dev/null 2>&1 < /dev/null & echo $!");
        int holder = int.Parse(r.Out.Trim());
        try
        {
            Assert.That(Wait.Until(() => _m.Read("a/misc.current").Contains("ioasid 2\n")), "charged in the holder's real cgroup");
            Assert.That(Shell.Run($"echo {holder} > {Real("b/cgroup.procs")}").Code, Is.Zero, "the kernel moves it: it knows no misc");
            Assert.That(Wait.Until(() => _m.Read("b/misc.current").Contains("ioasid 2\n")), "the charge went along, past b's max: the move was not cgfs's to refuse");
            Assert.That(_m.Read("a/misc.current"), Does.Contain("ioasid 0\n"));
        }
        finally
        {
            Shell.Run($"kill {holder}");
        }
        Assert.That(Wait.Until(() => _m.Read("misc.current").Contains("ioasid 0\n")), "released when the holder exited");
    }

    [Test]
    public void RestartRestoresCgfssStateOntoTheRealTreeThatExists()
    {
        var state = Path.Combine(Directory.CreateTempSubdirectory("cgfs-ov-state-").FullName, "state");
        string[] args = ["--rdma-device", "mlx5_0", "--misc", "sev=10", "--state", state, "--overlay", _real.Base];
        _m.Dispose();
        _m = new Mount(args);
        Assert.That(_m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir kept gone remade && " +
                          "for d in kept gone remade; do echo 'mlx5_0 hca_handle=4' > $d/rdma.max; echo 'sev 2' > $d/misc.max; done && " +
                          "echo 'mlx5_0 hca_object=+3' > kept/rdma.current").Code, Is.Zero);
        _m.Kill9();
        Directory.Delete(Real("gone"));
        Directory.Delete(Real("remade"));
        Directory.CreateDirectory(Real("remade"));
        _m = new Mount(args);
        Assert.That(_m.Read("cgroup.subtree_control"), Is.EqualTo("rdma misc\n"));
        Assert.That(_m.Read("kept/rdma.max") + _m.Read("kept/misc.max") + _m.Read("kept/rdma.current"), Is.EqualTo(
            "mlx5_0 hca_handle=4 hca_object=max \nsev 2\nmlx5_0 hca_handle=0 hca_object=3 \n"));
        Assert.That(_m.List("").Contains("gone"), Is.False);
        Assert.That(_m.Read("remade/rdma.max") + _m.Read("remade/misc.max"), Is.EqualTo("mlx5_0 hca_handle=max hca_object=max \nsev max\n"),
            "a directory made again while cgfs was down is a new cgroup");
        Assert.That(File.ReadAllText(state), Does.Not.Contain("member "), "placements are the kernel's, not journaled");
        Directory.Delete(Path.GetDirectoryName(state)!, recursive: true);
    }
}
