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

    /// <summary>Serves a control request that is this controller's (a device or type change),
    /// journaling it first through <paramref name="changes"/>; null when it is not this controller's.</summary>
    public virtual ControlReply? Execute(ControlCommand command, ControlSource source, IChangeLog changes) => null;
}

public static class ControllerPlugins
{
    /// <summary>Hands a controller's control request (device, type) to the controller that serves it,
    /// journaled through <paramref name="changes"/>; null if none does. The control socket, the
    /// journal's replay and the mount's configuration all come through here.</summary>
    public static ControlReply? Execute(this IEnumerable<ControllerPlugin> plugins, ControlCommand command, ControlSource source, IChangeLog changes)
    {
        foreach (var p in plugins)
            if (p.Execute(command, source, changes) is { } reply)
                return reply;
        return null;
    }
}

/// <summary>Where a control request comes from. A client's request is checked for mistakes (adding
/// a device that is already there is EEXIST); the mount's configuration and the journal state
/// facts (two devices may share a name, as in the kernel's exclusive netns mode, rdma.md 3).</summary>
public enum ControlSource { Client, Configuration, Journal }

/// <summary>The outcome of a control request: an errno and, when refused, why.</summary>
public readonly record struct ControlReply(Errno Error, string Message = "", IReadOnlyList<string>? Lines = null);
