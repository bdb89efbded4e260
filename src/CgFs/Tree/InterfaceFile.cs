using CgFs.Accounting;
using CgFs.Host;

namespace CgFs.Tree;

/// <summary>Where a file appears: everywhere, only in the root cgroup, or only in children.</summary>
public enum Placement { Everywhere, RootOnly, NotOnRoot }

/// <summary>What a file's renderer produced: the kernel's bytes (as Latin-1 text) or an errno.</summary>
public readonly record struct Rendered(Errno Error, string Text)
{
    public static implicit operator Rendered(string text) => new(Errno.Ok, text);
    public static implicit operator Rendered(Errno e) => new(e, "");
}

/// <summary>Everything a renderer or write handler may use: the cgroup, the controller state the
/// descriptor was opened against, who is writing and with what credentials it opened the file.</summary>
public sealed record FileContext(CgroupFileSystem Fs, Cgroup Cgroup, CgroupDir Dir, ControllerState? State, int WriterTid, uint WriterUid, uint WriterGid, Credentials Opener)
{
    public Hierarchy Engine => Fs.Engine;
}

/// <summary>
/// One interface file, declared as data (like gVisor's cgroup2fs tables): its name, mode,
/// placement, owning controller (files exist only where that controller has state), how it
/// renders, how writes are handled (null: read-only, root's writes get EINVAL), the notifier
/// whose changes make pollers see POLLPRI, whether it first appeared in kernel 7.2 (absent
/// when a mount emulates an older kernel), and whether a write is journaled as written (--state;
/// migrations journal the process they moved instead, cgroup.kill nothing).
/// </summary>
public sealed record InterfaceFile(
    string Name,
    uint Mode,
    Placement Placement,
    Controllers Controller,
    Func<FileContext, Rendered>? Render,
    Func<FileContext, string, Errno>? Write,
    Notifier? Notifies = null,
    bool IsPressure = false,
    bool Since72 = false,
    bool Journaled = true);
