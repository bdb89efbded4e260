using CgFs.Fuse;
using System.Diagnostics;

namespace CgFs.Tests.Integration;

/// <summary>Mounting and unmounting as users do it: SIGTERM, fusermount3 -u, umount, kill -9,
/// the daemonizing `cgfs mount`. None may leave "Transport endpoint is not connected".</summary>
[NonParallelizable]
public sealed class LifecycleTests
{
    [TestCase("kill -TERM {pid}")]
    [TestCase("kill -INT {pid}")]
    [TestCase("fusermount3 -u {mnt}")]
    [TestCase("umount {mnt}")]
    public void UnmountPathsLeaveNoStaleMount(string how)
    {
        using var m = new Mount();
        Assert.That(m.Mkdir("A"), Is.EqualTo(CgFs.Accounting.Errno.Ok));
        var r = Shell.Run(how.Replace("{pid}", m.DaemonPid.ToString()).Replace("{mnt}", m.MountPoint));
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(m.Daemon.WaitForExit(10_000), Is.True, "the daemon exits");
        Assert.That(m.Daemon.ExitCode, Is.Zero);
        Assert.That(Mounter.IsMounted(m.MountPoint), Is.False);
        Assert.That(Shell.Run($"ls {m.MountPoint}").Code, Is.Zero, "the mount point is a plain directory again");
    }

    [Test]
    public void AConfigFileDeclaresDevicesAndTypesInOrder()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-config-").FullName;
        try
        {
            var config = Path.Combine(dir, "cgfs.conf");
            File.WriteAllText(config, "# test devices\nrdma-device rxe0\nrdma-device mlx5_0   # second\n\nmisc sev 12\nmisc ioasid 64 follow\n");
            using (var m = new Mount("--config", config))
            {
                Assert.That(m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir A && cut -d' ' -f1 A/rdma.max && cat misc.capacity").Out,
                    Is.EqualTo("rxe0\nmlx5_0\nsev 12\nioasid 64\n"));
                Assert.That(m.Ctl("status").Out, Does.Contain("misc ioasid capacity=64 current=0 follow\n"));
            }
            File.WriteAllText(config, "rdma-device a\nbogus line\n");
            var bad = Shell.Run($"{Mount.Binary} mount {dir} --config {config}");
            Assert.That((bad.Code, bad.Err), Is.EqualTo((2, $"cgfs: {config}: line 2: cannot parse \"bogus line\"\n")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void KillNineLeavesAUsableMountPoint()
    {
        using var m = new Mount();
        Shell.Run($"kill -KILL {m.DaemonPid}");
        Assert.That(m.Daemon.WaitForExit(10_000), Is.True);
        var deadline = Stopwatch.StartNew();
        while (Mounter.IsMounted(m.MountPoint) && deadline.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(50);
        Assert.That(Mounter.IsMounted(m.MountPoint), Is.False, "auto_unmount cleaned up");
        Assert.That(Shell.Run($"ls {m.MountPoint}").Code, Is.Zero);
        using var again = new Mount();
        Assert.That(again.Read("cgroup.controllers"), Is.EqualTo("rdma misc\n"));
    }

    [Test]
    public void DaemonModeReturnsOnceMountedAndHelpWorks()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-daemon-").FullName;
        try
        {
            var r = Shell.Run($"{Mount.Binary} mount {dir} --rdma-device rxe0 && cat {dir}/cgroup.controllers && echo +rdma > {dir}/cgroup.subtree_control && mkdir {dir}/A && cat {dir}/A/rdma.max");
            Assert.That(r.Out, Is.EqualTo("rdma misc\nrxe0 hca_handle=max hca_object=max \n"), r.ToString());
            Assert.That(Shell.Run($"{Mount.Binary} unmount {dir}").Code, Is.Zero);
            var deadline = Stopwatch.StartNew();
            while (Shell.Run($"pgrep -f 'cgfs mount {dir}'").Code == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10))
                Thread.Sleep(50);
            Assert.That(Shell.Run($"pgrep -f 'cgfs mount {dir}'").Code, Is.Not.Zero, "the daemon exited");
        }
        finally
        {
            Shell.Run($"fusermount3 -u -z {dir} 2>/dev/null; rmdir {dir}");
        }
        foreach (var cmd in new[] { "--help", "mount --help", "unmount --help", "poll --help" })
            Assert.That(Shell.Run($"{Mount.Binary} {cmd}").Out, Does.Contain("Usage"), cmd);
        Assert.That(Shell.Run($"{Mount.Binary} mount /nonexistent-dir").Code, Is.EqualTo(2));
        using var m = new Mount();
        var again = Shell.Run($"{Mount.Binary} mount {m.MountPoint} -f");
        Assert.That((again.Code, again.Err), Is.EqualTo((2, $"cgfs: {m.MountPoint} is already a live cgfs mount (unmount it first: cgfs unmount {m.MountPoint})\n")));
    }
}

/// <summary>Mounting without privilege, through fusermount3.</summary>
[NonParallelizable]
public sealed class UnprivilegedMountTests
{
    private const string AsNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp ";

    [Test]
    public void AnUnprivilegedOwnerCanMountAndUseItsHierarchy()
    {
        if (Shell.Run(AsNobody + "test -r /dev/fuse -a -w /dev/fuse").Code != 0)
            Assert.Ignore("/dev/fuse is not accessible to unprivileged users on this machine (mode 0600): unprivileged mounting cannot be exercised here");
        var dir = Directory.CreateTempSubdirectory("cgfs-user-").FullName;
        Shell.Run($"chmod 755 {dir} && chown 65534:65534 {dir}");
        try
        {
            Assert.That(Shell.Run(AsNobody + $"{Mount.Binary} mount {dir}").Code, Is.Zero);
            var r = Shell.Run(AsNobody + $"bash -c 'cd {dir} && stat -c \"%U %a\" . && mkdir A && echo 0 > A/cgroup.procs && echo +misc > cgroup.subtree_control && ls A | grep -c misc'");
            Assert.That(r.Out, Is.EqualTo("nobody 755\n5\n"), r.ToString());
            Assert.That(Shell.Run(AsNobody + $"{Mount.Binary} unmount {dir}").Code, Is.Zero);
        }
        finally
        {
            Shell.Run($"fusermount3 -u -z {dir} 2>/dev/null; rm -rf {dir}");
        }
    }

    /// <summary>out/cgfs is a NativeAOT executable: it mounts, serves and unmounts with the .NET
    /// runtime's directories hidden (a private mount namespace with empty tmpfs over them).</summary>
    [Test]
    public void TheBinaryNeedsNoDotnetRuntime()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-nodotnet-").FullName;
        try
        {
            var runtime = Path.GetDirectoryName(Path.GetFullPath(new FileInfo("/usr/share/dotnet/dotnet").Exists ? "/usr/share/dotnet/dotnet" : Environment.ProcessPath!))!;
            var script = $"mount -t tmpfs none {runtime} && [ ! -e {runtime}/dotnet ] && " +
                         $"env -u DOTNET_ROOT {Mount.Binary} mount {dir} --control {dir}.sock --rdma-device mlx5_0 && " +
                         $"cat {dir}/cgroup.controllers && {Mount.Binary} unmount {dir}";
            var r = Shell.Run($"unshare -m --propagation private sh -c '{script}'");
            Assert.That(r.Out, Is.EqualTo("rdma misc\n"), r.ToString());
        }
        finally
        {
            Directory.Delete(dir);
        }
    }
}
