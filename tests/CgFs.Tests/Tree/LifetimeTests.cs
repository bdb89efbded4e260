using System.Runtime.CompilerServices;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Tests.Accounting;
using CgFs.Tree;

namespace CgFs.Tests.Tree;

/// <summary>The view lets a removed cgroup go once the kernel has forgotten its nodes (FORGET) and
/// released its descriptors (RELEASE): no node, open handle or poll handle keeps it.</summary>
public sealed class LifetimeTests
{
    private static readonly Caller Root = new(0, 0, Environment.ProcessId);

    private static void FullGc()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>mkdir, look up and open files, poll, charge through the shortcut, rmdir. Returns the
    /// kernel's view of what it still holds: node ids with their lookup counts, and open handles.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Cgroup, List<(ulong Node, ulong Lookups)> Nodes, List<(ulong Node, ulong Fh)> Open) Churn(
        CgroupFileSystem fs, Hierarchy engine)
    {
        Assert.That(fs.MkDir(Root, CgFs.Fuse.Fuse.RootId, "job", 0b111_101_101, out var dir), Is.Zero);
        var nodes = new List<(ulong, ulong)> { (dir.NodeId, 1) };
        var open = new List<(ulong, ulong)>();
        foreach (var name in new[] { "rdma.max", "rdma.current", "cgroup.events", "misc.events" })
        {
            Assert.That(fs.Lookup(Root, dir.NodeId, name, out var e), Is.Zero);
            Assert.That(fs.Open(Root, e.NodeId, 2, out ulong fh), Is.Zero);
            nodes.Add((e.NodeId, 1));
            open.Add((e.NodeId, fh));
        }
        Assert.That(fs.Write(Root, open[1].Item1, open[1].Item2, 0, "mlx5_0 hca_object=+3"u8), Is.Zero);
        Assert.That(fs.Write(Root, open[1].Item1, open[1].Item2, 0, "mlx5_0 hca_object=-3"u8), Is.Zero);
        Assert.That(fs.Poll(Root, open[2].Item1, open[2].Item2, kh: 9, scheduleNotify: true, out _), Is.Zero);
        var cgroup = engine.Run(() => engine.ChildLocked(engine.Root, "job")!);
        Assert.That(fs.RmDir(Root, CgFs.Fuse.Fuse.RootId, "job"), Is.Zero);
        return (new WeakReference(cgroup), nodes, open);
    }

    [Test]
    public void ARemovedCgroupGoesWhenTheKernelForgetsAndReleases()
    {
        var stack = CgfsStack.Create();
        var (engine, fs) = (stack.Engine, stack.Fs);
        engine.Run(() => engine.Rdma.RegisterLocked("mlx5_0"));
        engine.Run(() => engine.Misc.SetCapacityLocked("sev", 5));
        engine.Run(() => engine.WriteSubtreeControlLocked(engine.Root, engine.AllControllers, ControllerMask.None));
        var notifications = new RecordingNotifier();
        fs.Waiters.Kernel = notifications;

        var (weak, nodes, open) = Churn(fs, engine);
        Assert.That(notifications.Invalidated.Select(x => x.Name), Is.EquivalentTo(new[] { "rdma.max", "rdma.current", "cgroup.events", "misc.events" }),
            "rmdir asks the kernel to drop the cached entries of the removed cgroup's files");
        FullGc();
        Assert.That(weak.IsAlive, Is.True, "the kernel still holds nodes and descriptors");

        foreach (var (node, fh) in open)
            fs.Release(node, fh);
        Assert.That(fs.Waiters.Count, Is.Zero);
        FullGc();
        Assert.That(weak.IsAlive, Is.True, "the kernel has not forgotten the nodes yet");

        foreach (var (node, lookups) in nodes)
            fs.Forget(node, lookups);
        FullGc();
        Assert.That(weak.IsAlive, Is.False, "nothing in the view keeps a removed cgroup");
    }
}
