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

    private static string Values(IEnumerable<RdmaRow> rows, Func<RdmaRow, int[]> pick)
    {
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            var v = pick(r);
            sb.Append(r.Device).Append(" hca_handle=").Append(Value(v[0])).Append(" hca_object=").Append(Value(v[1])).Append(" \n");
        }
        return sb.ToString();
    }

    private static string Counters(IEnumerable<RdmaRow> rows, Func<RdmaRow, (ulong[] Max, ulong[] Fail)> pick)
    {
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            var (max, fail) = pick(r);
            sb.Append(r.Device)
              .Append(" hca_handle.max=").Append(max[0]).Append(" hca_handle.alloc_fail=").Append(fail[0])
              .Append(" hca_object.max=").Append(max[1]).Append(" hca_object.alloc_fail=").Append(fail[1]).Append('\n');
        }
        return sb.ToString();
    }
}
