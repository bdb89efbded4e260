using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree.Misc;

/// <summary>The misc controller above the engine: its files (spec misc.md 2), type requests of
/// the control protocol, and its journal and status lines.</summary>
public sealed class MiscPlugin : ControllerPlugin
{
    private readonly MiscController _misc = new();

    public MiscPlugin()
    {
        Files =
        [
            new("misc.capacity", InterfaceFile.ReadOnly, Placement.RootOnly, _misc, Render: ReadCapacity, Write: null),
            new("misc.current", InterfaceFile.ReadOnly, Placement.Everywhere, _misc, Render: ReadCurrent, Write: WriteCurrentDelta),
            new("misc.peak", InterfaceFile.ReadOnly, Placement.Everywhere, _misc, Render: ReadPeak, Write: null),
            new("misc.max", InterfaceFile.ReadWrite, Placement.NotOnRoot, _misc, Render: ReadMax, Write: WriteMax),
            new("misc.events", InterfaceFile.ReadOnly, Placement.NotOnRoot, _misc, Render: ReadEvents, Write: null,
                Notifies: MiscController.Events),
            new("misc.events.local", InterfaceFile.ReadOnly, Placement.NotOnRoot, _misc, Render: ReadEventsLocal, Write: null,
                Notifies: MiscController.EventsLocal),
        ];
    }

    public override Controller Controller => _misc;
    public override IReadOnlyList<InterfaceFile> Files { get; }

    private MiscRow[] Rows(FileContext x) => x.Engine.Run(() => _misc.RowsLocked((MiscState)x.State!));

    private Rendered ReadCapacity(FileContext x) => MiscRender.Capacity(Rows(x));
    private Rendered ReadCurrent(FileContext x) => MiscRender.Current(Rows(x));
    private Rendered ReadPeak(FileContext x) => MiscRender.Peak(Rows(x));
    private Rendered ReadMax(FileContext x) => MiscRender.Max(Rows(x));
    private Rendered ReadEvents(FileContext x) => MiscRender.Events(Rows(x));
    private Rendered ReadEventsLocal(FileContext x) => MiscRender.EventsLocal(Rows(x));

    private bool Known(FileContext x, string name) => x.Engine.Run(() => _misc.FindLocked(name) is not null);

    private Errno WriteMax(FileContext x, string text)
    {
        var p = MiscGrammar.Max(text, name => Known(x, name));
        if (!p.Ok)
            return p.Error;
        return x.Engine.Run(() => _misc.FindLocked(p.Value.Name) is { } t
            ? _misc.SetMaxLocked((MiscState)x.State!, t, p.Value.Max)
            : Errno.EINVAL);
    }

    private Errno WriteCurrentDelta(FileContext x, string text)
    {
        var p = MiscGrammar.CurrentDelta(text, name => Known(x, name));
        if (!p.Ok)
            return p.Error;
        return x.Engine.Run(() => _misc.FindLocked(p.Value.Name) is { } t
            ? _misc.ApplyShortcutLocked((MiscState)x.State!, t, p.Value.Negative, p.Value.Amount)
            : Errno.EINVAL);
    }

    /// <summary>Kernel types that were removed, then every type with its capacity and follow mode.</summary>
    public override IEnumerable<ControlCommand> ConfigurationLocked()
    {
        var types = _misc.TypesLocked;
        foreach (var kernelType in MiscController.KernelTypes.Where(k => types.All(t => t.Name != k)))
            yield return new MiscRemove(kernelType);
        foreach (var t in types)
            yield return new MiscCapacity(t.Name, t.Capacity, t.Follow);
    }

    public override IEnumerable<(string File, string Text)> LimitsLocked(ControllerState state) =>
        _misc.ConfigLocked((MiscState)state).Where(m => m.Max != ulong.MaxValue)
            .Select(m => ("misc.max", MiscRender.MaxLine(m.Type, m.Max))).ToArray();

    public override IEnumerable<(string File, string Text)> HoldingsLocked(ControllerState state) =>
        _misc.ConfigLocked((MiscState)state).Where(m => m.Held > 0)
            .Select(m => ("misc.current", MiscRender.CurrentDelta(m.Type, m.Held))).ToArray();

