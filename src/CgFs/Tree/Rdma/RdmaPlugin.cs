using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree.Rdma;

/// <summary>The rdma controller above the engine: its files (spec rdma.md 2; non-root cgroups
/// with rdma state), device requests of the control protocol, and its journal and status lines.</summary>
public sealed class RdmaPlugin : ControllerPlugin
{
    private readonly RdmaController _rdma = new();

    public RdmaPlugin()
    {
        Files =
        [
            new("rdma.max", InterfaceFile.ReadWrite, Placement.NotOnRoot, _rdma, Render: ReadMax, Write: WriteMax),
            new("rdma.current", InterfaceFile.ReadOnly, Placement.NotOnRoot, _rdma, Render: ReadCurrent, Write: WriteCurrentDelta),
            new("rdma.peak", InterfaceFile.ReadOnly, Placement.NotOnRoot, _rdma, Render: ReadPeak, Write: null, Since72: true),
            new("rdma.events", InterfaceFile.ReadOnly, Placement.NotOnRoot, _rdma, Render: ReadEvents, Write: null,
                Notifies: RdmaController.Events, Since72: true),
            new("rdma.events.local", InterfaceFile.ReadOnly, Placement.NotOnRoot, _rdma, Render: ReadEventsLocal, Write: null,
                Notifies: RdmaController.EventsLocal, Since72: true),
        ];
    }

    public override Controller Controller => _rdma;
    public override IReadOnlyList<InterfaceFile> Files { get; }

    private RdmaRow[] Rows(FileContext x) => x.Engine.Run(() => _rdma.RowsLocked((RdmaState)x.State!));

    private Rendered ReadMax(FileContext x) => RdmaRender.Max(Rows(x));
    private Rendered ReadCurrent(FileContext x) => RdmaRender.Current(Rows(x));
    private Rendered ReadPeak(FileContext x) => RdmaRender.Peak(Rows(x));
    private Rendered ReadEvents(FileContext x) => RdmaRender.Events(Rows(x));
    private Rendered ReadEventsLocal(FileContext x) => RdmaRender.EventsLocal(Rows(x));

    /// <summary>Vendor-defined resource names some registered device has: the keys the grammar
    /// accepts besides the kernel's (null: exactly the kernel's grammar). Recomputed when a device
    /// comes or goes, so a write parses without taking the engine lock for it.</summary>
    private volatile IReadOnlySet<string>? _extraKeys;

    private void DevicesChangedLocked() =>
        _extraKeys = _rdma.DevicesLocked.Any(d => d.ExtraResources.Count > 0) ? _rdma.DevicesLocked.SelectMany(d => d.ExtraResources).ToHashSet() : null;

    /// <summary>The kernel's two values, then the device's vendor-defined ones by name; null when a
    /// name is not one of this device's (EINVAL).</summary>
    private static T?[]? PerResource<T>(RdmaDevice d, T? handle, T? obj, IReadOnlyDictionary<string, T>? extra) where T : struct
    {
        var values = new T?[d.ResourceCount];
        (values[0], values[1]) = (handle, obj);
        foreach (var (name, v) in extra ?? new Dictionary<string, T>())
        {
            int i = IndexOf(d, name);
            if (i < 0)
                return null;
            values[i] = v;
        }
        return values;
    }

    /// <summary>A resource's index on a device, by name; -1 if the device has no such resource.</summary>
    private static int IndexOf(RdmaDevice d, string name)
    {
        var names = RdmaResources.Of(d.ExtraResources);
        for (int i = 0; i < names.Count; i++)
            if (names[i] == name)
                return i;
        return -1;
    }

