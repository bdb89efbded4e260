using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>The rdma controller's files (spec rdma.md 2): non-root cgroups with rdma state.</summary>
public static class RdmaFiles
{
    public static readonly InterfaceFile[] All =
    [
        new("rdma.max", 0b110_100_100, Placement.NotOnRoot, Controllers.Rdma, x => RdmaRender.Max(Rows(x)), WriteMax),
        new("rdma.current", 0b100_100_100, Placement.NotOnRoot, Controllers.Rdma, x => RdmaRender.Current(Rows(x)), WriteCurrentDelta),
        new("rdma.peak", 0b100_100_100, Placement.NotOnRoot, Controllers.Rdma, x => RdmaRender.Peak(Rows(x)), null, Since72: true),
        new("rdma.events", 0b100_100_100, Placement.NotOnRoot, Controllers.Rdma, x => RdmaRender.Events(Rows(x)), null, Notifier.RdmaEvents, Since72: true),
        new("rdma.events.local", 0b100_100_100, Placement.NotOnRoot, Controllers.Rdma, x => RdmaRender.EventsLocal(Rows(x)), null, Notifier.RdmaEventsLocal, Since72: true),
    ];

    private static RdmaRow[] Rows(FileContext x) => x.Engine.Run(() => x.Engine.Rdma.RowsLocked((RdmaState)x.State!));

    /// <summary>Parse everything first (EINVAL), then look the device up (ENODEV), then apply. A mount
    /// emulating a kernel before 7.2 uses that kernel's parser (spec rdma.md 4.3).</summary>
    private static Errno WriteMax(FileContext x, string text)
    {
        var p = x.Fs.RdmaLegacy ? RdmaGrammar.MaxLegacy(text) : RdmaGrammar.Max(text);
        if (!p.Ok)
            return p.Error;
        var cmd = p.Value;
        return x.Engine.Run(() =>
        {
            var device = x.Engine.Rdma.FindLocked(cmd.Device);
            if (device is null)
                return Errno.ENODEV;
            x.Engine.Rdma.SetMaxLocked((RdmaState)x.State!, device, cmd.HcaHandle, cmd.HcaObject);
            return Errno.Ok;
        });
    }

    /// <summary>The rdma.current shortcut (documented extension, root only by the file's mode):
    /// both resources change or neither does.</summary>
    private static Errno WriteCurrentDelta(FileContext x, string text)
    {
        var p = RdmaGrammar.CurrentDelta(text);
        if (!p.Ok)
            return p.Error;
        var cmd = p.Value;
        var state = (RdmaState)x.State!;
        return x.Engine.Run(() =>
        {
            var rdma = x.Engine.Rdma;
            var device = rdma.FindLocked(cmd.Device);
            if (device is null)
                return Errno.ENODEV;
            var e = rdma.ApplyShortcutLocked(state, device, RdmaResource.HcaHandle, cmd.HcaHandle);
            if (e != Errno.Ok)
                return e;
            e = rdma.ApplyShortcutLocked(state, device, RdmaResource.HcaObject, cmd.HcaObject);
            if (e != Errno.Ok)
                rdma.ApplyShortcutLocked(state, device, RdmaResource.HcaHandle, -cmd.HcaHandle);
            return e;
        });
    }
}
