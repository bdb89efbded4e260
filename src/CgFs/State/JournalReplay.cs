using CgFs.Accounting;
using CgFs.Membership;
using CgFs.Parsing;
using CgFs.Tree;

namespace CgFs.State;

/// <summary>Applies journal records to an empty mount, through the paths that made them: the
/// view's restore methods (bypassing the kernel's permission checks, not the grammars), the
/// membership service, and the controllers' control requests. Nothing is recorded while replaying.</summary>
public sealed class JournalReplay(Hierarchy engine, IReadOnlyList<ControllerPlugin> plugins, CgroupFileSystem fs, IMembership membership, Action<string> log)
{
    /// <summary>Journal ids → cgroups made by this replay (the root is 1).</summary>
    private readonly Dictionary<long, Cgroup> _ids = new() { [1] = engine.Root };

    /// <summary>Applies every line; those that cannot be parsed or applied are counted and logged once.</summary>
    public void Replay(IReadOnlyList<string> lines)
    {
        int failed = 0;
        foreach (var line in lines)
        {
            var record = JournalGrammar.Record(line);
            if (!record.Ok || !Apply(record.Value))
                failed++;
        }
        if (failed > 0)
            log($"state: {failed} of {lines.Count} record(s) could not be applied");
    }

    /// <summary>One record; false if it names a cgroup that does not exist or its change is refused.</summary>
    public bool Apply(JournalRecord record)
    {
        switch (record)
        {
            case MkdirRecord r:
                if (!_ids.TryGetValue(r.Parent, out var parent) || fs.RestoreMkdir(parent, r.Name, r.Mode, r.Uid, r.Gid, r.Ino) is not { } child)
                    return false;
                _ids[r.Id] = child;
                return true;
            case RmdirRecord r:
                return _ids.TryGetValue(r.Id, out var gone) && fs.RestoreRmdir(gone) == Errno.Ok;
            case WriteRecord r:
                return _ids.TryGetValue(r.Id, out var c) && fs.RestoreWrite(c, r.File, r.Text, r.Uid, r.Gid) == Errno.Ok;
            case MetaRecord r:
                return _ids.TryGetValue(r.Id, out var m) && fs.RestoreMeta(m, r.Target, r.Mode, r.Uid, r.Gid);
            case XattrRecord r:
                return _ids.TryGetValue(r.Id, out var x) && fs.RestoreXattr(x, r.Target, r.Name, r.Value);
            case MemberRecord r:
                return _ids.TryGetValue(r.Id, out var at) && membership.RestoreProcess(new ProcessKey(r.Pid, r.Start), at) == Errno.Ok;
            case ThreadRecord r:
                return _ids.TryGetValue(r.Id, out var where) && membership.RestoreThread(new ProcessKey(r.Pid, r.Start), r.Tid, where) == Errno.Ok;
            case ControlRecord r:
                return plugins.Apply(r.Command, ControlSource.Journal) is { Error: Errno.Ok };
            default:
                return false;
        }
    }
}
