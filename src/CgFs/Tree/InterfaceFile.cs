using CgFs.Accounting;
using CgFs.Host;
using CgFs.Membership;

namespace CgFs.Tree;

/// <summary>Where a file appears: everywhere, only in the root cgroup, only in children, or (overlay
/// mode) wherever the real directory has a file of that name.</summary>
public enum Placement { Everywhere, RootOnly, NotOnRoot, WhereReal }

/// <summary>What a file's renderer produced: the kernel's bytes (as Latin-1 text) or an errno.</summary>
public readonly record struct Rendered(Errno Error, string Text)
{
    public static implicit operator Rendered(string text) => new(Errno.Ok, text);
    public static implicit operator Rendered(Errno e) => new(e, "");
}

/// <summary>Who is writing: the calling thread and the credentials of this request.</summary>
public readonly record struct Writer(int Tid, uint Uid, uint Gid);

/// <summary>Mount-wide choices a file handler may depend on.</summary>
public sealed record ViewOptions(bool RdmaLegacy = false)
{
    public static readonly ViewOptions Default = new();
}

/// <summary>What the view does for handlers: the few operations on the directory tree that a
/// write can cause, and the migration permission check that needs the view's modes.</summary>
public interface IViewEffects
{
    /// <summary>Asks the kernel to forget cached entries of files that just disappeared.</summary>
    void InvalidateCached(IEnumerable<Cgroup> cgroups, Func<InterfaceFile, bool> gone, TimeSpan? wait = null);

    /// <summary>Overlay mode: a write to the kernel may have removed real files of <paramref name="cgroups"/>
    /// (cgroup.pressure, a controller disabled in their parent); cached entries of those go.</summary>
    void RealFilesMayHaveVanished(IEnumerable<Cgroup> cgroups);

    /// <summary>Controllers were enabled or disabled in <paramref name="children"/>' parent.</summary>
    void ControllerFilesChanged(IEnumerable<Cgroup> children, ControllerMask enabled, ControllerMask disabled, uint uid, uint gid);

    /// <summary>Whether <paramref name="who"/> may write cgroup.procs of <paramref name="g"/> (spec core.md 5.1).</summary>
    bool MayWriteProcs(Cgroup g, Credentials who);
}

/// <summary>The services file handlers use, one set per mount.</summary>
public sealed record FileServices(Hierarchy Engine, IMembership Membership, IChangeLog Changes, ViewOptions Options, IViewEffects View,
    RealCgroups? Real = null);

/// <summary>Everything a renderer or write handler may use: the cgroup, the controller state the
/// descriptor was opened against, who is writing, with what credentials the file was opened, and
/// the mount's services.</summary>
public sealed record FileContext(Cgroup Cgroup, CgroupDir Dir, ControllerState? State, Writer Writer, Credentials Opener, FileServices Services)
{
    public Hierarchy Engine => Services.Engine;

    /// <summary>Overlay mode: the path of this cgroup's real directory.</summary>
    public string RealDir => Services.Real!.PathOf(Dir.RealPath!);

    /// <summary>Overlay mode: the path of this cgroup's real file <paramref name="name"/>.</summary>
    public string RealFile(string name) => Services.Real!.PathOf(Dir.RealPath!.Length == 0 ? name : Dir.RealPath + "/" + name);
}

/// <summary>
/// One interface file, declared as data (like gVisor's cgroup2fs tables): its name, mode,
/// placement, owning controller (null: a core file; otherwise the file exists only where that
/// controller has state), how it renders, how writes are handled (null: read-only, root's writes
/// get EINVAL), the notifier whose changes make pollers see POLLPRI, whether it first appeared in
/// kernel 7.2 (absent when a mount emulates an older kernel), and whether a write is journaled as
/// written (--state; migrations journal the process they moved instead, cgroup.kill nothing).
/// </summary>
public sealed record InterfaceFile(
    string Name,
    uint Mode,
    Placement Placement,
    Controller? Controller,
    Func<FileContext, Rendered>? Render,
    Func<FileContext, string, Errno>? Write,
    Notifier? Notifies = null,
    bool IsPressure = false,
    bool Since72 = false,
    bool Journaled = true)
{
    /// <summary>rw-r--r--: a writable interface file.</summary>
    public const uint ReadWrite = 0b110_100_100;
    /// <summary>r--r--r--: a read-only interface file.</summary>
    public const uint ReadOnly = 0b100_100_100;
}
