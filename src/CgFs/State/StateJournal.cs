using System.Text;
using CgFs.Accounting;
using CgFs.Host;
using CgFs.Tree;

namespace CgFs.State;

/// <summary>
/// Restart without loss (--state FILE). Every acknowledged change is journaled as a record that
/// replays through the same code path that made it:
/// <code>
/// mkdir ID PARENT MODE UID GID NAME     rmdir ID
/// write ID FILE UID GID TEXT            (limits, subtree_control, freeze, type, pressure, *.current shortcuts)
/// meta ID TARGET MODE UID GID           xattr ID TARGET NAME HEX | rmxattr ID TARGET NAME
/// member PID START ID                   thread PID START TID ID
/// device add|remove NAME                misc capacity NAME N follow|nofollow | misc remove NAME
/// </code>
/// ID is the cgroup's id when the record was written (the root is 1); TARGET is "." for the
/// directory or a file name; free text is %-escaped. At start the journal is replayed, then
/// compacted into a snapshot of the current state (ids renumbered), and again at a clean stop.
/// Processes are restored only if the same pid with the same start time is still alive; `cgfs
/// hold` contexts are not restored (their connections died with the daemon: those charges are
/// released, like uverbs contexts of a restarted driver). Peaks and event counters restart at 0.
/// The journal decides first: <see cref="Commit(string, Func{Errno})"/> writes a record before its
/// change is applied and refuses the change, unchanged, when the record cannot be written.
/// </summary>
public sealed class StateJournal : IDisposable
{
    private readonly CgroupFileSystem _fs;
    private readonly Hierarchy _engine;
    private readonly Action<string> _log;
    private JournalFile? _file;
    private volatile bool _replaying;

    private StateJournal(CgroupFileSystem fs, Action<string> log)
    {
        _fs = fs;
        _engine = fs.Engine;
        _log = log;
    }

    /// <summary>Replays <paramref name="path"/> into an empty filesystem, compacts it, and starts journaling.</summary>
    public static StateJournal Open(string path, CgroupFileSystem fs, Action<string> log)
    {
        var j = new StateJournal(fs, log);
        var records = JournalFile.Read(path, out int dropped);
        if (dropped > 0)
            log($"state {path}: ignored {dropped} torn or corrupt record(s) at the end");
        j.Replay(records);
        j._file = new JournalFile(path, j.Snapshot().ToList(), log);
        fs.Journal = j;
        return j;
    }

    public static string Esc(string s)
    {
        var sb = new StringBuilder();
        foreach (char ch in s)
            sb.Append(ch is '%' or ' ' or '\n' or '\r' or '\t' || ch < ' ' ? $"%{(int)ch:x2}" : ch.ToString());
        return sb.Length == 0 ? "%" : sb.ToString();
    }

