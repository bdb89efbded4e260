using System.Text;

namespace CgFs.Parsing;

/// <summary>
/// Overlay mode's merged core files: the host kernel's text with cgfs's controllers put where a
/// kernel that had them would print them — its subsystem-id order (kernel:
/// include/linux/cgroup_subsys.h), in which rdma and misc follow pids and precede dmem and debug.
/// </summary>
public static class OverlayRender
{
    /// <summary>Every cgroup v2 controller name in subsystem-id order.</summary>
    public static readonly string[] KernelOrder =
        ["cpuset", "cpu", "cpuacct", "io", "memory", "devices", "freezer", "net_cls", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "dmem", "debug"];

    private static int Rank(string name) => Array.IndexOf(KernelOrder, name) is var i && i >= 0 ? i : KernelOrder.Length;

    /// <summary>Names from the kernel's text and cgfs's, in subsystem order (a stable merge: an
    /// unknown kernel name keeps its place among the kernel's).</summary>
    public static List<string> MergeNames(IEnumerable<string> kernel, IEnumerable<string> ours)
    {
        var merged = kernel.ToList();
        foreach (var name in ours)
        {
            if (merged.Contains(name))
                continue;
            int at = merged.FindIndex(k => Rank(k) < KernelOrder.Length && Rank(k) > Rank(name));
            merged.Insert(at < 0 ? merged.Count : at, name);
        }
        return merged;
    }

    /// <summary>cgroup.controllers / cgroup.subtree_control: the kernel's list plus cgfs's.</summary>
    public static string ControllerList(string kernelText, IEnumerable<string> ours) =>
        CoreRender.ControllerList(MergeNames(kernelText.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries), ours));

    /// <summary>cgroup.stat: the kernel's lines, with nr_subsys_NAME and nr_dying_subsys_NAME lines
    /// for cgfs's controllers among the kernel's in subsystem order. A kernel that prints no per-
    /// subsystem lines (before 6.11) gets none added. A cgroup removed while cgfs's controllers
    /// still hold charges in it is dying, as the kernel would count it; the kernel itself may
    /// still count the same cgroup for a moment, so nr_dying_descendants is the larger of the two.</summary>
    public static string Stat(string kernelText, IEnumerable<(string Name, int Count)> subsys, IEnumerable<(string Name, int Count)> dying, int dyingDescendants = 0)
    {
        var lines = kernelText.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        int at = lines.FindIndex(l => l.StartsWith("nr_dying_descendants ", StringComparison.Ordinal));
        if (at >= 0 && int.TryParse(lines[at]["nr_dying_descendants ".Length..], out int real) && dyingDescendants > real)
            lines[at] = $"nr_dying_descendants {dyingDescendants}";
        Insert(lines, "nr_subsys_", subsys);
        Insert(lines, "nr_dying_subsys_", dying);
        var sb = new StringBuilder();
        foreach (var l in lines)
            sb.Append(l).Append('\n');
        return sb.ToString();
    }

    private static void Insert(List<string> lines, string prefix, IEnumerable<(string Name, int Count)> ours)
    {
        var block = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith(prefix, StringComparison.Ordinal)).Select(x => x.i).ToList();
        if (block.Count == 0)
            return;
        foreach (var (name, count) in ours)
        {
            var names = block.Select(i => lines[i][prefix.Length..].Split(' ')[0]).ToList();
            if (names.Contains(name))
                continue;
            int before = names.FindIndex(n => Rank(n) < KernelOrder.Length && Rank(n) > Rank(name));
            int at = before < 0 ? block[^1] + 1 : block[before];
            lines.Insert(at, $"{prefix}{name} {count}");
            block = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith(prefix, StringComparison.Ordinal)).Select(x => x.i).ToList();
        }
    }
}
