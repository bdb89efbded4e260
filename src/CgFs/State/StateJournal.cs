using CgFs.Accounting;
using CgFs.Membership;
using CgFs.Parsing;
using CgFs.Tree;

namespace CgFs.State;

/// <summary>
/// Restart without loss (--state FILE). Every acknowledged change is journaled as a
/// <see cref="JournalRecord"/> that replays through the same code path that made it (file writes
/// through the file's own grammar, device and type changes through the control protocol). At
/// start the journal is replayed (<see cref="JournalReplay"/>), then compacted into a snapshot of
/// the current state (<see cref="JournalSnapshot"/>, ids renumbered), and again at a clean stop.
/// Processes are restored only if the same pid with the same start time is still alive; `cgfs
/// hold` contexts are not restored (their connections died with the daemon: those charges are
/// released, like uverbs contexts of a restarted driver). Peaks and event counters restart at 0.
/// The journal decides first: <see cref="Commit"/> writes a record before its change is applied
/// and refuses the change, unchanged, when the record cannot be written.
/// </summary>
public sealed class StateJournal : IChangeLog, IDisposable
{
    private readonly JournalSnapshot _snapshot;
    private readonly Action<string> _log;
    private readonly JournalFile _file;

    /// <summary>Told of the journal file's writes and fsyncs (metrics).</summary>
    public IJournalObserver? Observer { get => _file.Observer; set => _file.Observer = value; }

    private StateJournal(JournalSnapshot snapshot, JournalFile file, Action<string> log)
    {
        _snapshot = snapshot;
        _file = file;
        _log = log;
    }

    /// <summary>Replays <paramref name="path"/> into an empty filesystem, compacts it, and starts journaling.</summary>
    public static StateJournal Open(string path, Hierarchy engine, IReadOnlyList<ControllerPlugin> plugins, CgroupFileSystem fs,
        IMembership membership, Action<string> log)
    {
        var lines = JournalFile.Read(path, out int dropped);
        if (dropped > 0)
            log($"state {path}: ignored {dropped} torn or corrupt record(s) at the end");
        new JournalReplay(engine, plugins, fs, membership, log).Replay(lines);
        var snapshot = new JournalSnapshot(engine, plugins, fs);
        return new StateJournal(snapshot, new JournalFile(path, snapshot.Lines(), log), log);
    }

    // ---- deciding first: a change is applied only once its record is written ----------------------

    private readonly object _commit = new();
    private Errno _failing = Errno.Ok;
    private bool _mustCompact;

    /// <summary>Commits <paramref name="record"/>, then applies the change. If the record cannot be
    /// written the change is refused with that errno and nothing happens (ENOSPC on a full disk); if
    /// the change is refused the record is retracted. Serializes journaled changes, so records are in
    /// the order their changes were applied. Lock order: after the view's node table, before the engine.</summary>
    public Errno Commit(Func<JournalRecord> record, Func<Errno> apply)
    {
        lock (_commit)
        {
            long at = 0;
            var e = EnsureWritable();
            if (e == Errno.Ok)
            {
                at = _file.Length;
                e = _file.Append(record().Format());
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
                    _log($"state {_file.Path}: cannot withdraw the record of a refused change: {Errnos.Describe(r)}");
                }
            }
            return result;
        }
    }

    /// <summary>A journal that is no longer at its path (its file or directory was removed) or holds a
    /// record it could not withdraw is rewritten from the live state before anything is appended.</summary>
    private Errno EnsureWritable()
    {
        if (!_mustCompact && _file.AtItsPath)
            return Errno.Ok;
        var e = _file.Compact(_snapshot.Lines());
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
        _log($"state {_file.Path}: cannot record changes: {Errnos.Describe(e)}; they are refused until it can (logged once)");
    }

    private void Recovered()
    {
        if (_failing == Errno.Ok)
            return;
        _failing = Errno.Ok;
        if (!_reported)
            return;
        _reported = false;
        _log($"state {_file.Path}: recording changes again");
    }

    /// <summary>A clean stop compacts the journal; if it cannot, the uncompacted one stays (it replays the same).</summary>
    public void Dispose()
    {
        lock (_commit)
        {
            if (_file.Compact(_snapshot.Lines()) is var e && e != Errno.Ok)
                _log($"state {_file.Path}: not compacted at stop: {Errnos.Describe(e)}");
            _file.Dispose();
        }
    }
}
