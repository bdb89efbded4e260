using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree.Core;

/// <summary>The core cgroup.* files and the always-present cpu/PSI files (spec core.md 2–3).</summary>
public static class CoreFiles
{
    private const uint WriteOnly = 0b010_000_000;
    private const string PsiZero = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

    public static readonly InterfaceFile[] All =
    [
        new("cgroup.controllers", InterfaceFile.ReadOnly, Placement.Everywhere, null, Render: ReadControllers, Write: null),
        new("cgroup.subtree_control", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: ReadSubtreeControl, Write: WriteSubtreeControl),
        new("cgroup.procs", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: ReadProcs, Write: WriteProcs, Journaled: false),
        new("cgroup.threads", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: ReadThreads, Write: WriteThreads, Journaled: false),
        new("cgroup.type", InterfaceFile.ReadWrite, Placement.NotOnRoot, null, Render: ReadType, Write: WriteType),
        new("cgroup.events", InterfaceFile.ReadOnly, Placement.NotOnRoot, null, Render: ReadEvents, Write: null, Notifies: Notifier.CgroupEvents),
        new("cgroup.max.descendants", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: ReadMaxDescendants, Write: WriteMaxDescendants),
        new("cgroup.max.depth", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: ReadMaxDepth, Write: WriteMaxDepth),
        new("cgroup.stat", InterfaceFile.ReadOnly, Placement.Everywhere, null, Render: ReadStat, Write: null),
        new("cgroup.stat.local", InterfaceFile.ReadOnly, Placement.NotOnRoot, null, Render: ReadStatLocal, Write: null),
        new("cgroup.freeze", InterfaceFile.ReadWrite, Placement.NotOnRoot, null, Render: ReadFreeze, Write: WriteFreeze),
        new("cgroup.kill", WriteOnly, Placement.NotOnRoot, null, Render: null, Write: WriteKill, Journaled: false),
        new("cgroup.pressure", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: ReadPressure, Write: WritePressure),
        new("cpu.stat", InterfaceFile.ReadOnly, Placement.Everywhere, null, Render: _ => CoreRender.CpuStat, Write: null),
        new("cpu.stat.local", InterfaceFile.ReadOnly, Placement.Everywhere, null, Render: _ => "", Write: null),
        // PSI triggers are not emulated; the kernel on the reference machine rejects them too.
        new("cpu.pressure", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: _ => PsiZero, Write: RejectTrigger, IsPressure: true),
        new("io.pressure", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: _ => PsiZero, Write: RejectTrigger, IsPressure: true),
        new("memory.pressure", InterfaceFile.ReadWrite, Placement.Everywhere, null, Render: _ => PsiZero, Write: RejectTrigger, IsPressure: true),
    ];

    private static T Run<T>(FileContext x, Func<Hierarchy, T> f) => x.Engine.Run(() => f(x.Engine));

    /// <summary>Applies a parsed command, or returns the grammar's errno.</summary>
    private static Errno Then<T>(Parsed<T> p, Func<T, Errno> apply) => p.Ok ? apply(p.Value) : p.Error;

    private static Rendered ReadControllers(FileContext x) => CoreRender.ControllerList(Run(x, e => e.Names(e.AvailableLocked(x.Cgroup))));
    private static Rendered ReadSubtreeControl(FileContext x) => CoreRender.ControllerList(Run(x, e => e.Names(e.SettingsLocked(x.Cgroup).SubtreeControl)));
    private static Rendered ReadType(FileContext x) => CoreRender.Type(Run(x, e => e.TypeLocked(x.Cgroup)));
    private static Rendered ReadMaxDescendants(FileContext x) => CoreRender.Limit(Run(x, e => e.SettingsLocked(x.Cgroup).MaxDescendants));
    private static Rendered ReadMaxDepth(FileContext x) => CoreRender.Limit(Run(x, e => e.SettingsLocked(x.Cgroup).MaxDepth));
    private static Rendered ReadStat(FileContext x) => CoreRender.Stat(Run(x, e => e.SnapshotLocked(x.Cgroup)));
    private static Rendered ReadStatLocal(FileContext x) => CoreRender.StatLocal(Run(x, e => e.FrozenUsecLocked(x.Cgroup)));
    private static Rendered ReadFreeze(FileContext x) => CoreRender.Freeze(Run(x, e => e.SettingsLocked(x.Cgroup).FreezeSelf));
    private static Rendered ReadPressure(FileContext x) => x.Dir.PressureVisible ? "1\n" : "0\n";

