using System.Diagnostics;
using CgFs.Fuse;
using CgFs.State;
using Prometheus;

namespace CgFs.Metrics;

/// <summary>
/// What the daemon itself did, counted as it happens (prometheus-net collectors in a registry of
/// their own, never the library's global one): FUSE requests by opcode with their latency, FUSE
/// errors by errno, control connections, journal bytes and fsync latency. The per-opcode children
/// are looked up once, so a request costs two timestamps, an increment and a histogram observation.
/// </summary>
public sealed class DaemonMetrics : IRequestObserver, IJournalObserver
{
    private static readonly double[] LatencyBuckets = [5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 20e-3, 100e-3];

    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly Counter _requests, _errors, _journalBytes;
    private readonly Histogram _latency, _fsync;
    private readonly Gauge _connections;
    private readonly Counter.Child?[] _requestsBy = new Counter.Child?[64];
    private readonly Histogram.Child?[] _latencyBy = new Histogram.Child?[64];
    private readonly Counter.Child?[] _errorsBy = new Counter.Child?[256];

    public DaemonMetrics()
    {
        var f = Prometheus.Metrics.WithCustomRegistry(_registry);
        _requests = f.CreateCounter("cgfs_fuse_requests_total", "FUSE requests served, by opcode.", "opcode");
        _latency = f.CreateHistogram("cgfs_fuse_request_duration_seconds", "Time cgfs took to serve a FUSE request, by opcode.",
            new HistogramConfiguration { LabelNames = ["opcode"], Buckets = LatencyBuckets });
        _errors = f.CreateCounter("cgfs_fuse_errors_total", "FUSE requests answered with an error, by errno.", "errno");
        _connections = f.CreateGauge("cgfs_control_connections", "Control-socket connections open (each cgfs hold is one).");
        _journalBytes = f.CreateCounter("cgfs_journal_bytes_total", "Bytes appended to the --state journal.");
        _fsync = f.CreateHistogram("cgfs_journal_fsync_duration_seconds", "fsync(2) of the --state journal.",
            new HistogramConfiguration { Buckets = [100e-6, 500e-6, 1e-3, 5e-3, 20e-3, 100e-3, 500e-3, 2] });
    }

    /// <summary>Control connections open now (set by the control server's owner).</summary>
    public Func<int> Connections { get; set; } = () => 0;

    public void Served(Opcode opcode, int error, long ticks)
    {
        int op = (int)opcode;
        if ((uint)op < (uint)_requestsBy.Length)
        {
            var name = opcode.ToString().ToUpperInvariant(); // the kernel's names: GETATTR, READDIRPLUS
            (_requestsBy[op] ??= _requests.WithLabels(name)).Inc();
            (_latencyBy[op] ??= _latency.WithLabels(name)).Observe(ticks / (double)Stopwatch.Frequency);
        }
        if (error > 0 && error < _errorsBy.Length)
            (_errorsBy[error] ??= _errors.WithLabels(((Accounting.Errno)error).ToString())).Inc();
    }

    public void Appended(int bytes) => _journalBytes.Inc(bytes);

    public void Synced(long ticks) => _fsync.Observe(ticks / (double)Stopwatch.Frequency);

    public void ExportTo(Stream stream)
    {
        _connections.Set(Connections());
        _registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
    }
}