    /// <summary>Parse everything first (EINVAL), then look the device up (ENODEV), then apply. A mount
    /// emulating a kernel before 7.2 uses that kernel's parser (spec rdma.md 4.3).</summary>
    private Errno WriteMax(FileContext x, string text)
    {
        var p = x.Services.Options.RdmaLegacy ? RdmaGrammar.MaxLegacy(text) : RdmaGrammar.Max(text, _extraKeys);
        if (!p.Ok)
            return p.Error;
        var cmd = p.Value;
        return x.Engine.Run(() =>
        {
            var device = _rdma.FindLocked(cmd.Device);
            if (device is null)
                return Errno.ENODEV;
            if (PerResource(device, cmd.HcaHandle, cmd.HcaObject, cmd.Extra) is not { } limits)
                return Errno.EINVAL;
            _rdma.SetMaxLocked((RdmaState)x.State!, device, limits);
            return Errno.Ok;
        });
    }

    /// <summary>The rdma.current shortcut (documented extension, root only by the file's mode):
    /// every resource named changes or none does.</summary>
    private Errno WriteCurrentDelta(FileContext x, string text)
    {
        var p = RdmaGrammar.CurrentDelta(text, _extraKeys);
        if (!p.Ok)
            return p.Error;
        var cmd = p.Value;
        var state = (RdmaState)x.State!;
        return x.Engine.Run(() =>
        {
            var device = _rdma.FindLocked(cmd.Device);
            if (device is null)
                return Errno.ENODEV;
            if (PerResource<long>(device, cmd.HcaHandle, cmd.HcaObject, cmd.Extra) is not { } deltas)
                return Errno.EINVAL;
            for (int r = 0; r < deltas.Length; r++)
            {
                var e = _rdma.ApplyShortcutLocked(state, device, (RdmaResource)r, deltas[r] ?? 0);
                if (e == Errno.Ok)
                    continue;
                for (int undo = r - 1; undo >= 0; undo--)
                    _rdma.ApplyShortcutLocked(state, device, (RdmaResource)undo, -(deltas[undo] ?? 0));
                return e;
            }
            return Errno.Ok;
        });
    }

    public override IEnumerable<ControlCommand> ConfigurationLocked() => _rdma.DevicesLocked
        .Select(d => new DeviceAdd(d.Name, d.ExtraResources.Count > 0 ? string.Join(',', d.ExtraResources) : null)).ToArray();

    public override IEnumerable<(string File, string Text)> LimitsLocked(ControllerState state) =>
        _rdma.ConfigLocked((RdmaState)state)
            .Where(r => r.Max.Any(m => m != int.MaxValue))
            .Select(r => ("rdma.max", RdmaRender.MaxLine(r.Device, r.Max, r.Extra)))
            .ToArray();

    public override IEnumerable<(string File, string Text)> HoldingsLocked(ControllerState state) =>
        _rdma.ConfigLocked((RdmaState)state)
            .Where(r => r.Held.Any(h => h > 0))
            .Select(r => ("rdma.current", RdmaRender.CurrentDelta(r.Device, r.Held, r.Extra)))
            .ToArray();

    private static readonly string[] RdmaLabels = ["cgroup", "device", "resource"];
    private static readonly string[] RdmaEventLabels = ["cgroup", "device", "resource", "event"];

    /// <summary>Per device and resource: usage, limit (+Inf for max), peak, and the hierarchical event counters.</summary>
    public override Func<IEnumerable<MetricSample>> CaptureMetricsLocked(Cgroup cgroup, ControllerState state)
    {
        var (path, rows) = (cgroup.ToString(), _rdma.RowsLocked((RdmaState)state));
        return () => Samples(path, rows);
    }

