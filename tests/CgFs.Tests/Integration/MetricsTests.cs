using System.Text.RegularExpressions;

namespace CgFs.Tests.Integration;

/// <summary>
/// `cgfs mount --metrics` and `cgfs metrics` through a real mount: scraped with curl over TCP and
/// over a unix socket, parsed by the official Python client's parser (Debian's
/// python3-prometheus-client), values checked against the files they mirror.
/// </summary>
[NonParallelizable]
public sealed class MetricsTests
{
    /// <summary>Parses an exposition with prometheus_client and prints "name{k=v,...} value" per
    /// sample, sorted — or fails the script if the text is not valid.</summary>
    private const string Parser = """
        import sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for f in text_string_to_metric_families(sys.stdin.read()):
            for s in f.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out.append(f"{f.type} {s.name}{{{labels}}} {s.value:g}")
        print("\n".join(sorted(out)))
        """;

    private static string Parse(string exposition)
    {
        var script = Path.GetTempFileName();
        var text = Path.GetTempFileName();
        File.WriteAllText(script, Parser);
        File.WriteAllText(text, exposition);
        try
        {
            var r = Shell.Run($"/usr/bin/python3 {script} < {text}");
            Assert.That(r.Code, Is.Zero, "the official parser accepts the exposition: " + r.Err);
            return r.Out;
        }
        finally
        {
            File.Delete(script);
            File.Delete(text);
        }
    }

    [Test]
    public void AScrapeOverTcpMirrorsTheFilesAndParses()
    {
        using var m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=4", "--metrics", "127.0.0.1:0");
        Assert.That(m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir job && echo 'mlx5_0 hca_handle=2' > job/rdma.max && echo 'sev 3' > job/misc.max").Code, Is.Zero);
        var hold = $"{Mount.Binary} hold --control {m.Control}";
        Assert.That(m.Sh($"echo $$ > job/cgroup.procs; {hold} --rdma mlx5_0:hca_handle=3 -- true").Code, Is.EqualTo(1), "refused: an event");
        var address = Regex.Match(m.Log, @"metrics at (\S+)/metrics").Groups[1].Value;
        Assert.That(address, Does.StartWith("127.0.0.1:"), m.Log);
        var scrape = Shell.Run($"{hold} --misc sev=2 -- curl -sf http://{address}/metrics");
        Assert.That(scrape.Code, Is.Zero, scrape.ToString());
        var samples = Parse(scrape.Out);
        Assert.That(samples, Does.Contain("gauge cgfs_rdma_limit{cgroup=/job,device=mlx5_0,resource=hca_handle} 2\n"));
        Assert.That(samples, Does.Contain("gauge cgfs_rdma_limit{cgroup=/job,device=mlx5_0,resource=hca_object} inf\n"));
        Assert.That(samples, Does.Contain("gauge cgfs_rdma_peak{cgroup=/job,device=mlx5_0,resource=hca_handle} 2\n"), m.Read("job/rdma.peak"));
        Assert.That(samples, Does.Contain("counter cgfs_rdma_events_total{cgroup=/job,device=mlx5_0,event=max,resource=hca_handle} 1\n"), m.Read("job/rdma.events"));
        Assert.That(samples, Does.Contain("gauge cgfs_misc_usage{cgroup=/,type=sev} 2\n"), "curl ran inside a holder of 2 sev");
        Assert.That(samples, Does.Contain("gauge cgfs_misc_capacity{type=sev} 4\n").And.Contain("gauge cgfs_processes{} "));
        Assert.That(samples, Does.Contain("counter cgfs_fuse_requests_total{opcode=MKDIR} 1\n"));
        Assert.That(samples, Does.Contain("gauge cgfs_control_connections{} 1\n"), "the holder's connection");
        Assert.That(samples, Does.Match(@"histogram cgfs_fuse_request_duration_seconds_count\{opcode=WRITE\} [1-9]"));
        Assert.That(Shell.Run($"curl -s -o /dev/null -w '%{{http_code}}' http://{address}/other").Out, Is.EqualTo("404"));
    }

    [Test]
    public void AUnixSocketAndCgfsMetricsServeTheSameExposition()
    {
        var dir = Directory.CreateTempSubdirectory("cgfs-metrics-").FullName;
        try
        {
            var sock = Path.Combine(dir, "metrics.sock");
            using var m = new Mount("--rdma-device", "rxe0", "--metrics", sock);
            Assert.That(m.Sh("echo +rdma > cgroup.subtree_control && mkdir a a/b && echo +rdma > a/cgroup.subtree_control && echo 'rxe0 hca_object=+3' > a/b/rdma.current").Code, Is.Zero);
            var scraped = Parse(Shell.Run($"curl -sf --unix-socket {sock} http://localhost/metrics").Out);
            var printed = Parse(Shell.Run($"{Mount.Binary} metrics --control {m.Control}").Out);
            string Engine(string s) => string.Join('\n', s.Split('\n').Where(l => !l.Contains("cgfs_fuse_") && !l.Contains("cgfs_control_")));
            Assert.That(Engine(printed), Is.EqualTo(Engine(scraped)), "one exposition, two ways to get it");
            Assert.That(scraped, Does.Contain("gauge cgfs_rdma_usage{cgroup=/a/b,device=rxe0,resource=hca_object} 3\n")
                .And.Contain("gauge cgfs_rdma_usage{cgroup=/a,device=rxe0,resource=hca_object} 3\n")
                .And.Contain("gauge cgfs_cgroups{} 3\n"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void AnAddressThatCannotListenFailsTheMountWithItsReason()
    {
        var r = Shell.Run($"mkdir -p /tmp/cgfs-metrics-bad && {Mount.Binary} mount /tmp/cgfs-metrics-bad --metrics 127.0.0.1:notaport; echo rc=$?; grep -c cgfs-metrics-bad /proc/mounts; rmdir /tmp/cgfs-metrics-bad");
        Assert.That(r.Out, Is.EqualTo("rc=2\n0\n"), "refused before anything is mounted");
        Assert.That(r.Err, Does.Contain("--metrics expects HOST:PORT or a socket path, not '127.0.0.1:notaport'"));
    }
}
