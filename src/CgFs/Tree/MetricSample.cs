namespace CgFs.Tree;

/// <summary>Whether a sample can only grow (a counter: events) or moves both ways (a gauge).</summary>
public enum MetricKind { Gauge, Counter }

/// <summary>One value for the metrics exposition, in base units, with its labels (names and values
/// in the same order). Neutral: the exporter turns these into the Prometheus text format.</summary>
public sealed record MetricSample(string Name, string Help, MetricKind Kind, string[] LabelNames, string[] LabelValues, double Value)
{
    /// <summary>Unlimited ("max" in a file) is +Inf: a limit no usage can reach.</summary>
    public static double Limit(ulong value, ulong max) => value == max ? double.PositiveInfinity : value;
}
