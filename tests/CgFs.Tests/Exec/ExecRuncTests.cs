using System.Text.Json.Nodes;
using CgFs.Tests.Integration;

namespace CgFs.Tests.Exec;

/// <summary>
/// Debian's runc, unmodified, under `cgfs exec`: a busybox container whose config.json has
/// linux.resources.rdma and unified misc.max runs detached; runc writes the limits and the
/// container's pid into cgfs (its nsexec stages are born with CLONE_PARENT, so the container lands
/// in the cgroup runc placed its first stage in), then ps, events --stats, kill and delete work
/// and the cgroup is removed. runc's device filter is attached through the emulated bpf(2).
/// In overlay mode the container's process is really placed: the kernel's /proc/PID/cgroup has it
/// in the real cgroup the overlay mirrors, while its rdma and misc limits are cgfs's.
/// </summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class ExecRuncTests(MountMode mode)
{
    private Mount _m = null!;
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--misc", "sev=4");
        _dir = Directory.CreateTempSubdirectory("cgfs-runc-").FullName;
        var rootfs = Path.Combine(_dir, "bundle", "rootfs", "bin");
        Directory.CreateDirectory(rootfs);
        File.Copy("/bin/busybox", Path.Combine(rootfs, "busybox"));
        foreach (var tool in new[] { "sh", "sleep", "cat" })
            File.CreateSymbolicLink(Path.Combine(rootfs, tool), "busybox");
        var spec = Shell.Run($"cd {_dir}/bundle && runc spec");
        Assert.That(spec.Code, Is.Zero, spec.ToString());
        var config = JsonNode.Parse(File.ReadAllText($"{_dir}/bundle/config.json"))!;
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = new JsonArray("sleep", "60");
        config["linux"]!["cgroupsPath"] = "/runc-test/c1";
        config["linux"]!["resources"]!["rdma"] = new JsonObject { ["mlx5_0"] = new JsonObject { ["hcaHandles"] = 2, ["hcaObjects"] = 10 } };
        config["linux"]!["resources"]!["unified"] = new JsonObject { ["misc.max"] = "sev 2" };
        File.WriteAllText($"{_dir}/bundle/config.json", config.ToJsonString());
    }

    [TearDown]
    public void TearDown()
    {
        Runc("kill c1 KILL");
        Runc("delete -f c1");
        _m.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private ShResult Runc(string args) =>
        Shell.Run($"cd {_dir}/bundle && {Mount.Binary} exec --control {_m.Control} -- runc --root {_dir}/state {args}", timeoutMs: 60_000);

    [Test]
    public void AContainerWithRdmaAndMiscLimitsRunsInCgfs()
    {
        // The detached container keeps runc's stdio: give it a file, not the test's pipes.
        var run = Runc($"run -d c1 </dev/null >{_dir}/run.log 2>&1");
        Assert.That(run.Code, Is.Zero, File.ReadAllText($"{_dir}/run.log"));
        var pid = Runc("state c1").Out;
        var statePid = (int)JsonNode.Parse(pid)!["pid"]!;
        Assert.Multiple(() =>
        {
            Assert.That(_m.Read("runc-test/c1/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=10 \n"));
            Assert.That(_m.Read("runc-test/c1/misc.max"), Is.EqualTo("sev 2\n"));
            Assert.That(_m.Read("runc-test/c1/cgroup.procs"), Is.EqualTo($"{statePid}\n"), "the container's init is in its cgroup");
            Assert.That(_m.Read("runc-test/cgroup.subtree_control"), Does.Contain("rdma").And.Contain("misc"));
        });
        if (_m.Overlaid is { } real)
        {
            var kernel = File.ReadAllText($"/proc/{statePid}/cgroup").Split('\n').Single(l => l.StartsWith("0::"));
            Assert.That(kernel, Does.EndWith($"/{Path.GetFileName(real)}/runc-test/c1"), "the kernel has the container there");
            Assert.That(File.ReadAllText($"{real}/runc-test/c1/cgroup.procs"), Is.EqualTo($"{statePid}\n"));
            Assert.That(File.ReadAllText($"{real}/runc-test/cgroup.subtree_control"), Does.Not.Contain("rdma"), "rdma is cgfs's alone");
        }
        var ps = Runc("ps c1");
        Assert.That(ps.Out, Does.Contain("sleep 60"), ps.ToString());
        var events = Runc("events --stats c1");
        Assert.That(events.Out, Does.StartWith("{\"type\":\"stats\",\"id\":\"c1\""), events.ToString());
        Assert.That(Runc("kill c1 KILL").Code, Is.Zero);
        Assert.That(Wait.Until(() => Runc("state c1").Out.Contains("\"stopped\"")), Is.True);
        var delete = Runc("delete c1");
        Assert.That(delete.Code, Is.Zero, delete.ToString());
        Assert.That(Directory.Exists(_m.P("runc-test/c1")), Is.False, "runc removed the container's cgroup");
    }
}
