using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>
/// Vendor-defined rdma resources through the mount (opt-in: --rdma-resource, or resources= per
/// device in a config file): after hca_handle and hca_object in every rdma file of that device,
/// the same grammar, hierarchical charges with rollback, peaks, events, `cgfs hold`, the
/// rdma.current shortcut, the journal. Without them the files are the kernel's (every other test).
/// </summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class RdmaVendorTests(MountMode mode)
{
    [Test]
    public void ResourcesFollowTheKernelsTwoAndChargeLikeThem()
    {
        using var m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--rdma-device", "rxe0", "--rdma-resource", "qp", "--rdma-resource", "mr");
        Assert.That(m.Sh("echo +rdma > cgroup.subtree_control && mkdir -p job/t && echo +rdma > job/cgroup.subtree_control").Code, Is.Zero);
        Assert.That(m.Read("job/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=max hca_object=max qp=max mr=max \nrxe0 hca_handle=max hca_object=max qp=max mr=max \n"));
        Assert.That(m.Write("job/rdma.max", "mlx5_0 qp=3 mr=max hca_handle=5"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("job/rdma.max", "mlx5_0 uar=1"), Is.EqualTo(Errno.EINVAL), "not declared");
        Assert.That(m.Write("job/rdma.max", "mlx9 qp=1"), Is.EqualTo(Errno.ENODEV));
        Assert.That(m.Read("job/rdma.max").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=5 hca_object=max qp=3 mr=max "));
        var hold = $"{Mount.Binary} hold --control {m.Control}";
        var held = m.Sh($"echo $$ > job/t/cgroup.procs; {hold} --rdma mlx5_0:qp=2,hca_object=1 -- cat job/rdma.current");
        Assert.That(held.Out, Is.EqualTo("mlx5_0 hca_handle=0 hca_object=1 qp=2 mr=0 \nrxe0 hca_handle=0 hca_object=0 qp=0 mr=0 \n"), held.ToString());
        var refused = m.Sh($"echo $$ > job/t/cgroup.procs; {hold} --rdma mlx5_0:hca_object=2,qp=4 -- true");
        Assert.That(refused.Err, Does.StartWith("cgfs hold: rdma mlx5_0 qp=4: EAGAIN"), refused.ToString());
        Assert.That(m.Read("job/rdma.current").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=0 hca_object=0 qp=0 mr=0 "),
            "the failed qp charge rolled back, and the context's hca_object charge with it");
        Assert.That(m.Read("job/rdma.peak").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=0 hca_object=2 qp=3 mr=0 "));
        Assert.That(m.Read("job/rdma.events").Split('\n')[0],
            Is.EqualTo("mlx5_0 hca_handle.max=0 hca_handle.alloc_fail=0 hca_object.max=0 hca_object.alloc_fail=0 qp.max=1 qp.alloc_fail=1 mr.max=0 mr.alloc_fail=0"), "hierarchical: the request came from job/t, below job");
        Assert.That(m.Write("job/t/rdma.current", "mlx5_0 qp=+3 hca_object=+1"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("job/t/rdma.current", "mlx5_0 hca_object=+1 qp=+1"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(m.Read("job/t/rdma.current").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=0 hca_object=1 qp=3 mr=0 "), "all or nothing");
        Assert.That(m.Sh($"{hold} --rdma mlx5_0:uar=1 -- true").Err, Does.Contain("EINVAL"));
    }

    [Test]
    public void PerDeviceResourcesFromAConfigFileSurviveKillNine()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-vendor-").FullName;
        using var real = Mount.ScratchFor(mode);
        try
        {
            var conf = Path.Combine(dir, "cgfs.conf");
            File.WriteAllText(conf, "rdma-device mlx5_0 resources=qp,mr,uar\nrdma-device rxe0\n");
            string[] args = ["--config", conf, "--state", Path.Combine(dir, "state")];
            var m = Mount.Over(real, args);
            Assert.That(m.Sh("echo +rdma > cgroup.subtree_control && mkdir job && echo 'mlx5_0 uar=7' > job/rdma.max && echo 'mlx5_0 mr=+2' > job/rdma.current").Code, Is.Zero);
            Assert.That(m.Write("job/rdma.max", "rxe0 qp=1"), Is.EqualTo(Errno.EINVAL), "rxe0 has no qp");
            var before = m.Read("job/rdma.max") + m.Read("job/rdma.current");
            Assert.That(before, Is.EqualTo("mlx5_0 hca_handle=max hca_object=max qp=max mr=max uar=7 \nrxe0 hca_handle=max hca_object=max \n" +
                                           "mlx5_0 hca_handle=0 hca_object=0 qp=0 mr=2 uar=0 \nrxe0 hca_handle=0 hca_object=0 \n"));
            Assert.That(m.Ctl("status").Out, Does.Contain("device mlx5_0 hca_handle=0 hca_object=0 qp=0 mr=2 uar=0\n"));
            m.Kill9();
            using var again = Mount.Over(real, args);
            Assert.That(again.Read("job/rdma.max") + again.Read("job/rdma.current"), Is.EqualTo(before), "devices, their resources, limits and shortcut charges restored");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void MoreThan64ResourcesAreRefusedAtMount()
    {
        var many = string.Join(' ', Enumerable.Range(0, 63).Select(i => $"--rdma-resource r{i}"));
        var r = Shell.Run($"mkdir -p /tmp/cgfs-vendor-64 && {Mount.Binary} mount /tmp/cgfs-vendor-64 {many}; echo rc=$?; rmdir /tmp/cgfs-vendor-64");
        Assert.That(r.Out, Is.EqualTo("rc=2\n"));
        Assert.That(r.Err, Does.Contain("--rdma-resource: at most 64 resources per device"));
    }
}
