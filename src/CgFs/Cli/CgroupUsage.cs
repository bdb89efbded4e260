namespace CgFs.Cli;

/// <summary>One resource of a cgroup: "rdma mlx5_0 hca_object" or "misc sev"; Limit null for max.</summary>
public sealed record ResourceUsage(string Controller, string Name, ulong Usage, ulong? Limit);

/// <summary>
/// A cgroup as its files show it (cgroup.procs, rdma.current/rdma.max, misc.current/misc.max):
/// what `cgfs tree` draws. Only resources that are limited or in use are kept; a file that is
/// missing (controller not enabled) or vanishes while read (cgroup removed) contributes nothing.
/// </summary>
public sealed record CgroupUsage(string Name, int Processes, IReadOnlyList<ResourceUsage> Resources, IReadOnlyList<CgroupUsage> Children)
{
    public static CgroupUsage Read(string dir, string name)
    {
        var children = new List<CgroupUsage>();
        foreach (var sub in SafeDirectories(dir))
            children.Add(Read(sub, Path.GetFileName(sub)));
        var resources = new List<ResourceUsage>();
        // rdma.current / rdma.max: "DEV hca_handle=N hca_object=N " per device
        var rdmaMax = Pairs(ReadLines(Path.Combine(dir, "rdma.max")));
        foreach (var (device, values) in Pairs(ReadLines(Path.Combine(dir, "rdma.current"))))
            foreach (var (resource, usage) in values)
            {
                ulong? limit = Limit(rdmaMax.FirstOrDefault(m => m.Key == device).Value?.FirstOrDefault(v => v.Key == resource).Value);
                ulong used = Number(usage);
                if (used > 0 || limit is not null)
                    resources.Add(new ResourceUsage("rdma", $"{device} {resource}", used, limit));
            }
        // misc.current / misc.max: "TYPE N" per type
        var miscMax = ReadLines(Path.Combine(dir, "misc.max")).Select(l => l.Split(' ')).Where(f => f.Length == 2).ToDictionary(f => f[0], f => f[1]);
        foreach (var f in ReadLines(Path.Combine(dir, "misc.current")).Select(l => l.Split(' ')).Where(f => f.Length == 2))
        {
            ulong used = Number(f[1]);
            ulong? limit = Limit(miscMax.GetValueOrDefault(f[0]));
            if (used > 0 || limit is not null)
                resources.Add(new ResourceUsage("misc", f[0], used, limit));
        }
        int processes = ReadLines(Path.Combine(dir, "cgroup.procs")).Count;
        return new CgroupUsage(name, processes, resources, children);
    }

    /// <summary>A value as the files print it; "max" (printed for INT_MAX usage too) as the largest.</summary>
    private static ulong Number(string s) => ulong.TryParse(s, out ulong v) ? v : s == "max" ? (ulong)int.MaxValue : 0;

    /// <summary>A limit; null for max or when there is none.</summary>
    private static ulong? Limit(string? s) => s is null or "max" ? null : Number(s);

    private static IEnumerable<string> SafeDirectories(string dir)
    {
        try
        {
            return Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>"DEV k=v k=v" lines as (DEV, [(k, v)]).</summary>
    private static List<KeyValuePair<string, List<KeyValuePair<string, string>>>> Pairs(List<string> lines) =>
        lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 1)
            .Select(f => KeyValuePair.Create(f[0], f.Skip(1).Select(kv => kv.Split('=', 2)).Where(p => p.Length == 2)
                .Select(p => KeyValuePair.Create(p[0], p[1])).ToList()))
            .ToList();

    private static List<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
