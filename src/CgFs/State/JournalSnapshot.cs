using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Tree;

namespace CgFs.State;

/// <summary>
/// The live state as journal records, in an order that replays: each controller's configuration
/// (devices, types), the tree, per-cgroup settings that do not constrain mkdir, then limits,
/// owners, members, and charges held through shortcut files. Built from the same records the
/// hooks write and from the Parsing renderers (a limit is journaled as the line its file shows).
/// </summary>
public sealed class JournalSnapshot(Hierarchy engine, IReadOnlyList<ControllerPlugin> plugins, CgroupFileSystem fs)
{
    /// <summary>What one cgroup contributes, collected under the engine lock in one pass.</summary>
    private sealed record CgroupState(Cgroup Cgroup, CgroupSettings Settings, (string File, string Text)[] Limits, (string File, string Text)[] Holdings);

    public List<string> Lines() => Records().Select(r => r.Format()).ToList();

    public IEnumerable<JournalRecord> Records()
    {
        var (configuration, cgroups, placements) = engine.Run(() => (
            plugins.SelectMany(p => p.ConfigurationLocked()).ToList(),
            new[] { engine.Root }.Concat(engine.DescendantsPreOrderLocked(engine.Root)).Select(StateOfLocked).ToList(),
            engine.PlacementsLocked()));
        var views = cgroups.ToDictionary(s => s.Cgroup, s => fs.ViewOf(s.Cgroup));

        foreach (var command in configuration)
            yield return new ControlRecord(command);
        // Controllers are enabled before children are made, as they were: a child made after its parent
        // enabled them owns its controller files (a delegated cgroup keeps them). Files of a child
        // made before keep the enabler as owner through their meta records below.
        foreach (var s in cgroups)
        {
            var view = views[s.Cgroup];
            if (!s.Cgroup.IsRoot)
                yield return new MkdirRecord(s.Cgroup.Id, s.Cgroup.Parent!.Id, view.Metas[0].Mode, view.CreatorUid, view.CreatorGid, s.Cgroup.Name, view.RealIno);
            if (!s.Settings.SubtreeControl.IsEmpty)
                yield return Write(s.Cgroup, "cgroup.subtree_control", CoreRender.EnableWrite(engine.Names(s.Settings.SubtreeControl)));
        }
        foreach (var s in cgroups.Where(s => s.Settings.Threaded))
            yield return Write(s.Cgroup, "cgroup.type", "threaded");
        foreach (var s in cgroups)
            foreach (var r in Settings(s, views[s.Cgroup], overlay: fs.Real is not null))
                yield return r;
        // Overlay mode: placements are the kernel's.
        foreach (var p in fs.Real is null ? placements : [])
        {
            yield return new MemberRecord(p.Process.Pid, p.Process.StartTime, p.Cgroup.Id);
            foreach (var (tid, where) in p.Threads)
                yield return new ThreadRecord(p.Process.Pid, p.Process.StartTime, tid, where.Id);
        }
        foreach (var s in cgroups)
            foreach (var (file, text) in s.Holdings)
                yield return Write(s.Cgroup, file, text);
    }

    private CgroupState StateOfLocked(Cgroup c)
    {
        var limits = new List<(string, string)>();
        var holdings = new List<(string, string)>();
        foreach (var p in plugins)
            if (engine.StateLocked(c, p.Controller) is { } state)
            {
                limits.AddRange(p.LimitsLocked(state));
                holdings.AddRange(p.HoldingsLocked(state));
            }
        return new CgroupState(c, engine.SettingsLocked(c), limits.ToArray(), holdings.ToArray());
    }

    /// <summary>Core settings, owners and xattrs, then the controllers' limits.</summary>
    private static IEnumerable<JournalRecord> Settings(CgroupState s, CgroupFileSystem.CgroupView view, bool overlay)
    {
        var c = s.Cgroup;
        if (overlay)
        {
            // Only cgfs's own state: its files' attributes and its controllers' limits.
            foreach (var (target, mode, uid, gid, xattrs) in view.Metas.Where(m => m.Target != "."))
            {
                yield return new MetaRecord(c.Id, target, mode, uid, gid);
                foreach (var (name, value) in xattrs ?? [])
                    yield return new XattrRecord(c.Id, target, name, value);
            }
            foreach (var (file, text) in s.Limits)
                yield return Write(c, file, text);
            yield break;
        }
        if (s.Settings.MaxDepth != int.MaxValue)
            yield return Write(c, "cgroup.max.depth", CoreRender.Limit(s.Settings.MaxDepth));
        if (s.Settings.MaxDescendants != int.MaxValue)
            yield return Write(c, "cgroup.max.descendants", CoreRender.Limit(s.Settings.MaxDescendants));
        if (s.Settings.FreezeSelf)
            yield return Write(c, "cgroup.freeze", CoreRender.Freeze(true));
        if (!view.Pressure)
            yield return Write(c, "cgroup.pressure", "0");
        foreach (var (target, mode, uid, gid, xattrs) in view.Metas)
        {
            yield return new MetaRecord(c.Id, target, mode, uid, gid);
            foreach (var (name, value) in xattrs ?? [])
                yield return new XattrRecord(c.Id, target, name, value);
        }
        foreach (var (file, text) in s.Limits)
            yield return Write(c, file, text);
    }

    /// <summary>A write as root, replayed through the file's handler.</summary>
    private static WriteRecord Write(Cgroup c, string file, string text) => new(c.Id, file, 0, 0, text);
}
