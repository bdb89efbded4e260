using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>The misc controller's files (spec misc.md 2).</summary>
public static class MiscFiles
{
    public static readonly InterfaceFile[] All =
    [
        new("misc.capacity", 0b100_100_100, Placement.RootOnly, Controllers.Misc, x => MiscRender.Capacity(Rows(x)), null),
        new("misc.current", 0b100_100_100, Placement.Everywhere, Controllers.Misc, x => MiscRender.Current(Rows(x)), WriteCurrentDelta),
        new("misc.peak", 0b100_100_100, Placement.Everywhere, Controllers.Misc, x => MiscRender.Peak(Rows(x)), null),
        new("misc.max", 0b110_100_100, Placement.NotOnRoot, Controllers.Misc, x => MiscRender.Max(Rows(x)), WriteMax),
        new("misc.events", 0b100_100_100, Placement.NotOnRoot, Controllers.Misc, x => MiscRender.Events(Rows(x)), null, Notifier.MiscEvents),
        new("misc.events.local", 0b100_100_100, Placement.NotOnRoot, Controllers.Misc, x => MiscRender.EventsLocal(Rows(x)), null, Notifier.MiscEventsLocal),
    ];

    private static MiscRow[] Rows(FileContext x) => x.Engine.Run(() => x.Engine.Misc.RowsLocked((MiscState)x.State!));

    private static bool Known(FileContext x, string name) => x.Engine.Run(() => x.Engine.Misc.FindLocked(name) is not null);

    private static Errno WriteMax(FileContext x, string text)
    {
        var p = MiscGrammar.Max(text, name => Known(x, name));
        if (!p.Ok)
            return p.Error;
        return x.Engine.Run(() => x.Engine.Misc.FindLocked(p.Value.Name) is { } t
            ? x.Engine.Misc.SetMaxLocked((MiscState)x.State!, t, p.Value.Max)
            : Errno.EINVAL);
    }

    private static Errno WriteCurrentDelta(FileContext x, string text)
    {
        var p = MiscGrammar.CurrentDelta(text, name => Known(x, name));
        if (!p.Ok)
            return p.Error;
        return x.Engine.Run(() => x.Engine.Misc.FindLocked(p.Value.Name) is { } t
            ? x.Engine.Misc.ApplyShortcutLocked((MiscState)x.State!, t, p.Value.Negative, p.Value.Amount)
            : Errno.EINVAL);
    }
}
