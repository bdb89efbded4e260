using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>The core cgroup.* files and the always-present cpu/PSI files (spec core.md 2–3).</summary>
public static class CoreFiles
{
    private const string PsiZero = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

    public static readonly InterfaceFile[] All =
    [
        new("cgroup.controllers", 0b100_100_100, Placement.Everywhere, Controllers.None,
            x => CoreRender.ControllerList(x.Engine.Run(() => x.Engine.AvailableLocked(x.Cgroup))), null),
        new("cgroup.subtree_control", 0b110_100_100, Placement.Everywhere, Controllers.None,
            x => CoreRender.ControllerList(x.Engine.Run(() => x.Engine.SubtreeControlLocked(x.Cgroup))),
            WriteSubtreeControl),
        new("cgroup.procs", 0b110_100_100, Placement.Everywhere, Controllers.None,
            x => x.Fs.Processes.RenderProcs(x.Cgroup),
            (x, text) => x.Fs.Processes.MigrateProcess(x, text), Journaled: false),
        new("cgroup.threads", 0b110_100_100, Placement.Everywhere, Controllers.None,
            x => x.Fs.Processes.RenderThreads(x.Cgroup),
            (x, text) => x.Fs.Processes.MigrateThread(x, text), Journaled: false),
        new("cgroup.type", 0b110_100_100, Placement.NotOnRoot, Controllers.None,
            x => CoreRender.Type(x.Engine.Run(() => x.Engine.TypeLocked(x.Cgroup))),
            (x, text) => CoreGrammar.Type(text) is var e && e != Errno.Ok ? e : x.Engine.Run(() => x.Engine.MakeThreadedLocked(x.Cgroup))),
        new("cgroup.events", 0b100_100_100, Placement.NotOnRoot, Controllers.None,
            x =>
            {
                x.Fs.Processes.Refresh(x.Cgroup);
                var (populated, frozen) = x.Engine.Run(() => x.Engine.EventsLocked(x.Cgroup));
                return CoreRender.Events(populated, frozen);
            },
            null, Notifier.CgroupEvents),
        new("cgroup.max.descendants", 0b110_100_100, Placement.Everywhere, Controllers.None,
            x => CoreRender.Limit(x.Engine.Run(() => x.Engine.MaxDescendantsLocked(x.Cgroup))),
            (x, text) => Then(CoreGrammar.HierarchyLimit(text), v => x.Engine.Run(() => x.Engine.SetMaxDescendantsLocked(x.Cgroup, v)))),
        new("cgroup.max.depth", 0b110_100_100, Placement.Everywhere, Controllers.None,
            x => CoreRender.Limit(x.Engine.Run(() => x.Engine.MaxDepthLocked(x.Cgroup))),
            (x, text) => Then(CoreGrammar.HierarchyLimit(text), v => x.Engine.Run(() => x.Engine.SetMaxDepthLocked(x.Cgroup, v)))),
        new("cgroup.stat", 0b100_100_100, Placement.Everywhere, Controllers.None,
            x => CoreRender.Stat(x.Engine.Run(() => x.Engine.SnapshotLocked(x.Cgroup))), null),
        new("cgroup.stat.local", 0b100_100_100, Placement.NotOnRoot, Controllers.None,
            x => CoreRender.StatLocal(x.Engine.Run(() => x.Engine.FrozenUsecLocked(x.Cgroup))), null),
        new("cgroup.freeze", 0b110_100_100, Placement.NotOnRoot, Controllers.None,
            x => CoreRender.Freeze(x.Engine.Run(() => x.Engine.FreezeSelfLocked(x.Cgroup))),
            (x, text) => Then(CoreGrammar.Freeze(text), v => x.Engine.Run(() => x.Engine.SetFreezeLocked(x.Cgroup, v)))),
        new("cgroup.kill", 0b010_000_000, Placement.NotOnRoot, Controllers.None, null,
            (x, text) => CoreGrammar.Kill(text) is var e && e != Errno.Ok ? e : x.Fs.Processes.Kill(x.Cgroup), Journaled: false),
        new("cgroup.pressure", 0b110_100_100, Placement.Everywhere, Controllers.None,
            x => x.Dir.PressureVisible ? "1\n" : "0\n",
            (x, text) =>
            {
                var n = KernelText.KInt(KernelText.Strip(text));
                if (!n.Ok)
                    return n.Error;
                if (n.Value is not (0 or 1))
                    return Errno.ERANGE;
                x.Dir.PressureVisible = n.Value == 1;
                if (n.Value == 0)
                    x.Fs.InvalidateCached([x.Cgroup], f => f.IsPressure);
                return Errno.Ok;
            }),
        new("cpu.stat", 0b100_100_100, Placement.Everywhere, Controllers.None, _ => CoreRender.CpuStat, null),
        new("cpu.stat.local", 0b100_100_100, Placement.Everywhere, Controllers.None, _ => "", null),
        // PSI triggers are not emulated; the kernel on the reference machine rejects them too.
        new("cpu.pressure", 0b110_100_100, Placement.Everywhere, Controllers.None, _ => PsiZero, (_, _) => Errno.EINVAL, IsPressure: true),
        new("io.pressure", 0b110_100_100, Placement.Everywhere, Controllers.None, _ => PsiZero, (_, _) => Errno.EINVAL, IsPressure: true),
        new("memory.pressure", 0b110_100_100, Placement.Everywhere, Controllers.None, _ => PsiZero, (_, _) => Errno.EINVAL, IsPressure: true),
    ];

    /// <summary>Applies a parsed command, or returns the grammar's errno.</summary>
    private static Errno Then<T>(Parsed<T> p, Func<T, Errno> apply) => p.Ok ? apply(p.Value) : p.Error;

    private static Errno WriteSubtreeControl(FileContext x, string text)
    {
        var p = CoreGrammar.SubtreeControl(text);
        if (!p.Ok)
            return p.Error;
        var (e, children) = x.Engine.Run(() =>
        {
            var before = x.Engine.SubtreeControlLocked(x.Cgroup);
            var err = x.Engine.WriteSubtreeControlLocked(x.Cgroup, p.Value.Enable, p.Value.Disable);
            var after = x.Engine.SubtreeControlLocked(x.Cgroup);
            return (err, (Enabled: after & ~before, Disabled: before & ~after, Children: x.Engine.ChildrenLocked(x.Cgroup)));
        });
        if (e == Errno.Ok)
            x.Fs.ControllerFilesChanged(children.Children, children.Enabled, children.Disabled, x.WriterUid, x.WriterGid);
        return e;
    }
}
