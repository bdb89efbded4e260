using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>
/// Everything a controller contributes above the engine, next to its engine
/// <see cref="Controller"/> (kernel: the cftypes and callbacks of a cgroup_subsys; gVisor:
/// controller.interfaceFiles()): its interface files, the records that restore its
/// configuration (journal snapshot), its lines in `cgfs ctl status`, and the control-protocol
/// requests it serves. Registered once, in <see cref="ControllerRegistry"/>.
/// </summary>
public abstract class ControllerPlugin
{
    /// <summary>The engine side: name, id, state factory, hooks.</summary>
    public abstract Controller Controller { get; }

    /// <summary>Its interface files, in the order a directory lists them.</summary>
    public abstract IReadOnlyList<InterfaceFile> Files { get; }

    /// <summary>Controller-wide configuration (devices, types) as control requests that recreate it.</summary>
    public virtual IEnumerable<ControlCommand> ConfigurationLocked() => [];

    /// <summary>One state's configuration as writes to its files, replayed before processes are placed.</summary>
    public virtual IEnumerable<(string File, string Text)> LimitsLocked(ControllerState state) => [];

    /// <summary>Charges held through a shortcut file, as writes replayed after processes are placed.</summary>
    public virtual IEnumerable<(string File, string Text)> HoldingsLocked(ControllerState state) => [];

    /// <summary>Lines of `cgfs ctl status`.</summary>
    public virtual IEnumerable<string> StatusLocked() => [];

    /// <summary>The metrics of one cgroup that has this controller's state (usage, limits, peaks,
    /// event counters): the values are copied under the engine lock, with every other controller's
    /// and cgroup's (one snapshot per scrape); the samples are made from the copy after the lock
    /// is released, so a scrape holds the lock only for the copying.</summary>
    public virtual Func<IEnumerable<MetricSample>>? CaptureMetricsLocked(Cgroup cgroup, ControllerState state) => null;

    /// <summary>Controller-wide samples (devices, capacities).</summary>
    public virtual IEnumerable<MetricSample> MountMetricsLocked() => [];

    /// <summary>Serves a control request that is this controller's: a device or type change (journaled
    /// first through the request's change log) or a charge as the client's process (held by the
    /// request's charge scope). Null when it is not this controller's.</summary>
    public virtual ControlReply? Execute(ControlCommand command, ControlRequest request) => null;
}

public static class ControllerPlugins
{
    /// <summary>Hands a controller's control request (device, type) to the controller that serves it,
    /// journaled through <paramref name="changes"/>; null if none does. The control socket, the
    /// journal's replay and the mount's configuration all come through here.</summary>
    public static ControlReply? Execute(this IEnumerable<ControllerPlugin> plugins, ControlCommand command, ControlRequest request)
    {
        foreach (var p in plugins)
            if (p.Execute(command, request) is { } reply)
                return reply;
        return null;
    }

    /// <summary>A configuration or journal request: no client, nothing recorded.</summary>
    public static ControlReply? Apply(this IEnumerable<ControllerPlugin> plugins, ControlCommand command, ControlSource source) =>
        plugins.Execute(command, new ControlRequest(source, NoChangeLog.Instance, null));
}

/// <summary>Where a control request comes from. A client's request is checked for mistakes (adding
/// a device that is already there is EEXIST); the mount's configuration and the journal state
/// facts (two devices may share a name, as in the kernel's exclusive netns mode, rdma.md 3).</summary>
public enum ControlSource { Client, Configuration, Journal }

/// <summary>One control request's context: where it comes from, where changes are recorded, and
/// (from a client) the charging context its charges are held in.</summary>
public sealed record ControlRequest(ControlSource Source, IChangeLog Changes, IChargeScope? Charges);

/// <summary>Where a client's charges are held (kernel: an open uverbs context): charges are made as
/// its process and released when it closes. Implemented by Control.ChargeContext.</summary>
public interface IChargeScope
{
    /// <summary>The process the charges are made as.</summary>
    int Pid { get; }

    /// <summary>Places the process first, then runs <paramref name="chargeLocked"/> under the engine
    /// lock and keeps the charge it made; returns the errno and the charge's id in this scope.</summary>
    (Errno Error, long Id) Charge(Func<(Errno, Charge?)> chargeLocked);
}

/// <summary>The outcome of a control request: an errno and, when refused, why; data lines before the
/// final line, and a value after "ok" (a charge's id).</summary>
public readonly record struct ControlReply(Errno Error, string Message = "", IReadOnlyList<string>? Lines = null, string? Value = null)
{
    /// <summary>A change's reply, naming the reason for the errnos it can be refused with; any other
    /// refusal came from the journal (the record could not be written).</summary>
    public static ControlReply Of(Errno e, params (Errno Errno, string Reason)[] reasons)
    {
        if (e == Errno.Ok)
            return new ControlReply(e);
        foreach (var (errno, reason) in reasons)
            if (e == errno)
                return new ControlReply(e, reason);
        return new ControlReply(e, $"the state journal cannot record it: {Errnos.Describe(e)}");
    }

    /// <summary>A charge's reply: its id, or the reason it was refused.</summary>
    public static ControlReply Charged((Errno Error, long Id) r, Func<Errno, string> why) =>
        r.Error == Errno.Ok ? new ControlReply(Errno.Ok, Value: r.Id.ToString()) : new ControlReply(r.Error, why(r.Error));
}