    private static IEnumerable<MetricSample> Samples(string path, RdmaRow[] rows)
    {
        foreach (var r in rows)
            for (int i = 0; i < r.Max.Length; i++)
            {
                string[] labels = [path, r.Device, RdmaResources.Of(r.Extra)[i]];
                yield return new("cgfs_rdma_usage", "RDMA objects charged (rdma.current).", MetricKind.Gauge, RdmaLabels, labels, r.Current[i]);
                yield return new("cgfs_rdma_limit", "RDMA limit (rdma.max); +Inf for max.", MetricKind.Gauge, RdmaLabels, labels,
                    MetricSample.Limit((ulong)r.Max[i], int.MaxValue));
                yield return new("cgfs_rdma_peak", "Highest usage seen (rdma.peak).", MetricKind.Gauge, RdmaLabels, labels, r.Peak[i]);
                yield return new("cgfs_rdma_events_total", "Charges refused here or below (rdma.events): the limit hit here (max) or the charge failed here (alloc_fail).",
                    MetricKind.Counter, RdmaEventLabels, [.. labels, "max"], r.EventsMax[i]);
                yield return new("cgfs_rdma_events_total", "", MetricKind.Counter, RdmaEventLabels, [.. labels, "alloc_fail"], r.EventsAllocFail[i]);
            }
    }

    public override IEnumerable<MetricSample> MountMetricsLocked() =>
        [new("cgfs_rdma_devices", "Registered RDMA devices.", MetricKind.Gauge, [], [], _rdma.DevicesLocked.Count)];

    /// <summary>One line per device: what the root's rdma.current would show.</summary>
    public override IEnumerable<string> StatusLocked() =>
        _rdma.RowsLocked((RdmaState)Controller.Hierarchy.StateLocked(Controller.Hierarchy.Root, _rdma)!)
            .Select(r => $"device {r.Device} " + string.Join(' ', RdmaResources.Of(r.Extra).Select((n, i) => $"{n}={r.Current[i]}")))
            .ToArray();

    public override ControlReply? Execute(ControlCommand command, ControlRequest request) => command switch
    {
        ChargeRdma(var device, var resource, var count) when request.Charges is { } scope => ControlReply.Charged(
            scope.Charge(() => _rdma.FindLocked(device) is not { } d ? (Errno.ENODEV, null)
                : IndexOf(d, resource) is var i and >= 0 ? (_rdma.ChargeAsProcessLocked(scope.Pid, d, (RdmaResource)i, count, out var c), c)
                : (Errno.EINVAL, null)),
            e => e switch
            {
                Errno.ENODEV => $"no device {device}",
                Errno.EINVAL => $"device {device} has no resource {resource}",
                _ => $"rdma {device} {resource} over a limit",
            }),
        DeviceAdd add when RdmaResources.Invalid(add.ExtraResources) is { } why => new ControlReply(Errno.EINVAL, $"device {add.Name}: {why}"),
        DeviceAdd(var name, _) add => ControlReply.Of(request.Changes.Commit(() => new ControlRecord(command), () => Run(() =>
        {
            if (request.Source == ControlSource.Client && _rdma.FindLocked(name) is not null)
                return Errno.EEXIST;
            _rdma.RegisterLocked(name, add.ExtraResources);
            DevicesChangedLocked();
            return Errno.Ok;
        })), (Errno.EEXIST, $"device {name} is already registered")),
        DeviceRemove(var name) => ControlReply.Of(request.Changes.Commit(() => new ControlRecord(command),
                () => Run(() =>
                {
                    var e = _rdma.FindLocked(name) is { } d ? _rdma.UnregisterLocked(d) : Errno.ENODEV;
                    DevicesChangedLocked();
                    return e;
                })),
            (Errno.EBUSY, $"device {name} has charges held; release them first"), (Errno.ENODEV, $"no device {name}")),
        DeviceRename(var old, var now) => ControlReply.Of(request.Changes.Commit(() => new ControlRecord(command),
                () => Run(() => _rdma.FindLocked(old) is { } d ? _rdma.RenameLocked(d, now) : Errno.ENODEV)),
            (Errno.EEXIST, $"device {now} is already registered"), (Errno.ENODEV, $"no device {old}")),
        DeviceList => new ControlReply(Errno.Ok, Lines: Run(() => _rdma.DevicesLocked.Select(d => d.Name).ToArray())),
        _ => null,
    };

    private T Run<T>(Func<T> f) => Controller.Hierarchy.Run(f);
}
