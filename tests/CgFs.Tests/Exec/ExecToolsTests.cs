using CgFs.Tests.Integration;

namespace CgFs.Tests.Exec;

/// <summary>
/// Unmodified programs Debian packages, A/B: outside `cgfs exec` they do not accept the cgfs
/// mount as cgroup v2, under it they do — the Go cgroup libraries of runc and containerd (a static
/// binary: raw syscalls, no libc), libcgroup's tools with no /proc/mounts shim, systemd-cgls.
/// </summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class ExecToolsTests(MountMode mode)
{
    private Mount _m = null!;

    [SetUp]
    public void SetUp() => _m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--misc", "sev=4");

    [TearDown]
    public void TearDown() => _m.Dispose();

    private ShResult Exec(string command) => Shell.Run($"{Mount.Binary} exec --control {_m.Control} -- {command}", timeoutMs: 60_000);

    [Test]
    public void TheGoCgroupLibrariesOfRuncAndContainerd()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-go-").FullName;
        try
        {
            Directory.CreateDirectory($"{dir}/src/cgprobe");
            File.Copy($"{Mount.RepoRoot}/tests/CgFs.Tests/Exec/cgprobe.go", $"{dir}/src/cgprobe/main.go");
            var build = Shell.Run($"cd {dir}/src/cgprobe && GOPATH={dir}:/usr/share/gocode GO111MODULE=off GOCACHE={dir}/cache CGO_ENABLED=0 go build -o {dir}/cgprobe .",
                timeoutMs: 300_000);
            Assert.That(build.Code, Is.Zero, build.ToString());
            _m.Mkdir("pod");
            var outside = Shell.Run($"{dir}/cgprobe");
            var inside = Exec($"sh -c 'echo $$ > /sys/fs/cgroup/pod/cgroup.procs && exec {dir}/cgprobe'");
            Assert.That(outside.Out, Does.Contain("runc-unified false\n").And.Contain("runc-openfile error\n").And.Not.Contain("containerd-mode unified"));
            Assert.That(inside.Out, Is.EqualTo("runc-unified true\nrunc-openfile \"rdma misc\\n\"\nrunc-parse \"/pod\"\ncontainerd-mode unified\n"), inside.ToString());
        }
        finally
        {
            Shell.Run($"chmod -R u+w {dir}; rm -rf {dir}");
        }
    }

    [Test]
    public void LibcgroupToolsFindTheControllersThroughTheMountTable()
    {
        var outside = Shell.Run("cgget -r rdma.max /");
        Assert.That(outside.Code, Is.Not.Zero, "outside: no cgroup2 mount with rdma");
        var inside = Exec("sh -c 'cgcreate -g rdma,misc:/lib1 && cgset -r rdma.max=\"mlx5_0 hca_handle=2\" -r misc.max=\"sev 3\" lib1 && " +
                          "cgget -n -v -r rdma.max -r misc.max lib1'");
        Assert.That(inside.Code, Is.Zero, inside.ToString());
        Assert.That(inside.Out, Is.EqualTo("mlx5_0 hca_handle=2 hca_object=max \nsev 3\n"));
        Assert.That(_m.Read("lib1/rdma.max"), Is.EqualTo("mlx5_0 hca_handle=2 hca_object=max \n"), "written into cgfs");
        Assert.That(_m.Read("cgroup.subtree_control"), Does.Contain("rdma").And.Contain("misc"));
    }

    [Test]
    public void SystemdCglsShowsTheCgfsTree()
    {
        _m.Mkdir("cgls-job");
        var outside = Shell.Run("systemd-cgls --no-pager");
        var inside = Exec("sh -c 'echo $$ > /sys/fs/cgroup/cgls-job/cgroup.procs && systemd-cgls --no-pager /sys/fs/cgroup/cgls-job'");
        Assert.That(outside.Out, Does.Not.Contain("cgls-job"));
        Assert.That(inside.Code, Is.Zero, inside.ToString());
        Assert.That(inside.Out, Does.StartWith("Directory /sys/fs/cgroup/cgls-job:").And.Contain("systemd-cgls"), inside.ToString());
    }
}
