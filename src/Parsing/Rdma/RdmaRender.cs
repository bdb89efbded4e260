using System.Text;
using CgFs.Accounting;

namespace CgFs.Parsing;

/// <summary>rdma.* renderers (spec rdma.md 2): one line per registered device in registration
/// order; max/current/peak lines end in " \n", events lines in "\n".</summary>
public static class RdmaRender
{
    public static string Max(IEnumerable<RdmaRow> rows) => Values(rows, r => r.Max);
    public static string Current(IEnumerable<RdmaRow> rows) => Values(rows, r => r.Current);
    public static string Peak(IEnumerable<RdmaRow> rows) => Values(rows, r => r.Peak);
    public static string Events(IEnumerable<RdmaRow> rows) => Counters(rows, r => (r.EventsMax, r.EventsAllocFail));
    public static string EventsLocal(IEnumerable<RdmaRow> rows) => Counters(rows, r => (r.LocalMax, r.LocalAllocFail));

    private static string Value(int v) => v == int.MaxValue ? "max" : v.ToString();

    /// <summary>One device's rdma.max line, which rdma.max also accepts as a write (the journal's snapshot).</summary>
    public static string MaxLine(string device, int handle, int obj) => MaxLine(device, [handle, obj], []);

    /// <summary>The same with a limit per resource, vendor-defined ones included.</summary>
    public static string MaxLine(string device, int[] limits, IReadOnlyList<string> extra) =>
        Values([new RdmaRow(device, limits, [], [], [], [], [], [], extra)], r => r.Max);

    /// <summary>An rdma.current shortcut write that charges the given units again.</summary>
    public static string CurrentDelta(string device, long handle, long obj) => CurrentDelta(device, [handle, obj], []);

    public static string CurrentDelta(string device, long[] held, IReadOnlyList<string> extra)
    {
        var names = RdmaResources.Of(extra);
        return device + string.Concat(names.Select((n, i) => $" {n}=+{held[i]}"));
    }

    private static string Values(IEnumerable<RdmaRow> rows, Func<RdmaRow, int[]> pick)
    {
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            var v = pick(r);
            var names = RdmaResources.Of(r.Extra);
            sb.Append(r.Device);
            for (int i = 0; i < names.Count; i++)
                sb.Append(' ').Append(names[i]).Append('=').Append(Value(v[i]));
            sb.Append(" \n");
        }
        return sb.ToString();
    }

    private static string Counters(IEnumerable<RdmaRow> rows, Func<RdmaRow, (ulong[] Max, ulong[] Fail)> pick)
    {
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            var (max, fail) = pick(r);
            var names = RdmaResources.Of(r.Extra);
            sb.Append(r.Device);
            for (int i = 0; i < names.Count; i++)
                sb.Append(' ').Append(names[i]).Append(".max=").Append(max[i])
                  .Append(' ').Append(names[i]).Append(".alloc_fail=").Append(fail[i]);
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
