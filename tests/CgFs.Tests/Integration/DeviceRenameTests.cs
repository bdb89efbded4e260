using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>
/// Renaming an RDMA device, as `rdma dev set rxe1 name rxe9` does on a kernel (ib_device_rename;
/// spec rdma.md 1 and 11.4): the device's line changes name in place in every rdma file, its limits,
/// charges, peaks and events stay, writes must use the new name (the old one is ENODEV), and
/// renaming back shows the old name with the same limits. The steps follow a Linux 6.12 Soft-RoCE
/// transcript (rxe0, rxe1; a cgroup with limits and a process holding a context).
/// </summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class DeviceRenameTests(MountMode mode)
{
    private Mount _m = null!;
    private string _dir = null!;

    private string State => Path.Combine(_dir, "state.journal");

    private KernelScratch? _real;

    private Mount Start() => Mount.Over(_real, "--rdma-device", "rxe0", "--rdma-device", "rxe1", "--state", State);

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("cgfs-rename-").FullName;
        _real = Mount.ScratchFor(mode);
        _m = Start();
        Assert.That(_m.Sh("echo +rdma > cgroup.subtree_control && mkdir job && echo 'rxe1 hca_handle=2 hca_object=10' > job/rdma.max").Code, Is.Zero);
    }

    [TearDown]
    public void TearDown()
    {
        _m.Dispose();
        _real?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public void TheLineChangesNameInPlaceAndKeepsLimitsAndCharges()
    {
        var hold = $"{Mount.Binary} hold --control {_m.Control}";
        Assert.That(_m.Sh($"echo $$ > job/cgroup.procs; {hold} --rdma rxe1:hca_handle=3 -- true").Code, Is.EqualTo(1), "over the limit: an event");
        var r = _m.Sh($"echo $$ > job/cgroup.procs; {hold} --rdma rxe1:hca_handle=1,hca_object=4 -- sh -c '" +
                      $"{Mount.Binary} ctl --control {_m.Control} device rename rxe1 rxe9 && cat job/rdma.max job/rdma.current job/rdma.peak'");
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(r.Out, Is.EqualTo(
            "rxe0 hca_handle=max hca_object=max \nrxe9 hca_handle=2 hca_object=10 \n" +
            "rxe0 hca_handle=0 hca_object=0 \nrxe9 hca_handle=1 hca_object=4 \n" +
            "rxe0 hca_handle=0 hca_object=0 \nrxe9 hca_handle=2 hca_object=4 \n"),
            "renamed while a context holds charges; the peak has the two handles the refused hold charged before its third failed");
        Assert.That(_m.Ctl("status").Out, Does.Contain("device rxe0 hca_handle=0 hca_object=0\ndevice rxe9 hca_handle=0 hca_object=0\n"));
        Assert.That(_m.Read("job/rdma.current"), Is.EqualTo("rxe0 hca_handle=0 hca_object=0 \nrxe9 hca_handle=0 hca_object=0 \n"),
            "the holder's charges, made under the old name, were released from the same device");
        Assert.That(_m.Write("job/rdma.max", "rxe9 hca_handle=3"), Is.EqualTo(Errno.Ok), "writes use the new name");
        Assert.That(_m.Write("job/rdma.max", "rxe1 hca_handle=4"), Is.EqualTo(Errno.ENODEV), "the old name is no device");
        Assert.That(_m.Write("job/rdma.current", "rxe1 hca_object=+1"), Is.EqualTo(Errno.ENODEV));
        Assert.That(_m.Sh($"echo $$ > job/cgroup.procs; {hold} --rdma rxe9:hca_object=2 -- cat job/rdma.current").Out,
            Is.EqualTo("rxe0 hca_handle=0 hca_object=0 \nrxe9 hca_handle=0 hca_object=2 \n"), "cgfs hold charges the new name");
        Assert.That(_m.Ctl("device rename rxe9 rxe1").Code, Is.Zero);
        Assert.That(_m.Read("job/rdma.max"), Is.EqualTo("rxe0 hca_handle=max hca_object=max \nrxe1 hca_handle=3 hca_object=10 \n"),
            "renamed back: the old name, the same (updated) limits");
        Assert.That(_m.Read("job/rdma.events"), Is.EqualTo("rxe0 hca_handle.max=0 hca_handle.alloc_fail=0 hca_object.max=0 hca_object.alloc_fail=0\n" +
                                                          "rxe1 hca_handle.max=1 hca_handle.alloc_fail=1 hca_object.max=0 hca_object.alloc_fail=0\n"),
            "the event counted before the renames stays with the device");
    }

    [Test]
    public void ACollisionOrAnUnknownDeviceIsRefusedAndChangesNothing()
    {
        var taken = _m.Ctl("device rename rxe1 rxe0");
        Assert.That((taken.Code, taken.Err), Is.EqualTo((1, "cgfs ctl: device rename rxe1 rxe0: device rxe0 is already registered (EEXIST)\n")));
        var missing = _m.Ctl("device rename mlx5_0 mlx5_1");
        Assert.That((missing.Code, missing.Err), Is.EqualTo((1, "cgfs ctl: device rename mlx5_0 mlx5_1: no device mlx5_0 (ENODEV)\n")));
        Assert.That(_m.Ctl("device list").Out, Is.EqualTo("rxe0\nrxe1\n"));
        Assert.That(_m.Read("job/rdma.max"), Is.EqualTo("rxe0 hca_handle=max hca_object=max \nrxe1 hca_handle=2 hca_object=10 \n"));
        var asNobody = _m.Sh($"setpriv --reuid=65534 --regid=65534 --clear-groups {Mount.Binary} ctl --control {_m.Control} device rename rxe1 rxe9");
        Assert.That(asNobody.Code, Is.EqualTo(1), "only root or the mount's owner renames devices");
    }

    [Test]
    public void ARenameSurvivesKillNine()
    {
        Assert.That(_m.Ctl("device rename rxe1 rxe9").Code, Is.Zero);
        Assert.That(_m.Write("job/rdma.max", "rxe9 hca_object=7"), Is.EqualTo(Errno.Ok));
        _m.Kill9();
        _m = Start();
        Assert.That(_m.Read("job/rdma.max"), Is.EqualTo("rxe0 hca_handle=max hca_object=max \nrxe9 hca_handle=2 hca_object=7 \n"),
            "the journal replays the rename between the writes");
        Assert.That(_m.Ctl("device list").Out, Is.EqualTo("rxe0\nrxe9\n"), "the state file, not the options, says which devices there are");
        Assert.That(_m.Write("job/rdma.max", "rxe1 hca_object=1"), Is.EqualTo(Errno.ENODEV));
    }
}