    private static readonly string[] MiscLabels = ["cgroup", "type"];
    private static readonly string[] MiscEventLabels = ["cgroup", "type", "event"];

    /// <summary>Per present type (capacity above 0): usage, limit (+Inf for max), peak, and the
    /// hierarchical max events.</summary>
    public override Func<IEnumerable<MetricSample>> CaptureMetricsLocked(Cgroup cgroup, ControllerState state)
    {
        var (path, rows) = (cgroup.ToString(), _misc.RowsLocked((MiscState)state));
        return () => Samples(path, rows);
    }

    private static IEnumerable<MetricSample> Samples(string path, MiscRow[] rows)
    {
        foreach (var r in rows.Where(r => r.Capacity > 0))
        {
            string[] labels = [path, r.Name];
            yield return new("cgfs_misc_usage", "Misc resources charged (misc.current).", MetricKind.Gauge, MiscLabels, labels, r.Current);
            yield return new("cgfs_misc_limit", "Misc limit (misc.max); +Inf for max.", MetricKind.Gauge, MiscLabels, labels, MetricSample.Limit(r.Max, ulong.MaxValue));
            yield return new("cgfs_misc_peak", "Highest usage seen (misc.peak).", MetricKind.Gauge, MiscLabels, labels, r.Peak);
            yield return new("cgfs_misc_events_total", "Charges refused at this level or below (misc.events).", MetricKind.Counter,
                MiscEventLabels, [.. labels, "max"], r.Events);
        }
    }

    public override IEnumerable<MetricSample> MountMetricsLocked() => _misc.TypesLocked.Where(t => t.Capacity > 0)
        .Select(t => new MetricSample("cgfs_misc_capacity", "Misc capacity of the host (misc.capacity).", MetricKind.Gauge, ["type"], [t.Name], t.Capacity))
        .ToArray();

    /// <summary>One line per type: capacity, what the root's misc.current shows, and whether it follows.</summary>
    public override IEnumerable<string> StatusLocked()
    {
        var rows = _misc.RowsLocked((MiscState)_misc.Hierarchy.StateLocked(_misc.Hierarchy.Root, _misc)!);
        return _misc.TypesLocked.Select(t =>
            $"misc {t.Name} capacity={t.Capacity} current={rows.First(m => m.Name == t.Name).Current}{(t.Follow ? " follow" : "")}").ToArray();
    }

    public override ControlReply? Execute(ControlCommand command, ControlRequest request)
    {
        var changes = request.Changes;
        switch (command)
        {
            case ChargeMisc(var name, var amount) when request.Charges is { } scope:
                return ControlReply.Charged(
                    scope.Charge(() => _misc.FindLocked(name) is { } t ? (_misc.ChargeAsProcessLocked(scope.Pid, t, amount, out var c), c) : (Errno.EINVAL, null)),
                    e => e == Errno.EINVAL ? $"misc type {name} is unknown or has capacity 0" : $"misc {name} over its max or capacity");
            case MiscCapacity(var name, var capacity, var follow):
                // The record states the follow mode the type ends up with, so replay needs no history.
                bool follows = follow ?? Run(() => _misc.FindLocked(name)?.Follow ?? false);
                return ControlReply.Of(changes.Commit(() => new ControlRecord(new MiscCapacity(name, capacity, follows)),
                    () => Run(() => { _misc.SetCapacityLocked(name, capacity, follows); return Errno.Ok; })));
            case MiscRemove(var name):
                return ControlReply.Of(changes.Commit(() => new ControlRecord(command),
                        () => Run(() => _misc.FindLocked(name) is { } t ? _misc.RemoveTypeLocked(t) : Errno.EINVAL)),
                    (Errno.EBUSY, $"misc type {name} is in use"), (Errno.EINVAL, $"no misc type {name}"));
            default:
                return null;
        }
    }

    private T Run<T>(Func<T> f) => _misc.Hierarchy.Run(f);
}
