using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree.Overlay;

/// <summary>
/// Overlay mode's core files, declared as data: the few whose bytes or rules merge the host
/// kernel's controllers with cgfs's (cgroup.controllers, cgroup.subtree_control, cgroup.stat), and
/// those whose writes cgfs must see or vet (cgroup.procs and cgroup.threads: the common-ancestor
/// rule with the opener's credentials, follow charges; cgroup.type: cgfs's controllers in the way
/// of a threaded subtree). Every other real file is passed through untouched.
/// </summary>
public static class OverlayFiles
{
    public static readonly InterfaceFile[] All =
    [
        new("cgroup.controllers", InterfaceFile.ReadOnly, Placement.WhereReal, null, Render: ReadControllers, Write: null),
        new("cgroup.subtree_control", InterfaceFile.ReadWrite, Placement.WhereReal, null, Render: ReadSubtreeControl, Write: WriteSubtreeControl, Journaled: false),
        new("cgroup.procs", InterfaceFile.ReadWrite, Placement.WhereReal, null, Render: x => ReadReal(x, "cgroup.procs"), Write: WriteProcs, Journaled: false),
        new("cgroup.threads", InterfaceFile.ReadWrite, Placement.WhereReal, null, Render: x => ReadReal(x, "cgroup.threads"), Write: WriteThreads, Journaled: false),
        new("cgroup.type", InterfaceFile.ReadWrite, Placement.WhereReal, null, Render: x => ReadReal(x, "cgroup.type"), Write: WriteType, Journaled: false),
        new("cgroup.stat", InterfaceFile.ReadOnly, Placement.WhereReal, null, Render: ReadStat, Write: null),
    ];

    private static T Run<T>(FileContext x, Func<Hierarchy, T> f) => x.Engine.Run(() => f(x.Engine));

    private static Rendered ReadReal(FileContext x, string file) =>
        x.Services.Real!.Read(x.RealFile(file)) is var (e, text) && e != Errno.Ok ? e : text;

    private static Rendered Merge(FileContext x, string file, Func<Hierarchy, ControllerMask> ours, Func<string, IEnumerable<string>, string> render)
    {
        var (e, text) = x.Services.Real!.Read(x.RealFile(file));
        return e != Errno.Ok ? e : render(text, Run(x, h => h.Names(ours(h))));
    }

    /// <summary>A threaded cgroup offers only threaded controllers (kernel: cgroup_control); rdma and
    /// misc are not, whatever its parent enables (it may have been made threaded behind cgfs's back).</summary>
    private static Rendered ReadControllers(FileContext x)
    {
        bool threaded = IsThreaded(x);
        return Merge(x, "cgroup.controllers", h => threaded ? h.AvailableLocked(x.Cgroup) & h.ThreadedControllers : h.AvailableLocked(x.Cgroup),
            OverlayRender.ControllerList);
    }

    private static bool IsThreaded(FileContext x) =>
        !x.Cgroup.IsRoot && x.Services.Real!.Read(x.RealFile("cgroup.type")) is (Errno.Ok, "threaded\n");
    private static Rendered ReadSubtreeControl(FileContext x) => Merge(x, "cgroup.subtree_control", h => h.SettingsLocked(x.Cgroup).SubtreeControl, OverlayRender.ControllerList);

    private static Rendered ReadStat(FileContext x)
    {
        var (e, text) = x.Services.Real!.Read(x.RealFile("cgroup.stat"));
        if (e != Errno.Ok)
            return e;
        var s = Run(x, h => h.SnapshotLocked(x.Cgroup));
        return OverlayRender.Stat(text, s.NrSubsys, s.NrDyingSubsys, s.NrDyingDescendants);
    }

    private static Errno WriteProcs(FileContext x, string text) => CoreGrammar.Pid(text) is var p && !p.Ok ? p.Error
        : x.Services.Membership.MoveProcess(p.Value, x.Cgroup, x.Writer.Tid, g => x.Services.View.MayWriteProcs(g, x.Opener));

    private static Errno WriteThreads(FileContext x, string text) => CoreGrammar.Pid(text) is var p && !p.Ok ? p.Error
        : x.Services.Membership.MoveThread(p.Value, x.Cgroup, x.Writer.Tid, g => x.Services.View.MayWriteProcs(g, x.Opener));

    /// <summary>The kernel cannot know that cgfs's domain controllers are enabled here or in the
    /// parent (kernel: cgroup_enable_threaded refuses both with EOPNOTSUPP); the rest is the kernel's.</summary>
    private static Errno WriteType(FileContext x, string text)
    {
        if (CoreGrammar.Type(text) is var e && e != Errno.Ok)
            return e;
        bool inTheWay = Run(x, h => !h.SettingsLocked(x.Cgroup).SubtreeControl.IsEmpty ||
            x.Cgroup.Parent is { IsRoot: false } p && !h.SettingsLocked(p).SubtreeControl.IsEmpty);
        return inTheWay ? Errno.EOPNOTSUPP : x.Services.Real!.Write(x.RealFile("cgroup.type"), text);
    }

