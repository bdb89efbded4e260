using CgFs.Exec;

namespace CgFs.Tests.Exec;

/// <summary>What covered processes read instead of the kernel's text, on fixture text.</summary>
public sealed class ProcViewsTests
{
    private const string MountInfo =
        "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n" +
        "48 47 0:39 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - fuse.cgfs cgfs rw,user_id=0,group_id=0,default_permissions,allow_other\n" +
        "49 47 0:40 / /tmp/other\\040cg rw,relatime - fuse.cgfs cgfs rw,user_id=0,group_id=0,default_permissions,allow_other\n";

    /// <summary>makedev(0, 39): the device of the fixture's /sys/fs/cgroup.</summary>
    private const ulong Ours = 39;

    [Test]
    public void OurCgfsMountIsShownAsCgroup2()
    {
        Assert.That(ProcViews.MountTable(ProcFile.MountInfo, MountInfo, MountInfo, Ours), Is.EqualTo(
            "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n" +
            "48 47 0:39 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n" +
            "49 47 0:40 / /tmp/other\\040cg rw,relatime - fuse.cgfs cgfs rw,user_id=0,group_id=0,default_permissions,allow_other\n"));
        Assert.That(ProcViews.MountTable(ProcFile.Mounts,
                "cgfs /sys/fs/cgroup fuse.cgfs rw,nosuid,nodev,noexec,relatime,user_id=0,group_id=0,default_permissions,allow_other 0 0\nproc /proc proc rw 0 0\n" +
                "cgfs /tmp/other\\040cg fuse.cgfs rw,relatime,user_id=0,group_id=0 0 0\n", MountInfo, Ours),
            Is.EqualTo("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw 0 0\n" +
                       "cgfs /tmp/other\\040cg fuse.cgfs rw,relatime,user_id=0,group_id=0 0 0\n"));
        Assert.That(ProcViews.Cgroup("/"), Is.EqualTo("0::/\n"));
        Assert.That(ProcViews.MountTable(ProcFile.MountStats,
                "device proc mounted on /proc with fstype proc\ndevice cgfs mounted on /sys/fs/cgroup with fstype fuse.cgfs\n" +
                "device cgfs mounted on /tmp/other\\040cg with fstype fuse.cgfs\n", MountInfo, Ours),
            Is.EqualTo("device proc mounted on /proc with fstype proc\ndevice cgroup2 mounted on /sys/fs/cgroup with fstype cgroup2\n" +
                       "device cgfs mounted on /tmp/other\\040cg with fstype fuse.cgfs\n"));
    }

    [Test]
    public void ABindMountOfOurTreeIsOursToo()
    {
        var info = MountInfo + "50 47 0:39 /A /srv/a rw,relatime - fuse.cgfs cgfs rw\n";
        Assert.That(ProcViews.OurMountPoints(info, Ours), Is.EquivalentTo(new[] { "/sys/fs/cgroup", "/srv/a" }));
        Assert.That(ProcViews.OurMountPoints(info, (1UL << 8) | 39), Is.Empty, "major 1, minor 39 is another device");
    }

    [TestCase("/proc/42/mountinfo", ProcFile.MountInfo, 42, null)]
    [TestCase("/proc/42/task/43/cgroup", ProcFile.Cgroup, 42, 43)]
    [TestCase("/proc/mounts", ProcFile.Mounts, 7, null)]
    [TestCase("/proc/42/mounts", ProcFile.Mounts, 42, null)]
    public void ProcFilesAreRecognised(string path, ProcFile file, int pid, int? tid) =>
        Assert.That(ProcViews.Parse(path, selfPid: 7), Is.EqualTo(new ProcTarget(file, pid, tid)));

    [TestCase("/proc/cgroup")]
    [TestCase("/proc/42/fd/3")]
    [TestCase("/sys/fs/cgroup/cgroup.procs")]
    [TestCase("/proc/42/mountinfo/x")]
    public void OthersAreNot(string path) => Assert.That(ProcViews.Parse(path, 7), Is.Null);

    [Test]
    public void SelfAndThreadSelfMeanTheCaller()
    {
        Assert.That(ProcViews.Resolve("/proc/self/mountinfo", 42, 43), Is.EqualTo("/proc/42/mountinfo"));
        Assert.That(ProcViews.Resolve("/proc/thread-self/cgroup", 42, 43), Is.EqualTo("/proc/42/task/43/cgroup"));
        Assert.That(ProcViews.Resolve("/proc/selfish", 42, 43), Is.EqualTo("/proc/selfish"));
    }

    [Test]
    public void TheFilterTrapsExactlyTheListedCallsOfItsArchitecture()
    {
        var p = SeccompFilter.Program(Syscalls.X64);
        Assert.That(p[1].K, Is.EqualTo(Syscalls.X64.AuditArch));
        Assert.That(p.Count(i => i.Code == 0x15), Is.EqualTo(Syscalls.X64.Trapped.Length + 2), "arch, clone and one test per trapped call");
        Assert.That(p.Last().K, Is.EqualTo(Interop.Sys.SECCOMP_RET_ALLOW));
    }
}
