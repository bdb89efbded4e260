using CgFs.Accounting;
using CgFs.Tests.Integration;
using CgFs.Tree;

namespace CgFs.Tests.Plugins;

/// <summary>
/// A controller defined only in this test project (<see cref="CounterPlugin"/>) is registered next
/// to cgfs's own, appears in cgroup.controllers, obeys every core rule through subtree_control
/// (top-down, no internal processes, no domain controller in a threaded subtree), journals and
/// restores — without a line of src/ knowing it. Driven through a real mount with bash.
/// </summary>
[NonParallelizable]
public sealed class ControllerPluginTests
{
    private static ControllerPlugin[] WithCounter() => [.. ControllerRegistry.Default(), new CounterPlugin()];

    [Test]
    public void ATestControllerIsACgroupControllerLikeAnyOther()
    {
        using var m = new InProcessMount(WithCounter());
        Assert.Multiple(() =>
        {
            Assert.That(m.Read("cgroup.controllers"), Is.EqualTo("rdma misc counter\n"), "registry order is subsystem order");
            Assert.That(m.Read("counter.current"), Is.EqualTo("0\n"));
            Assert.That(m.Read("cgroup.stat"), Does.Contain("nr_subsys_counter 1\n").And.Contain("nr_dying_subsys_counter 0\n"));
        });

        Assert.That(m.Mkdir("a"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Mkdir("a/b"), Is.EqualTo(Errno.Ok));
        Assert.That(m.List("a"), Does.Not.Contain("counter.max"), "no state before the parent enables it");
        Assert.That(m.Write("a/cgroup.subtree_control", "+counter"), Is.EqualTo(Errno.ENOENT), "top-down: the root has not enabled it");
        Assert.That(m.Write("cgroup.subtree_control", "+counter"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("cgroup.subtree_control", "+count"), Is.EqualTo(Errno.EINVAL), "only registered names parse");
        Assert.Multiple(() =>
        {
            Assert.That(m.Read("cgroup.subtree_control"), Is.EqualTo("counter\n"));
            Assert.That(m.Read("a/cgroup.controllers"), Is.EqualTo("counter\n"));
            Assert.That(m.List("a"), Does.Contain("counter.max").And.Contain("counter.current").And.Not.Contain("rdma.max"));
            Assert.That(m.Read("a/counter.max"), Is.EqualTo("max\n"));
        });

        using (var sleeper = m.StartSleeper())
        {
            Assert.That(m.Write("a/cgroup.procs", sleeper.Pid.ToString()), Is.EqualTo(Errno.Ok));
            Assert.That(m.Write("a/cgroup.subtree_control", "+counter"), Is.EqualTo(Errno.EBUSY), "no internal processes");
            Assert.That(m.Write("cgroup.procs", sleeper.Pid.ToString()), Is.EqualTo(Errno.Ok));
        }
        Assert.That(m.Write("a/cgroup.subtree_control", "+counter"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("a/cgroup.procs", "0"), Is.EqualTo(Errno.EBUSY), "a cgroup with controllers enabled takes no processes");
        Assert.That(m.Write("cgroup.subtree_control", "-counter"), Is.EqualTo(Errno.EBUSY), "a child still enables it");

        Assert.That(m.Mkdir("d"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Mkdir("d/t"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("d/t/cgroup.type", "threaded"), Is.EqualTo(Errno.Ok));
        Assert.Multiple(() =>
        {
            Assert.That(m.Read("d/t/cgroup.controllers"), Is.EqualTo(""), "a domain controller is not available in a threaded cgroup");
            Assert.That(m.Write("d/t/cgroup.subtree_control", "+counter"), Is.EqualTo(Errno.ENOENT));
            Assert.That(m.Write("d/cgroup.subtree_control", "+counter"), Is.EqualTo(Errno.EOPNOTSUPP), "nor in a thread root");
        });
    }

    [Test]
    public void ItsLimitsAndChargesAreHierarchical()
    {
        using var m = new InProcessMount(WithCounter());
        m.Write("cgroup.subtree_control", "+counter");
        m.Mkdir("a");
        m.Write("a/cgroup.subtree_control", "+counter");
        m.Mkdir("a/b");
        Assert.That(m.Write("a/counter.max", "5"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("a/counter.max", "five"), Is.EqualTo(Errno.EINVAL));
        Assert.That(m.Write("a/b/counter.current", "+3"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Write("a/b/counter.current", "+3"), Is.EqualTo(Errno.EBUSY), "the parent's limit holds");
        Assert.Multiple(() =>
        {
            Assert.That(m.Read("a/counter.current"), Is.EqualTo("3\n"));
            Assert.That(m.Read("counter.current"), Is.EqualTo("3\n"));
        });
        Assert.That(m.Rmdir("a/b"), Is.EqualTo(Errno.Ok));
        Assert.That(m.Read("a/cgroup.stat"), Does.Contain("nr_dying_subsys_counter 1\n"), "a charged state outlives its cgroup");
    }

    [Test]
    public void ItJournalsAndRestores()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-plugin-state-").FullName;
        try
        {
            var state = Path.Combine(dir, "state");
            using (var m = new InProcessMount(WithCounter(), state))
            {
                m.Write("cgroup.subtree_control", "+counter +rdma");
                m.Mkdir("a");
                Assert.That(m.Write("a/counter.max", "7"), Is.EqualTo(Errno.Ok));
                Assert.That(m.Write("a/counter.current", "+2"), Is.EqualTo(Errno.Ok));
            }
            Assert.That(File.ReadAllText(state), Does.Contain(" counter.max ").And.Contain(" counter.current "),
                "the compacted journal holds the counter's own records");
            using (var m = new InProcessMount(WithCounter(), state))
            {
                Assert.Multiple(() =>
                {
                    Assert.That(m.Read("cgroup.subtree_control"), Is.EqualTo("rdma counter\n"));
                    Assert.That(m.Read("a/counter.max"), Is.EqualTo("7\n"));
                    Assert.That(m.Read("a/counter.current"), Is.EqualTo("2\n"));
                    Assert.That(m.Read("counter.current"), Is.EqualTo("2\n"));
                });
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