    /// <summary>Membership is refreshed first: a read right after a process exited must see it gone.</summary>
    private static Rendered ReadEvents(FileContext x)
    {
        x.Services.Membership.Refresh(x.Cgroup);
        var (populated, frozen) = Run(x, e => e.EventsLocked(x.Cgroup));
        return CoreRender.Events(populated, frozen);
    }

    private static Rendered ReadProcs(FileContext x) =>
        x.Services.Membership.Processes(x.Cgroup) is var (e, pids) && e != Errno.Ok ? e : CoreRender.Ids(pids);

    private static Rendered ReadThreads(FileContext x) => CoreRender.Ids(x.Services.Membership.Threads(x.Cgroup));

    private static Errno WriteProcs(FileContext x, string text) =>
        Then(CoreGrammar.Pid(text), pid => x.Services.Membership.MoveProcess(pid, x.Cgroup, x.Writer.Tid, g => x.Services.View.MayWriteProcs(g, x.Opener)));

    private static Errno WriteThreads(FileContext x, string text) =>
        Then(CoreGrammar.Pid(text), tid => x.Services.Membership.MoveThread(tid, x.Cgroup, x.Writer.Tid, g => x.Services.View.MayWriteProcs(g, x.Opener)));

    private static Errno WriteType(FileContext x, string text) =>
        CoreGrammar.Type(text) is var e && e != Errno.Ok ? e : Run(x, h => h.MakeThreadedLocked(x.Cgroup));

    private static Errno WriteMaxDescendants(FileContext x, string text) =>
        Then(CoreGrammar.HierarchyLimit(text), v => Run(x, e => e.SetMaxDescendantsLocked(x.Cgroup, v)));

    private static Errno WriteMaxDepth(FileContext x, string text) =>
        Then(CoreGrammar.HierarchyLimit(text), v => Run(x, e => e.SetMaxDepthLocked(x.Cgroup, v)));

    private static Errno WriteFreeze(FileContext x, string text) =>
        Then(CoreGrammar.Freeze(text), v => Run(x, e => e.SetFreezeLocked(x.Cgroup, v)));

    private static Errno WriteKill(FileContext x, string text) =>
        CoreGrammar.Kill(text) is var e && e != Errno.Ok ? e : x.Services.Membership.Kill(x.Cgroup);

    private static Errno RejectTrigger(FileContext x, string text) => Errno.EINVAL;

    private static Errno WritePressure(FileContext x, string text)
    {
        var n = KernelText.KInt(KernelText.Strip(text));
        if (!n.Ok)
            return n.Error;
        if (n.Value is not (0 or 1))
            return Errno.ERANGE;
        x.Dir.PressureVisible = n.Value == 1;
        if (n.Value == 0)
            x.Services.View.InvalidateCached([x.Cgroup], f => f.IsPressure);
        return Errno.Ok;
    }

    private static Errno WriteSubtreeControl(FileContext x, string text)
    {
        var p = CoreGrammar.SubtreeControl(text, x.Engine.Controllers);
        if (!p.Ok)
            return p.Error;
        var (e, enabled, disabled, children) = Run(x, h =>
        {
            var before = h.SettingsLocked(x.Cgroup).SubtreeControl;
            var err = h.WriteSubtreeControlLocked(x.Cgroup, p.Value.Enable, p.Value.Disable);
            var after = h.SettingsLocked(x.Cgroup).SubtreeControl;
            return (err, after & ~before, before & ~after, h.ChildrenLocked(x.Cgroup));
        });
        if (e == Errno.Ok)
            x.Services.View.ControllerFilesChanged(children, enabled, disabled, x.Writer.Uid, x.Writer.Gid);
        return e;
    }
}
