using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>The device side through the real CLI (issue: control socket, ctl, hold).</summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class ControlTests(MountMode mode)
{
    private Mount _m = null!;
    private string Hold => $"{Mount.Binary} hold --control {_m.Control}";

    [SetUp]
    public void SetUp()
    {
        _m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--rdma-device", "rxe0", "--misc", "sev=3");
        Assert.That(_m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir A A/B A/C && echo '+rdma +misc' > A/cgroup.subtree_control").Code, Is.Zero);
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    /// <summary>Starts `cgfs hold ARGS -- sleep 300` from a shell moved into <paramref name="cgroup"/>;
    /// returns the holder's pid (the subshell execs into it). Killing it releases its context.</summary>
    private int StartHolder(string cgroup, string args)
    {
        var r = _m.Sh($"( echo $BASHPID > {cgroup}/cgroup.procs; exec {Hold} {args} -- sleep 300 ) > /dev/null 2>&1 < /dev/null & echo $!");
        return int.Parse(r.Out.Trim());
    }

    private string[] Pids(string cgroup) => _m.Read(cgroup + "/cgroup.procs").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private string Devices(string file = "A/rdma.max") =>
        string.Join(' ', _m.Read(file).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]));

    [Test]
    public void HotPlugKeepsRegistrationOrder()
    {
        Assert.That(_m.Ctl("device add mlx5_1").Code, Is.Zero);
        Assert.That(Devices(), Is.EqualTo("mlx5_0 rxe0 mlx5_1"));
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=4"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Ctl("device remove mlx5_0").Code, Is.Zero);
        Assert.That(Devices(), Is.EqualTo("rxe0 mlx5_1"));
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=4"), Is.EqualTo(Errno.ENODEV));
        Assert.That(_m.Ctl("device add mlx5_0").Code, Is.Zero);
        Assert.That(_m.Read("A/rdma.max"), Is.EqualTo("rxe0 hca_handle=max hca_object=max \nmlx5_1 hca_handle=max hca_object=max \nmlx5_0 hca_handle=max hca_object=max \n"));
        Assert.That(_m.Ctl("device list").Out, Is.EqualTo("rxe0\nmlx5_1\nmlx5_0\n"));
        var dup = _m.Ctl("device add rxe0");
        Assert.That((dup.Code, dup.Err), Is.EqualTo((1, $"cgfs ctl: device add rxe0: device rxe0 is already registered (EEXIST)\n")));
        Assert.That(_m.Ctl("device remove nope").Code, Is.EqualTo(1));
        Assert.That(_m.Ctl("bogus words").Code, Is.EqualTo(1));
        Assert.That(Shell.Run($"{Mount.Binary} ctl --control /nonexistent.sock status").Code, Is.EqualTo(2));
    }

    [Test]
    public void MiscCapacitiesAndTypesAtRunTime()
    {
        Assert.That(_m.Ctl("misc capacity tdx 4").Code, Is.Zero);
        Assert.That(_m.Read("misc.capacity"), Is.EqualTo("sev 3\ntdx 4\n"));
        Assert.That(_m.Ctl("misc capacity ioasid 64").Code, Is.Zero);
        Assert.That(_m.Read("A/misc.max"), Is.EqualTo("sev max\ntdx max\nioasid max\n"));
        Assert.That(_m.Write("A/misc.max", "ioasid 5"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Ctl("misc capacity sev 0").Code, Is.Zero);
        Assert.That(_m.Read("A/misc.max"), Is.EqualTo("tdx max\nioasid 5\n"));
        Assert.That(_m.Sh($"echo 0 > A/B/cgroup.procs; exec {Hold} --misc ioasid=1 -- {Mount.Binary} ctl --control {_m.Control} misc remove ioasid").Err,
            Does.Contain("misc type ioasid is in use (EBUSY)"));
        Assert.That(_m.Ctl("misc remove ioasid").Code, Is.Zero);
        Assert.That(_m.Write("A/misc.max", "ioasid 5"), Is.EqualTo(Errno.EINVAL));
        Assert.That(_m.Read("A/misc.max"), Is.EqualTo("tdx max\n"));
        var status = _m.Ctl("status").Out;
        // The transport lines (which transport, requests per io_uring queue, what came on /dev/fuse) vary with the kernel.
        var transport = string.Concat(status.Split('\n').Where(l => l.StartsWith("transport ") || l.StartsWith("io_uring queue ") || l.StartsWith("fuse ")).Select(l => l + "\n"));
        Assert.That(transport, Does.Match("^transport (io_uring\n(io_uring queue [0-9]+ requests [0-9]+\n)+|/dev/fuse \\(io_uring: [^\n]+\\)\n)fuse forgets [0-9]+ interrupts [0-9]+\n$"));
        Assert.That(status, Is.EqualTo(
            $"version 1\nmount {_m.MountPoint}\n{(_m.Overlaid is { } real ? $"overlay {real}\n" : "")}{transport}device mlx5_0 hca_handle=0 hca_object=0\ndevice rxe0 hca_handle=0 hca_object=0\nmisc sev capacity=0 current=0\nmisc sev_es capacity=0 current=0\nmisc tdx capacity=4 current=0\n"));
    }

    [Test]
    public void OnlyRootMayChangeDevicesButAnyoneMayCharge()
    {
        const string asU = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
        var r = _m.Sh(asU + $"{Mount.Binary} ctl --control {_m.Control} device add x");
        Assert.That((r.Code, r.Err), Is.EqualTo((1, "cgfs ctl: device add x: only root or the mount's owner may change devices and capacities (EPERM)\n")));
        var held = _m.Sh(asU + $"{Hold} --rdma mlx5_0:hca_object=2 -- cat misc.current {_m.MountPoint}/cgroup.controllers");
        Assert.That(held.Code, Is.Zero, held.ToString());
    }

    [Test]
    public void HoldChargesTheShellsCgroupAndReleasesOnExit()
    {
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=2"), Is.EqualTo(Errno.Ok));
        var r = _m.Sh($"echo $$ > A/B/cgroup.procs; {Hold} --rdma mlx5_0:hca_handle=2,hca_object=3 --misc sev=1 -- cat A/B/rdma.current A/rdma.current A/B/misc.current");
        Assert.That(r.Out, Is.EqualTo(
            "mlx5_0 hca_handle=2 hca_object=3 \nrxe0 hca_handle=0 hca_object=0 \nmlx5_0 hca_handle=2 hca_object=3 \nrxe0 hca_handle=0 hca_object=0 \nsev 1\n"), r.ToString());
        Assert.That(_m.Read("A/rdma.current"), Is.EqualTo("mlx5_0 hca_handle=0 hca_object=0 \nrxe0 hca_handle=0 hca_object=0 \n"));
        Assert.That(_m.Read("A/rdma.peak").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=2 hca_object=3 "));
        var fail = _m.Sh($"echo $$ > A/B/cgroup.procs; {Hold} --rdma mlx5_0:hca_object=1,hca_handle=3 -- echo ran");
        Assert.That((fail.Code, fail.Out), Is.EqualTo((1, "")));
        Assert.That(fail.Err, Does.StartWith("cgfs hold: rdma mlx5_0 hca_handle=3: EAGAIN (Resource temporarily unavailable)"));
        Assert.That(_m.Read("A/rdma.current").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=0 hca_object=0 "), "the context's earlier charges were rolled back");
        var misc = _m.Sh($"echo $$ > A/B/cgroup.procs; {Hold} --misc sev=4 -- true; echo rc=$?; {Hold} --misc sev_es=1 -- true");
        Assert.That(misc.Out, Is.EqualTo("rc=1\n"));
        Assert.That(misc.Err, Does.Contain("misc sev=4: EBUSY").And.Contain("misc sev_es=1: EINVAL"));
        Assert.That(_m.Read("A/B/misc.events.local"), Is.EqualTo("sev.max 1\n"), "capacity is checked at every level: the lowest one rejects");
        Assert.That(_m.Sh($"{Hold} --misc sev=1 -- sh -c 'exit 7'").Code, Is.EqualTo(7), "hold exits with CMD's status");
    }

    [Test]
    public void SigkillOfTheProcessGroupReleasesEverything()
    {
        var r = _m.Sh($"( echo $BASHPID > A/B/cgroup.procs; exec setsid {Hold} --rdma mlx5_0:hca_object=5 --misc sev=2 -- sleep 300 ) > /dev/null 2>&1 < /dev/null & echo $!");
        int holder = int.Parse(r.Out.Trim());
        Assert.That(Wait.Until(() => _m.Read("A/rdma.current").StartsWith("mlx5_0 hca_handle=0 hca_object=5 ")), Is.True);
        Assert.That(_m.Sh($"kill -KILL -- -{holder}").Code, Is.Zero, "the holder leads its own process group (setsid)");
        Assert.That(Wait.Until(() => _m.Read("A/rdma.current").StartsWith("mlx5_0 hca_handle=0 hca_object=0 ") && _m.Read("A/misc.current") == "sev 0\n"), Is.True,
            "charges are released when the holder dies");
    }

    [Test]
    public void MigrateThenReleaseUnchargesTheOriginalCgroup()
    {
        int holder = StartHolder("A/B", "--rdma mlx5_0:hca_handle=1 --misc sev=1");
        Assert.That(Wait.Until(() => _m.Read("A/B/misc.current") == "sev 1\n"), Is.True);
        // The holder forks its command after charging; the fork reaches cgfs asynchronously.
        Assert.That(Wait.Until(() => Pids("A/B").Length == 2), Is.True, "the holder and its sleep child are in A/B");
        Assert.That(_m.Write("A/C/cgroup.procs", holder.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That((_m.Read("A/B/misc.current"), _m.Read("A/C/misc.current")), Is.EqualTo(("sev 1\n", "sev 0\n")), "charges never move");
        Assert.That(_m.Rmdir("A/B"), Is.EqualTo(Errno.EBUSY), "the sleep child is still in A/B");
        _m.Sh($"kill {holder}");
        Assert.That(Wait.Until(() => _m.Read("A/misc.current") == "sev 0\n" && _m.Read("A/rdma.current").StartsWith("mlx5_0 hca_handle=0 ")), Is.True);
        Assert.That(_m.Read("A/C/rdma.current").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle=0 hca_object=0 "));
    }

    [Test]
    public void RemovedCgroupKeepsHolderChargesUntilRelease()
    {
        int holder = StartHolder("A/B", "--misc sev=2");
        Assert.That(Wait.Until(() => _m.Read("A/B/misc.current") == "sev 2\n"), Is.True);
        // Move everything until A/B stays empty: a fork event may still be on its way.
        Assert.That(Wait.Until(() =>
        {
            foreach (var pid in Pids("A/B"))
                _m.Write("A/C/cgroup.procs", pid);
            return Pids("A/B").Length == 0 && Pids("A/C").Length == 2;
        }), Is.True);
        Assert.That(_m.Rmdir("A/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/misc.current"), Is.EqualTo("sev 2\n"));
        Assert.That(_m.Read("A/cgroup.stat"), Does.Contain("nr_dying_descendants 1\n"));
        Assert.That(_m.Ctl("device remove mlx5_0").Code, Is.Zero, "no rdma charge holds the device");
        _m.Sh($"kill {holder}");
        Assert.That(Wait.Until(() => _m.Read("A/misc.current") == "sev 0\n" && _m.Read("A/cgroup.stat").Contains("nr_dying_descendants 0\n")), Is.True);
    }

    [Test]
    public void DeviceRemovalIsRefusedWhileChargesAreHeld()
    {
        var r = _m.Sh($"echo $$ > A/B/cgroup.procs; {Hold} --rdma rxe0:hca_handle=1 -- {Mount.Binary} ctl --control {_m.Control} device remove rxe0");
        Assert.That((r.Code, r.Err), Is.EqualTo((1, "cgfs ctl: device remove rxe0: device rxe0 has charges held; release them first (EBUSY)\n")));
        Assert.That(_m.Ctl("device remove rxe0").Code, Is.Zero, "released when the holder exited");
    }

    [Test]
    public void FollowChargesMoveWithTheirHolderOrVetoTheMove()
    {
        Assert.That(_m.Ctl("misc capacity ioasid 8 follow").Code, Is.Zero);
        Assert.That(_m.Write("A/C/misc.max", "ioasid 1"), Is.EqualTo(Errno.Ok));
        int holder = StartHolder("A/B", "--misc ioasid=2");
        Assert.That(Wait.Until(() => _m.Read("A/B/misc.current").Contains("ioasid 2")), Is.True);
        Assert.That(_m.Write("A/C/cgroup.procs", holder.ToString()), Is.EqualTo(Errno.EBUSY), "the destination cannot take 2");
        Assert.That(_m.Write("A/C/misc.max", "ioasid 2"), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Write("A/C/cgroup.procs", holder.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_m.Read("A/B/misc.current"), Does.Contain("ioasid 0"));
        Assert.That(_m.Read("A/C/misc.current"), Does.Contain("ioasid 2"));
        _m.Sh($"kill {holder}");
        Assert.That(Wait.Until(() => _m.Read("misc.current").Contains("ioasid 0")), Is.True);
    }

    [Test]
    public void HundredConcurrentHoldersRaceOneLimit()
    {
        Assert.That(_m.Write("A/rdma.max", "mlx5_0 hca_handle=10"), Is.EqualTo(Errno.Ok));
        var dir = Directory.CreateTempSubdirectory("cgfs-race-").FullName;
        try
        {
            var script = $$"""
                echo $$ > A/B/cgroup.procs
                for i in $(seq 100); do
                  ( {{Hold}} --rdma mlx5_0:hca_handle=1 -- sh -c 'while [ ! -e {{dir}}/go ]; do sleep 0.05; done' 2> {{dir}}/err.$i; echo $? > {{dir}}/rc.$i ) &
                done
                for t in $(seq 1200); do [ $(ls {{dir}} | grep -c '^rc') -ge 90 ] && break; sleep 0.1; done
                sleep 0.5
                echo "early=$(ls {{dir}} | grep -c '^rc')"
                head -n 1 A/rdma.current
                touch {{dir}}/go
                wait
                echo "ok=$(grep -l '^0$' {{dir}}/rc.* | wc -l) refused=$(grep -l '^1$' {{dir}}/rc.* | wc -l) eagain=$(grep -l EAGAIN {{dir}}/err.* | wc -l)"
                """;
            var r = _m.Sh(script, timeoutMs: 180_000);
            Assert.That(r.Out, Is.EqualTo("early=90\nmlx5_0 hca_handle=10 hca_object=0 \nok=10 refused=90 eagain=90\n"), r.ToString());
            Assert.That(Wait.Until(() => _m.Read("A/rdma.current").StartsWith("mlx5_0 hca_handle=0 hca_object=0 ")), Is.True, "nothing leaks");
            Assert.That(_m.Read("A/rdma.events.local").Split('\n')[0], Is.EqualTo("mlx5_0 hca_handle.max=90 hca_handle.alloc_fail=0 hca_object.max=0 hca_object.alloc_fail=0"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

}
