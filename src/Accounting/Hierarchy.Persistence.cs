namespace CgFs.Accounting;

/// <summary>One cgroup's configuration, as a restart must restore it.</summary>
public readonly record struct CgroupSettings(bool Threaded, int MaxDepth, int MaxDescendants, Controllers SubtreeControl, bool FreezeSelf);

/// <summary>Configured rdma limits of one (state, device) and what the shortcut charged there.</summary>
public readonly record struct RdmaConfig(string Device, int MaxHandle, int MaxObject, long HeldHandle, long HeldObject);

/// <summary>Configured misc limit of one (state, type) and what the shortcut charged there.</summary>
public readonly record struct MiscConfig(string Type, ulong Max, ulong Held);

/// <summary>Where a recorded process is: its cgroup, and threads moved on their own.</summary>
public readonly record struct Placement(ProcessKey Process, Cgroup Cgroup, (int Tid, Cgroup Cgroup)[] Threads);

/// <summary>Plain-data views of what a restart must restore (used by the state journal).</summary>
public sealed partial class Hierarchy
{
    public CgroupSettings SettingsLocked(Cgroup c) =>
        new(c.Threaded, c.MaxDepth, c.MaxDescendants, c.SubtreeControl, c.FreezeSelf);

    /// <summary>Live cgroups below <paramref name="c"/>, parents before children.</summary>
    public List<Cgroup> DescendantsPreOrderLocked(Cgroup c)
    {
        var list = new List<Cgroup>();
        var stack = new Stack<Cgroup>(c.ChildrenByName.Values.OrderByDescending(x => x.Id));
        while (stack.Count > 0)
        {
            var g = stack.Pop();
            list.Add(g);
            foreach (var child in g.ChildrenByName.Values.OrderByDescending(x => x.Id))
                stack.Push(child);
        }
        return list;
    }

    public List<RdmaConfig> RdmaConfigLocked(RdmaState s) =>
        Rdma.DevicesLocked.Where(s.Pools.ContainsKey).Select(d =>
        {
            var p = s.Pools[d];
            return new RdmaConfig(d.Name, p.Limit[0], p.Limit[1], p.ShortcutHeld[0], p.ShortcutHeld[1]);
        }).ToList();

    public List<MiscConfig> MiscConfigLocked(MiscState s) =>
        Misc.TypesLocked.Where(s.Values.ContainsKey).Select(t => new MiscConfig(t.Name, s.Values[t].Max, s.Values[t].ShortcutHeld)).ToList();

    public List<Placement> PlacementsLocked() =>
        _members.Values.Select(m => new Placement(m.Key, m.Cgroup,
            m.Threads?.Select(kv => (kv.Key, kv.Value)).ToArray() ?? [])).ToList();
}
