using CgFs.Cli;

namespace CgFs.Tests.Cli;

/// <summary>The mount-helper form mount.fuse3 runs: <c>cgfs SOURCE MOUNTPOINT -o OPTIONS</c>.</summary>
public sealed class MountHelperTests
{
    [TestCase(new[] { "cgfs", "/mnt/cg" }, true)]
    [TestCase(new[] { "cgfs", "/mnt/cg", "-o", "rw" }, true)]
    [TestCase(new[] { "cgfs", "/mnt/cg", "-o", "rw", "-o", "nosuid" }, true)]
    [TestCase(new[] { "cgfs" }, false)]
    [TestCase(new[] { "cgfs", "/mnt/cg", "-o" }, false)]
    [TestCase(new[] { "cgfs", "/mnt/cg", "-f" }, false)]
    [TestCase(new[] { "-o", "/mnt/cg" }, false)]
    [TestCase(new[] { "bogus", "--help" }, false)]
    public void RecognisesOnlySourceMountpointAndOptionPairs(string[] args, bool helper) =>
        Assert.That(MountHelper.Recognises(args), Is.EqualTo(helper));

    [Test]
    public void OverlayIsAFlagOrNamesItsDirectory()
    {
        Assert.That(MountHelper.Translate(["cgfs", "/mnt/cg", "-o", "overlay,nofail"]), Is.EqualTo(new[] { "/mnt/cg", "--overlay" }));
        var args = MountHelper.Translate(["cgfs", "/mnt/cg", "-o", "overlay=/sys/fs/cgroup,state=/s"]);
        Assert.That(args, Is.EqualTo(new[] { "/mnt/cg", "--overlay", "/sys/fs/cgroup", "--state", "/s" }));
        var o = MountOptions.Parse(args);
        Assert.That((o.Overlay, o.OverlayDir, o.State), Is.EqualTo((true, "/sys/fs/cgroup", "/s")));
        Assert.That(MountOptions.Parse(["/mnt/cg", "--overlay", "-f"]) is { Overlay: true, OverlayDir: null, Foreground: true });
    }

    [Test]
    public void CgfsOptionsBecomeItsOwnMountLevelOnesGoAndTheRestAreTheKernels()
    {
        var args = MountHelper.Translate(["cgfs", "/mnt/cg", "-o",
            "rw,noauto,nofail,_netdev,x-systemd.automount,comment=x,config=/etc/cgfs.conf,state=/var/lib/cgfs/state,rdma-device=rxe0,misc=sev=3,rdma-legacy,nosuid,no_io_uring",
            "-o", "threads=4,control=/run/cg.sock,log=/var/log/cgfs.log,allow_other"]);
        Assert.That(args, Is.EqualTo(new[]
        {
            "/mnt/cg", "--config", "/etc/cgfs.conf", "--state", "/var/lib/cgfs/state", "--rdma-device", "rxe0", "--misc", "sev=3", "--rdma-legacy",
            "--threads", "4", "--control", "/run/cg.sock", "--log", "/var/log/cgfs.log", "-o", "rw,nosuid,no_io_uring,allow_other",
        }));
        var o = MountOptions.Parse([.. args.Where((_, i) => i is not (1 or 2))]);  // without --config: its file is not here
        Assert.That((o.Foreground, o.Transport, o.FuseOptions), Is.EqualTo((false, CgFs.Fuse.TransportMode.DevFuse, new List<string> { "rw", "nosuid", "allow_other" })),
            "a helper returns once mounted: the daemon goes to the background");
    }
}