    public static string Unesc(string s)
    {
        if (s == "%")
            return "";
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '%' && i + 2 < s.Length)
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
                sb.Append(s[i]);
        }
        return sb.ToString();
    }

    // ---- deciding first: a change is applied only once its record is written ----------------------

    private readonly object _commit = new();
    private Errno _failing = Errno.Ok;
    private bool _mustCompact;

    /// <summary>Commits <paramref name="record"/>, then applies the change. If the record cannot be
    /// written the change is refused with that errno and nothing happens (ENOSPC on a full disk); if
    /// the change is refused the record is retracted. Serializes journaled changes, so records are in
    /// the order their changes were applied. Lock order: after the view's node table, before the engine.</summary>
    public Errno Commit(string record, Func<Errno> apply)
    {
        if (_replaying || _file is null)
            return apply();
        lock (_commit)
        {
            long at = 0;
            var e = EnsureWritable();
            if (e == Errno.Ok)
            {
                at = _file.Length;
                e = _file.Append(record);
            }
            if (e != Errno.Ok)
            {
                Failing(e);
                return e;
            }
            Recovered();
            var result = Errno.EIO;
            try
            {
                result = apply();
            }
            finally
            {
                if (result != Errno.Ok && _file.Retract(at) is var r && r != Errno.Ok)
                {
                    _mustCompact = true; // a refused change's record is still in the file: rewrite it before the next
                    _log($"state {_file.Path}: cannot withdraw the record of a refused change: {JournalFile.Describe(r)}");
                }
            }
            return result;
        }
    }

    /// <summary>Without a journal, just applies.</summary>
    public static Errno Commit(StateJournal? journal, Func<string> record, Func<Errno> apply) =>
        journal is null ? apply() : journal.Commit(record(), apply);

    /// <summary>A journal that is no longer at its path (its file or directory was removed) or holds a
    /// record it could not withdraw is rewritten from the live state before anything is appended.</summary>
    private Errno EnsureWritable()
    {
        if (!_mustCompact && _file!.AtItsPath)
            return Errno.Ok;
        var e = _file!.Compact(Snapshot().ToList());
        if (e == Errno.Ok)
            _mustCompact = false;
        return e;
    }

    private long _lastReported;
    private Errno _lastReportedErrno;
    private bool _reported;

    /// <summary>Logs a failing journal once, not per request: at most once a minute per errno, even
    /// when a nearly full disk lets a short record through now and then.</summary>
    private void Failing(Errno e)
    {
        if (_failing == e)
            return;
        _failing = e;
        long now = Environment.TickCount64;
        if (e == _lastReportedErrno && now - _lastReported < 60_000)
            return;
        (_lastReported, _lastReportedErrno, _reported) = (now, e, true);
        _log($"state {_file!.Path}: cannot record changes: {JournalFile.Describe(e)}; they are refused until it can (logged once)");
    }

    private void Recovered()
    {
        if (_failing == Errno.Ok)
            return;
        _failing = Errno.Ok;
        if (!_reported)
            return;
        _reported = false;
        _log($"state {_file!.Path}: recording changes again");
    }

    // ---- records: one format, used by the hooks and by the snapshot ---------------------------------

    public static string MkdirRecord(long id, long parent, uint mode, uint uid, uint gid, string name) => $"mkdir {id} {parent} {mode} {uid} {gid} {Esc(name)}";
    public static string RmdirRecord(Cgroup c) => $"rmdir {c.Id}";
    public static string WriteRecord(Cgroup c, string file, uint uid, uint gid, string text) => $"write {c.Id} {file} {uid} {gid} {Esc(text)}";
    public static string MetaRecord(Cgroup c, string target, uint mode, uint uid, uint gid) => $"meta {c.Id} {Esc(target)} {mode} {uid} {gid}";

    public static string XattrRecord(Cgroup c, string target, string name, byte[]? value) =>
        value is null ? $"rmxattr {c.Id} {Esc(target)} {Esc(name)}" : $"xattr {c.Id} {Esc(target)} {Esc(name)} {Convert.ToHexString(value)}";

    public static string MemberRecord(ProcessKey p, Cgroup c) => $"member {p.Pid} {p.StartTime} {c.Id}";
    public static string ThreadRecord(ProcessKey p, int tid, Cgroup c) => $"thread {p.Pid} {p.StartTime} {tid} {c.Id}";

    // ---- replay ------------------------------------------------------------------------------------

    private void Replay(List<string> records)
    {
        _replaying = true;
        var ids = new Dictionary<long, Cgroup> { [1] = _engine.Root };
        int failed = 0;
        foreach (var record in records)
        {
            try
            {
                if (!Apply(record.Split(' '), ids))
                    failed++;
            }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException or OverflowException or KeyNotFoundException)
            {
                failed++;
            }
        }
        _replaying = false;
        if (failed > 0)
            _log($"state: {failed} of {records.Count} record(s) could not be applied");
    }

    private bool Apply(string[] f, Dictionary<long, Cgroup> ids)
    {
        Cgroup Cg(string id) => ids[long.Parse(id)];
        switch (f[0])
        {
            case "mkdir":
                var child = _fs.RestoreMkdir(Cg(f[2]), Unesc(f[6]), uint.Parse(f[3]), uint.Parse(f[4]), uint.Parse(f[5]));
                if (child is null)
                    return false;
                ids[long.Parse(f[1])] = child;
                return true;
            case "rmdir":
                return _fs.RestoreRmdir(Cg(f[1])) == Errno.Ok;
            case "write":
                return _fs.RestoreWrite(Cg(f[1]), f[2], Unesc(f[5]), uint.Parse(f[3]), uint.Parse(f[4])) == Errno.Ok;
            case "meta":
                _fs.RestoreMeta(Cg(f[1]), Unesc(f[2]), uint.Parse(f[3]), uint.Parse(f[4]), uint.Parse(f[5]));
                return true;
            case "xattr":
                _fs.RestoreXattr(Cg(f[1]), Unesc(f[2]), Unesc(f[3]), Convert.FromHexString(f[4]));
                return true;
            case "rmxattr":
                _fs.RestoreXattr(Cg(f[1]), Unesc(f[2]), Unesc(f[3]), null);
                return true;
            case "member":
            case "thread":
                var key = new ProcessKey(int.Parse(f[1]), ulong.Parse(f[2]));
                if (!ProcFs.Alive(key))
                    return true; // gone while we were down: nothing to restore
                return f[0] == "member"
                    ? _engine.Run(() => _engine.MigrateProcessLocked(key, Cg(f[3]), _ => true)) == Errno.Ok
                    : _engine.Run(() => _engine.MigrateThreadLocked(key, int.Parse(f[3]), Cg(f[4]), _ => true)) == Errno.Ok;
            case "device":
                return _engine.Run(() =>
                {
                    var name = Unesc(f[2]);
                    if (f[1] == "add")
                        _engine.Rdma.RegisterLocked(name);
                    else if (_engine.Rdma.FindLocked(name) is { } d)
                        return _engine.Rdma.UnregisterLocked(d) == Errno.Ok;
                    return true;
                });
            case "misc":
                return _engine.Run(() =>
                {
                    var name = Unesc(f[2]);
                    if (f[1] == "capacity")
                        _engine.Misc.SetCapacityLocked(name, ulong.Parse(f[3]), f.Length > 4 ? f[4] == "follow" : null);
                    else if (_engine.Misc.FindLocked(name) is { } t)
                        return _engine.Misc.RemoveTypeLocked(t) == Errno.Ok;
                    return true;
                });
            default:
                return false;
        }
    }

    // ---- snapshot ----------------------------------------------------------------------------------

    /// <summary>The current state as records, in an order that replays: devices and types, the tree,
    /// per-cgroup settings that do not constrain mkdir, then limits, owners, members, shortcut charges.</summary>
    public IEnumerable<string> Snapshot()
    {
        var (devices, types, cgroups) = _engine.Run(() => (
            _engine.Rdma.DevicesLocked.Select(d => d.Name).ToList(),
            _engine.Misc.TypesLocked.Select(t => (t.Name, t.Capacity, t.Follow)).ToList(),
            _engine.DescendantsPreOrderLocked(_engine.Root)));
        foreach (var d in devices)
            yield return $"device add {Esc(d)}";
        foreach (var kernelType in MiscController.KernelTypes.Where(k => types.All(t => t.Name != k)))
            yield return $"misc remove {kernelType}";
        foreach (var (name, capacity, follow) in types)
            yield return $"misc capacity {Esc(name)} {capacity} {(follow ? "follow" : "nofollow")}";

        // One pass collects everything; the records below are emitted in replayable order.
        var all = new List<Cgroup> { _engine.Root };
        all.AddRange(cgroups);
        var (states, placements) = _engine.Run(() => (
            all.Select(c => (Cgroup: c, Settings: _engine.SettingsLocked(c),
                Rdma: _engine.StateLocked(c, Controllers.Rdma) is RdmaState r ? _engine.RdmaConfigLocked(r) : [],
                Misc: _engine.StateLocked(c, Controllers.Misc) is MiscState m ? _engine.MiscConfigLocked(m) : [])).ToList(),
            _engine.PlacementsLocked()));
        var views = all.ToDictionary(c => c, _fs.ViewOf);

        foreach (var c in cgroups)
            yield return MkdirRecord(c.Id, c.Parent!.Id, views[c].Metas[0].Mode, views[c].CreatorUid, views[c].CreatorGid, c.Name);
        foreach (var (c, settings, _, _) in states)
            if (settings.Threaded)
                yield return $"write {c.Id} cgroup.type 0 0 threaded";
        foreach (var (c, settings, _, _) in states)
            if (settings.SubtreeControl != Controllers.None)
                yield return $"write {c.Id} cgroup.subtree_control 0 0 {Esc(string.Join(' ', ControllerNames.Ordered.Where(x => (settings.SubtreeControl & x) != 0).Select(x => "+" + ControllerNames.Name(x))))}";
        foreach (var (c, settings, rdma, misc) in states)
        {
            if (settings.MaxDepth != int.MaxValue)
                yield return $"write {c.Id} cgroup.max.depth 0 0 {settings.MaxDepth}";
            if (settings.MaxDescendants != int.MaxValue)
                yield return $"write {c.Id} cgroup.max.descendants 0 0 {settings.MaxDescendants}";
            if (settings.FreezeSelf)
                yield return $"write {c.Id} cgroup.freeze 0 0 1";
            if (!views[c].Pressure)
                yield return $"write {c.Id} cgroup.pressure 0 0 0";
            foreach (var (target, mode, uid, gid, xattrs) in views[c].Metas)
            {
                yield return MetaRecord(c, target, mode, uid, gid);
                foreach (var (name, value) in xattrs ?? [])
                    yield return XattrRecord(c, target, name, value);
            }
            foreach (var r in rdma.Where(r => r.MaxHandle != int.MaxValue || r.MaxObject != int.MaxValue))
                yield return $"write {c.Id} rdma.max 0 0 {Esc($"{r.Device} hca_handle={Limit(r.MaxHandle)} hca_object={Limit(r.MaxObject)}")}";
            foreach (var m in misc.Where(m => m.Max != ulong.MaxValue))
                yield return $"write {c.Id} misc.max 0 0 {Esc($"{m.Type} {m.Max}")}";
        }
        foreach (var p in placements)
        {
            yield return MemberRecord(p.Process, p.Cgroup);
            foreach (var (tid, where) in p.Threads)
                yield return ThreadRecord(p.Process, tid, where);
        }
        foreach (var (c, _, rdma, misc) in states)
        {
            foreach (var r in rdma.Where(r => r.HeldHandle > 0 || r.HeldObject > 0))
                yield return $"write {c.Id} rdma.current 0 0 {Esc($"{r.Device} hca_handle=+{r.HeldHandle} hca_object=+{r.HeldObject}")}";
            foreach (var m in misc.Where(m => m.Held > 0))
                yield return $"write {c.Id} misc.current 0 0 {Esc($"{m.Type} +{m.Held}")}";
        }
    }

    private static string Limit(int v) => v == int.MaxValue ? "max" : v.ToString();

    /// <summary>A clean stop compacts the journal; if it cannot, the uncompacted one stays (it replays the same).</summary>
    public void Dispose()
    {
        if (_file is null)
            return;
        lock (_commit)
        {
            if (_file.Compact(Snapshot().ToList()) is var e && e != Errno.Ok)
                _log($"state {_file.Path}: not compacted at stop: {JournalFile.Describe(e)}");
            _file.Dispose();
        }
    }
}
