using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs;

/// <summary>
/// Where acknowledged changes are recorded before they are applied (the --state journal
/// implements it). The view, the membership service and the control side talk to this
/// interface only, so none of them depends on the journal.
/// </summary>
public interface IChangeLog
{
    /// <summary>Records <paramref name="record"/>, then applies the change: refused with the
    /// recording errno, unchanged, if the record cannot be written; the record withdrawn if the
    /// change is refused.</summary>
    Errno Commit(Func<JournalRecord> record, Func<Errno> apply);
}

/// <summary>No journal: changes are applied, nothing is recorded.</summary>
public sealed class NoChangeLog : IChangeLog
{
    public static readonly NoChangeLog Instance = new();

    public Errno Commit(Func<JournalRecord> record, Func<Errno> apply) => apply();
}

/// <summary>The change log a mount writes to, set once the journal has been replayed (replay
/// itself must not record). Lets the view and the control side be built before the journal.</summary>
public sealed class ChangeLogSlot : IChangeLog
{
    public IChangeLog Target { get; set; } = NoChangeLog.Instance;

    public Errno Commit(Func<JournalRecord> record, Func<Errno> apply) => Target.Commit(record, apply);
}

/// <summary>Errno text for messages and logs.</summary>
public static class Errnos
{
    /// <summary>"ENOSPC (No space left on device)".</summary>
    public static string Describe(Errno e) => $"{e} ({System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage((int)e)})";

    /// <summary>A raw errno from a system call, described.</summary>
    public static string Describe(int errno) => Describe((Errno)errno);

    /// <summary>The errno the last libc call left, described.</summary>
    public static string Last() => Describe((Errno)System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
}
