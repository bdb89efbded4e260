using System.Text;
using CgFs.Accounting;
using CgFs.Tree;
using Prometheus;

namespace CgFs.Metrics;

/// <summary>
/// The Prometheus text exposition of a mount: per cgroup what each controller reports through its
/// plugin (<see cref="ControllerPlugin.MetricsLocked"/>), per mount the cgroups, dying cgroups,
/// processes tracked and what each controller reports mount-wide, then the daemon's own counters.
/// Values come from one engine snapshot per scrape, taken under the engine lock and rendered
/// (by prometheus-net, into a registry made for this scrape) after it is released.
/// </summary>
public sealed class MetricsExporter(Hierarchy engine, IReadOnlyList<ControllerPlugin> plugins, DaemonMetrics daemon)
{
    public DaemonMetrics Daemon => daemon;

    /// <summary>Every sample of the mount, copied in one critical section and expanded after it.</summary>
    public List<MetricSample> Snapshot()
    {
        var (samples, captured) = engine.Run(Capture);
        foreach (var c in captured)
            samples.AddRange(c());
        return samples;
    }

    private (List<MetricSample>, List<Func<IEnumerable<MetricSample>>>) Capture()
    {
        var samples = new List<MetricSample>();
        var captured = new List<Func<IEnumerable<MetricSample>>>();
        var root = engine.SnapshotLocked(engine.Root);
        samples.Add(new("cgfs_cgroups", "Cgroups, the root included.", MetricKind.Gauge, [], [], root.NrDescendants + 1));
        samples.Add(new("cgfs_cgroups_dying", "Removed cgroups still pinned by charges (cgroup.stat nr_dying_descendants).",
            MetricKind.Gauge, [], [], root.NrDyingDescendants));
        samples.Add(new("cgfs_processes", "Processes cgfs tracks in its hierarchy.", MetricKind.Gauge, [], [], engine.MembersLocked().Length));
        foreach (var p in plugins)
            samples.AddRange(p.MountMetricsLocked());
        foreach (var cgroup in engine.SelfAndDescendantsLocked(engine.Root))
            foreach (var p in plugins)
                if (engine.StateLocked(cgroup, p.Controller) is { } state && p.CaptureMetricsLocked(cgroup, state) is { } capture)
                    captured.Add(capture);
        return (samples, captured);
    }

    /// <summary>Writes the whole exposition (text format 0.0.4) to <paramref name="stream"/>.</summary>
    public void ExportTo(Stream stream)
    {
        var samples = Snapshot();
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        var gauges = new Dictionary<string, Gauge>();
        var counters = new Dictionary<string, Counter>();
        foreach (var s in samples)
        {
            if (s.Kind == MetricKind.Gauge)
            {
                if (!gauges.TryGetValue(s.Name, out var g))
                    gauges[s.Name] = g = factory.CreateGauge(s.Name, s.Help, s.LabelNames);
                if (s.LabelNames.Length == 0) g.Set(s.Value); else g.WithLabels(s.LabelValues).Set(s.Value);
            }
            else
            {
                if (!counters.TryGetValue(s.Name, out var c))
                    counters[s.Name] = c = factory.CreateCounter(s.Name, s.Help, s.LabelNames);
                if (s.LabelNames.Length == 0) c.IncTo(s.Value); else c.WithLabels(s.LabelValues).IncTo(s.Value);
            }
        }
        registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        daemon.ExportTo(stream);
    }

    public string Text()
    {
        using var ms = new MemoryStream();
        ExportTo(ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
