using CgFs.Accounting;
using CgFs.Fuse;

namespace CgFs.Tests.Integration;

/// <summary>
/// cgfs mounted the way users deploy FUSE filesystems: an /etc/fstab line and `mount -t fuse.cgfs`,
/// through the real mount(8) and Debian's mount.fuse3 (which runs `cgfs SOURCE MOUNTPOINT -o
/// OPTIONS` found on PATH), unmounted with umount(8). The fstab line is read from a file of the
/// test's own (`mount -T`), so the host's /etc/fstab is never touched. mount(8) runs its helpers
/// without the caller's PATH, so mount.fuse3's shell finds `cgfs` only where an installation puts
/// it (`make install`: /usr/local/bin); the fixture links the binary under test there for its
/// duration, unless a cgfs of someone else's is installed (then it says so and skips).
/// </summary>
[NonParallelizable]
public sealed class MountHelperTests
{
    private const string Installed = "/usr/local/bin/cgfs";
    private bool _linked;
    private string _dir = null!;
    private string Mnt => Path.Combine(_dir, "mnt");
    private string Sock => Path.Combine(_dir, "control.sock");

    [OneTimeSetUp]
    public void Install()
    {
        var existing = new FileInfo(Installed);
        if (existing.LinkTarget == Mount.Binary)
            return;
        if (File.Exists(Installed) || existing.LinkTarget is not null)
            Assert.Ignore($"{Installed} is another cgfs installation; the helper tests would run it instead of {Mount.Binary}");
        Directory.CreateDirectory(Path.GetDirectoryName(Installed)!);
        File.CreateSymbolicLink(Installed, Mount.Binary);
        _linked = true;
    }

    [OneTimeTearDown]
    public void Uninstall()
    {
        if (_linked)
            File.Delete(Installed);
    }

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("cgfs-helper-").FullName;
        Directory.CreateDirectory(Mnt);
    }

    [TearDown]
    public void TearDown()
    {
        if (Mounter.IsMounted(Mnt))
            Mounter.Unmount(Mnt);
        Assert.That(Wait.Until(() => Shell.Run($"pgrep -f 'cgfs mount {Mnt}'").Code != 0), Is.True, "the daemon exits after the unmount");
        Directory.Delete(_dir, recursive: true);
    }

    private void AssertServes(string expectedRdmaMax)
    {
        Assert.That(Mounter.IsMounted(Mnt), Is.True);
        var r = Shell.Run($"echo +rdma > {Mnt}/cgroup.subtree_control && mkdir {Mnt}/job && cat {Mnt}/job/rdma.max && cat {Mnt}/misc.capacity");
        Assert.That(r.Out, Is.EqualTo(expectedRdmaMax), r.ToString());
        Assert.That(Shell.Run($"{Mount.Binary} ctl --control {Sock} device list").Out, Is.EqualTo("rxe0\nrxe1\n"), "control=SOCKET took effect");
        Assert.That(Shell.Run($"grep ' {Mnt} ' /proc/mounts").Out, Does.StartWith($"cgfs {Mnt} fuse.cgfs rw,nosuid,nodev,noexec,"));
    }

    [Test]
    public void AnFstabLineMountsAndUmountUnmounts()
    {
        var conf = Path.Combine(_dir, "cgfs.conf");
        File.WriteAllText(conf, "rdma-device rxe0\nrdma-device rxe1\nmisc sev 3\n");
        var fstab = Path.Combine(_dir, "fstab");
        File.WriteAllText(fstab, $"# a test fstab\ncgfs {Mnt} fuse.cgfs defaults,noauto,nofail,config={conf},control={Sock},state={_dir}/state 0 0\n");
        var r = Shell.Run($"mount -T {fstab} {Mnt}");
        Assert.That(r.Code, Is.Zero, r.ToString());
        AssertServes("rxe0 hca_handle=max hca_object=max \nrxe1 hca_handle=max hca_object=max \nsev 3\n");
        Assert.That(File.Exists($"{_dir}/state"), Is.True, "state=FILE took effect");
        var u = Shell.Run($"umount {Mnt}");
        Assert.That(u.Code, Is.Zero, u.ToString());
        Assert.That(Mounter.IsMounted(Mnt), Is.False);
        r = Shell.Run($"mount -T {fstab} {Mnt}");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(Shell.Run($"ls {Mnt}/job/rdma.max").Code, Is.Zero, "mounted again, the state file restored the cgroup");
    }

    [Test]
    public void MountDashTFuseCgfsTakesOptionsLikeTheCommandLine()
    {
        var r = Shell.Run($"mount -t fuse.cgfs -o rdma-device=rxe0,rdma-device=rxe1,misc=sev=2,control={Sock},no_io_uring cgfs {Mnt}");
        Assert.That(r.Code, Is.Zero, r.ToString());
        AssertServes("rxe0 hca_handle=max hca_object=max \nrxe1 hca_handle=max hca_object=max \nsev 2\n");
        Assert.That(Shell.Run($"{Mount.Binary} ctl --control {Sock} status").Out, Does.Contain("transport /dev/fuse (io_uring: -o no_io_uring)\n"));
        var bad = Shell.Run($"mount -t fuse.cgfs -o misc=sev cgfs {_dir}");
        Assert.That(bad.Code, Is.Not.Zero, "a malformed option fails the mount with cgfs's message");
        Assert.That(bad.Err, Does.Contain("--misc expects NAME=CAPACITY"));
    }
}
