using System.Text;
using CgFs.Accounting;

namespace CgFs.Parsing;

/// <summary>Renderers of the core cgroup.* files: the kernel's bytes. An empty list is an empty
/// string (0 bytes), never a lone newline.</summary>
public static class CoreRender
{
    /// <summary>cgroup.controllers / cgroup.subtree_control: names in subsystem order, space separated.</summary>
    public static string ControllerList(IReadOnlyCollection<string> names) =>
        names.Count == 0 ? "" : string.Join(' ', names) + "\n";

    /// <summary>The cgroup.subtree_control write that enables <paramref name="names"/> (the journal's snapshot).</summary>
    public static string EnableWrite(IEnumerable<string> names) => string.Join(' ', names.Select(n => "+" + n));

    public static string Type(CgroupType t) => t switch
    {
        CgroupType.Domain => "domain\n",
        CgroupType.DomainThreaded => "domain threaded\n",
        CgroupType.DomainInvalid => "domain invalid\n",
        CgroupType.Threaded => "threaded\n",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static string Events(bool populated, bool frozen) =>
        $"populated {(populated ? 1 : 0)}\nfrozen {(frozen ? 1 : 0)}\n";

    /// <summary>cgroup.max.depth / cgroup.max.descendants: INT_MAX reads "max".</summary>
    public static string Limit(int value) => value == int.MaxValue ? "max\n" : $"{value}\n";

    public static string Freeze(bool self) => self ? "1\n" : "0\n";

    public static string StatLocal(long frozenUsec) => $"frozen_usec {frozenUsec}\n";

    /// <summary>cgroup.stat: nr_descendants, nr_subsys_*, nr_dying_descendants, nr_dying_subsys_*.</summary>
    public static string Stat(CoreSnapshot s)
    {
        var sb = new StringBuilder();
        sb.Append("nr_descendants ").Append(s.NrDescendants).Append('\n');
        foreach (var (name, count) in s.NrSubsys)
            sb.Append("nr_subsys_").Append(name).Append(' ').Append(count).Append('\n');
        sb.Append("nr_dying_descendants ").Append(s.NrDyingDescendants).Append('\n');
        foreach (var (name, count) in s.NrDyingSubsys)
            sb.Append("nr_dying_subsys_").Append(name).Append(' ').Append(count).Append('\n');
        return sb.ToString();
    }

    /// <summary>cgroup.procs / cgroup.threads: one id per line.</summary>
    public static string Ids(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
            sb.Append(id).Append('\n');
        return sb.ToString();
    }

    /// <summary>cpu.stat without the cpu controller: the four base keys, all zero (spec core.md 2).</summary>
    public const string CpuStat = "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnice_usec 0\n";
}
