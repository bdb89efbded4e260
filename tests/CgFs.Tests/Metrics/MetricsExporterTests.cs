using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Metrics;
using CgFs.Parsing;
using CgFs.Tree;

namespace CgFs.Tests.Metrics;

/// <summary>The exposition from one engine snapshot, on an in-process stack.</summary>
public sealed class MetricsExporterTests
{
    private static readonly Caller Root = new(0, 0, Environment.ProcessId);

    /// <summary>Writes <paramref name="text"/> to <paramref name="file"/> of node <paramref name="dir"/> as one write(2).</summary>
    private static void Write(CgroupFileSystem fs, ulong dir, string file, string text)
    {
        Assert.That(fs.Lookup(Root, dir, file, out var e), Is.Zero, file);
        Assert.That(fs.Open(Root, e.NodeId, 1, out ulong fh), Is.Zero);
        Assert.That(fs.Write(Root, e.NodeId, fh, 0, KernelText.Bytes.GetBytes(text)), Is.Zero, $"{file} <- {text}");
        fs.Release(e.NodeId, fh);
    }

    private static (MetricsExporter Exporter, CgfsStack Stack) Setup()
    {
        var stack = CgfsStack.Create();
        stack.Plugins.Apply(new DeviceAdd("rxe0"), ControlSource.Configuration);
        stack.Plugins.Apply(new MiscCapacity("sev", 4, null), ControlSource.Configuration);
        var fs = stack.Fs;
        Write(fs, CgFs.Fuse.Fuse.RootId, "cgroup.subtree_control", "+rdma +misc");
        Assert.That(fs.MkDir(Root, CgFs.Fuse.Fuse.RootId, "job", 0b111_101_101, out var job), Is.Zero);
        Write(fs, job.NodeId, "rdma.max", "rxe0 hca_handle=2");
        Write(fs, job.NodeId, "misc.max", "sev 3");
        Write(fs, job.NodeId, "rdma.current", "rxe0 hca_object=+5");
        return (new MetricsExporter(stack.Engine, stack.Plugins, new DaemonMetrics()), stack);
    }

    [Test]
    public void EveryCgroupWithAControllerHasItsUsageLimitPeakAndEvents()
    {
        var text = Setup().Exporter.Text();
        Assert.That(text, Does.Contain("# TYPE cgfs_rdma_usage gauge\n"));
        Assert.That(text, Does.Contain("cgfs_rdma_usage{cgroup=\"/job\",device=\"rxe0\",resource=\"hca_object\"} 5\n"));
        Assert.That(text, Does.Contain("cgfs_rdma_usage{cgroup=\"/\",device=\"rxe0\",resource=\"hca_object\"} 5\n"), "the root: the host's totals");
        Assert.That(text, Does.Contain("cgfs_rdma_limit{cgroup=\"/job\",device=\"rxe0\",resource=\"hca_handle\"} 2\n"));
        Assert.That(text, Does.Contain("cgfs_rdma_limit{cgroup=\"/job\",device=\"rxe0\",resource=\"hca_object\"} Infinity\n"), "max is +Inf");
        Assert.That(text, Does.Contain("cgfs_rdma_peak{cgroup=\"/job\",device=\"rxe0\",resource=\"hca_object\"} 5\n"));
        Assert.That(text, Does.Contain("# TYPE cgfs_rdma_events_total counter\n"));
        Assert.That(text, Does.Contain("cgfs_rdma_events_total{cgroup=\"/job\",device=\"rxe0\",resource=\"hca_handle\",event=\"alloc_fail\"} 0\n"));
        Assert.That(text, Does.Contain("cgfs_misc_limit{cgroup=\"/job\",type=\"sev\"} 3\n"));
        Assert.That(text, Does.Contain("cgfs_misc_usage{cgroup=\"/job\",type=\"sev\"} 0\n"));
        Assert.That(text, Does.Contain("cgfs_misc_capacity{type=\"sev\"} 4\n"));
        Assert.That(text, Does.Not.Contain("type=\"sev_es\""), "a type with capacity 0 is not present, as in the files");
        Assert.That(text, Does.Contain("cgfs_cgroups 2\n").And.Contain("cgfs_cgroups_dying 0\n").And.Contain("cgfs_rdma_devices 1\n"));
    }

    [Test]
    public void ARemovedCgroupLeavesTheSeriesAndCountsAsDyingWhileCharged()
    {
        var (exporter, stack) = Setup();
        Assert.That(stack.Fs.RmDir(Root, CgFs.Fuse.Fuse.RootId, "job"), Is.Zero);
        var text = exporter.Text();
        Assert.That(text, Does.Not.Contain("cgroup=\"/job\""));
        Assert.That(text, Does.Contain("cgfs_cgroups 1\n").And.Contain("cgfs_cgroups_dying 1\n"), "its shortcut charge pins it");
        Assert.That(text, Does.Contain("cgfs_rdma_usage{cgroup=\"/\",device=\"rxe0\",resource=\"hca_object\"} 5\n"), "still counted in the root");
    }

    [Test]
    public void TheDaemonCountsRequestsByOpcodeErrorsByErrnoAndJournalBytes()
    {
        var daemon = new DaemonMetrics { Connections = () => 3 };
        daemon.Served(Opcode.Lookup, 2, 10);
        daemon.Served(Opcode.Lookup, 0, 10);
        daemon.Served(Opcode.Forget, -1, 10);
        daemon.Appended(120);
        using var ms = new MemoryStream();
        daemon.ExportTo(ms);
        var text = System.Text.Encoding.UTF8.GetString(ms.ToArray());
        Assert.That(text, Does.Contain("cgfs_fuse_requests_total{opcode=\"LOOKUP\"} 2\n").And.Contain("cgfs_fuse_requests_total{opcode=\"FORGET\"} 1\n"));
        Assert.That(text, Does.Contain("cgfs_fuse_errors_total{errno=\"ENOENT\"} 1\n").And.Not.Contain("errno=\"0\""));
        Assert.That(text, Does.Contain("cgfs_fuse_request_duration_seconds_count{opcode=\"LOOKUP\"} 2\n"));
        Assert.That(text, Does.Contain("cgfs_control_connections 3\n").And.Contain("cgfs_journal_bytes_total 120\n"));
    }
}
