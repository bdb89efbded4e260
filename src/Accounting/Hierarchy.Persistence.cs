namespace CgFs.Accounting;

/// <summary>One cgroup's configuration, as a restart must restore it.</summary>
public readonly record struct CgroupSettings(bool Threaded, int MaxDepth, int MaxDescendants, ControllerMask SubtreeControl, bool FreezeSelf);

/// <summary>Where a recorded process is: its cgroup, and threads moved on their own.</summary>
public readonly record struct MemberPlacement(ProcessKey Process, Cgroup Cgroup, (int Tid, Cgroup Cgroup)[] Threads);

/// <summary>Plain-data views of what a restart must restore (used by the state journal).</summary>
public sealed partial class Hierarchy
{
    public CgroupSettings SettingsLocked(Cgroup c)
    {
        AssertLocked();
        return new(c.Threaded, c.MaxDepth, c.MaxDescendants, c.SubtreeControl, c.FreezeSelf);
    }

    /// <summary>Live cgroups below <paramref name="c"/>, parents before children.</summary>
    public List<Cgroup> DescendantsPreOrderLocked(Cgroup c)
    {
        AssertLocked();
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

    public List<MemberPlacement> PlacementsLocked()
    {
        AssertLocked();
        return _members.Values.Select(m => new MemberPlacement(m.Key, m.Cgroup,
                m.Threads?.Select(kv => (kv.Key, kv.Value)).ToArray() ?? [])).ToList();
    }
}