    /// <summary>A mix of the kernel's controllers and cgfs's, all or nothing: the kernel's part is
    /// written through (its errno decides first: its controllers precede rdma and misc in subsystem
    /// order), then cgfs's part is applied with the kernel's rules judged on the real cgroup — and if
    /// it is refused, the kernel's part is undone. Only cgfs's part is journaled.</summary>
    private static Errno WriteSubtreeControl(FileContext x, string text)
    {
        var tokens = CoreGrammar.SubtreeTokens(text);
        if (!tokens.Ok)
            return tokens.Error;
        var ownNames = x.Engine.Controllers.Select(c => c.Name).ToHashSet();
        string Join(IEnumerable<(bool Enable, string Name)> ts) => string.Join(' ', ts.Select(t => (t.Enable ? "+" : "-") + t.Name));
        var theirs = tokens.Value.Where(t => !ownNames.Contains(t.Name)).ToList();
        string mine = Join(tokens.Value.Where(t => ownNames.Contains(t.Name)));
        var ours = CoreGrammar.SubtreeControl(mine, x.Engine.Controllers);
        if (!ours.Ok)
            return ours.Error;
        var real = x.Services.Real!;
        var file = x.RealFile("cgroup.subtree_control");
        var before = real.Read(file).Text;
        if (theirs.Count > 0 && real.Write(file, Join(theirs)) is var k && k != Errno.Ok)
            return k;
        if (theirs.Any(t => !t.Enable)) // a disabled controller's files go from the children
            x.Services.View.RealFilesMayHaveVanished(Run(x, h => h.ChildrenLocked(x.Cgroup)));
        if (mine.Length == 0)
        {
            ChownNewFiles(x, theirs);
            return Errno.Ok;
        }
        if (!(ours.Value.Enable & ~x.Engine.ThreadedControllers).IsEmpty && IsThreaded(x))
        {
            if (theirs.Count > 0)
                Undo(x, file, before);
            return Errno.ENOENT; // not offered in a threaded cgroup
        }
        var vet = ours.Value.Enable.IsEmpty || x.Cgroup.IsRoot ? Errno.Ok : VetDomainEnable(x);
        ControllerMask enabled = ControllerMask.None, disabled = ControllerMask.None;
        Cgroup[] children = [];
        var e = x.Services.Changes.Commit(() => new WriteRecord(x.Cgroup.Id, "cgroup.subtree_control", x.Writer.Uid, x.Writer.Gid, mine), () =>
        {
            Errno result;
            (result, enabled, disabled, children) = Run(x, h =>
            {
                var was = h.SettingsLocked(x.Cgroup).SubtreeControl;
                var err = h.WriteSubtreeControlLocked(x.Cgroup, ours.Value.Enable, ours.Value.Disable, (_, _) => vet);
                var now = h.SettingsLocked(x.Cgroup).SubtreeControl;
                return (err, now & ~was, was & ~now, h.ChildrenLocked(x.Cgroup));
            });
            return result;
        });
        if (e != Errno.Ok)
        {
            if (theirs.Count > 0)
                Undo(x, file, before);
            return e;
        }
        ChownNewFiles(x, theirs);
        x.Services.View.ControllerFilesChanged(children, enabled, disabled, x.Writer.Uid, x.Writer.Gid);
        return Errno.Ok;
    }

    /// <summary>kernel: cgroup_vet_subtree_control_enable for a domain controller, on the real
    /// cgroup: only a plain domain may enable one, and only without processes of its own.</summary>
    private static Errno VetDomainEnable(FileContext x)
    {
        var real = x.Services.Real!;
        var (te, type) = real.Read(x.RealFile("cgroup.type"));
        if (te == Errno.Ok && type.Trim() != "domain")
            return Errno.EOPNOTSUPP;
        var (pe, procs) = real.Read(x.RealFile("cgroup.procs"));
        return pe != Errno.Ok ? pe : procs.Length > 0 ? Errno.EBUSY : Errno.Ok;
    }

    /// <summary>Puts the kernel's subtree_control back as it was before a refused mixed write.</summary>
    private static void Undo(FileContext x, string file, string before)
    {
        var real = x.Services.Real!;
        var was = before.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var now = real.Read(file).Text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var undo = now.Except(was).Select(n => "-" + n).Concat(was.Except(now).Select(n => "+" + n)).ToList();
        if (undo.Count == 0)
            return;
        real.Write(file, string.Join(' ', undo));
        if (now.Except(was).Any()) // controllers enabled a moment ago are gone again, and so are their files
            x.Services.View.RealFilesMayHaveVanished(Run(x, h => h.ChildrenLocked(x.Cgroup)));
    }

    /// <summary>Files a controller enable creates in the children belong to the writer (spec core.md
    /// 1.2); the daemon wrote as root, so the kernel made them root's.</summary>
    private static void ChownNewFiles(FileContext x, List<(bool Enable, string Name)> theirs)
    {
        if (x.Writer.Uid == 0 && x.Writer.Gid == 0 || !theirs.Any(t => t.Enable))
            return;
        var real = x.Services.Real!;
        var prefixes = theirs.Where(t => t.Enable).Select(t => t.Name + ".").ToArray();
        foreach (var (child, st) in real.List(x.RealDir).Where(e => e.Stat.IsDirectory))
        {
            var dir = x.RealFile(child);
            foreach (var (name, _) in real.List(dir).Where(f => f.Stat.IsRegular && prefixes.Any(p => f.Name.StartsWith(p, StringComparison.Ordinal))))
                real.Chown(dir + "/" + name, x.Writer.Uid, x.Writer.Gid);
        }
    }
}
