using System.Text;
using CgFs.Accounting;

namespace CgFs.Parsing;

/// <summary>misc.* renderers with the listing rules of spec misc.md 2: misc.max and
/// misc.capacity list types with non-zero capacity only; current/peak/events also list a
/// zero-capacity type whose shown value is non-zero.</summary>
public static class MiscRender
{
    public static string Capacity(IEnumerable<MiscRow> rows) => Lines(rows, r => r.Capacity != 0, r => r.Name, r => r.Capacity.ToString());
    public static string Current(IEnumerable<MiscRow> rows) => Lines(rows, r => r.Capacity != 0 || r.Current != 0, r => r.Name, r => r.Current.ToString());
    public static string Peak(IEnumerable<MiscRow> rows) => Lines(rows, r => r.Capacity != 0 || r.Peak != 0, r => r.Name, r => r.Peak.ToString());
    public static string Max(IEnumerable<MiscRow> rows) => Lines(rows, r => r.Capacity != 0, r => r.Name, r => Limit(r.Max));

    /// <summary>One type's misc.max line, which misc.max also accepts as a write (the journal's snapshot).</summary>
    public static string MaxLine(string type, ulong max) => $"{type} {Limit(max)}\n";

    /// <summary>A misc.current shortcut write that charges <paramref name="amount"/> again.</summary>
    public static string CurrentDelta(string type, ulong amount) => $"{type} +{amount}";

    private static string Limit(ulong max) => max == ulong.MaxValue ? "max" : max.ToString();
    public static string Events(IEnumerable<MiscRow> rows) => Lines(rows, r => r.Capacity != 0 || r.Events != 0, r => r.Name + ".max", r => r.Events.ToString());
    public static string EventsLocal(IEnumerable<MiscRow> rows) => Lines(rows, r => r.Capacity != 0 || r.EventsLocal != 0, r => r.Name + ".max", r => r.EventsLocal.ToString());

    private static string Lines(IEnumerable<MiscRow> rows, Func<MiscRow, bool> listed, Func<MiscRow, string> key, Func<MiscRow, string> value)
    {
        var sb = new StringBuilder();
        foreach (var r in rows)
            if (listed(r))
                sb.Append(key(r)).Append(' ').Append(value(r)).Append('\n');
        return sb.ToString();
    }
}
