using System.Text;
using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Tree;

namespace CgFs.Control;

/// <summary>
/// What the control protocol's requests do, apart from the socket that carries them: the
/// permission decision (devices, capacities and `memory` are for root or the mount's owner),
/// requests handed to the controller they belong to (charges held by the caller's
/// <see cref="ChargeContext"/>), and the reply lines.
/// </summary>
public sealed class ControlRequests(Hierarchy engine, IReadOnlyList<ControllerPlugin> plugins, IChangeLog changes, uint ownerUid, string mountPoint)
{
    /// <summary>Connections open now, for `memory` (set by the server).</summary>
    public Func<int> Connections { get; set; } = () => 0;

    /// <summary>Which FUSE transport serves, for `status` (set once the session exists).</summary>
    public Func<IEnumerable<string>> Transport { get; set; } = () => [];

    /// <summary>The Prometheus exposition, for `metrics` (set by the mount).</summary>
    public Func<string> Metrics { get; set; } = () => "";

    /// <summary>Overlay mode: the real cgroup2 directory the mount mirrors, for `status`; null when emulating.</summary>
    public string? Overlay { get; set; }

    /// <summary>`cgfs exec` trees supervised now, for `memory` (set by the server).</summary>
    public Func<int> Supervised { get; set; } = () => 0;

    /// <summary>Requests that change the mount's configuration or cost a full GC.</summary>
    public static bool NeedsAdmin(ControlCommand cmd) => cmd is DeviceAdd or DeviceRemove or DeviceRename or MiscCapacity or MiscRemove or Memory;

    /// <summary>Root and the mount's owner are administrators.</summary>
    public bool IsAdmin(uint uid) => uid == 0 || uid == ownerUid;

    /// <summary>Serves one request line from <paramref name="peerUid"/>; the reply (data lines, then
    /// "ok [VALUE]" or "error ERRNO MESSAGE") is appended to <paramref name="o"/>.</summary>
    public void Execute(string line, uint peerUid, ChargeContext context, StringBuilder o)
    {
        var parsed = ControlGrammar.Line(line);
        if (!parsed.Ok)
        {
            Error(o, Errno.EINVAL, $"cannot parse \"{line}\" (protocol {ControlGrammar.Version})");
            return;
        }
        var cmd = parsed.Value;
        if (NeedsAdmin(cmd) && !IsAdmin(peerUid))
        {
            Error(o, Errno.EPERM, cmd is Memory ? "only root or the mount's owner may force a full GC"
                : "only root or the mount's owner may change devices and capacities");
            return;
        }
        switch (cmd)
        {
            case Status:
                StatusLines(o);
                Ok(o);
                break;
            case Memory:
                MemoryLines(o);
                Ok(o);
                break;
            case MetricsText:
                o.Append(Metrics());
                Ok(o);
                break;
            case Uncharge(var id):
                Done(o, new ControlReply(context.Uncharge(id), $"no charge {id} in this context"));
                break;
            default:
                Done(o, plugins.Execute(cmd, new ControlRequest(ControlSource.Client, changes, context))
                    ?? new ControlReply(Errno.EINVAL, $"no controller serves \"{line}\""));
                break;
        }
    }

    private void StatusLines(StringBuilder o)
    {
        o.Append("version ").Append(ControlGrammar.Version).Append('\n');
        o.Append("mount ").Append(mountPoint).Append('\n');
        if (Overlay is not null)
            o.Append("overlay ").Append(Overlay).Append('\n');
        foreach (var line in Transport())
            o.Append(line).Append('\n');
        foreach (var line in engine.Run(() => plugins.SelectMany(p => p.StatusLocked()).ToArray()))
            o.Append(line).Append('\n');
    }

    /// <summary>What a soak test watches: the managed heap after a full, compacting, blocking GC
    /// (what is really alive), the resident set, the open control connections and the `cgfs exec`
    /// trees supervised.</summary>
    private void MemoryLines(StringBuilder o)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        o.Append("heap ").Append(GC.GetTotalMemory(forceFullCollection: false)).Append('\n');
        o.Append("rss ").Append(Environment.WorkingSet).Append('\n');
        o.Append("connections ").Append(Connections()).Append('\n');
        o.Append("supervised ").Append(Supervised()).Append('\n');
    }

    private static void Ok(StringBuilder o) => o.Append("ok\n");

    private static void Done(StringBuilder o, ControlReply r)
    {
        foreach (var line in r.Lines ?? [])
            o.Append(line).Append('\n');
        if (r.Error != Errno.Ok)
            Error(o, r.Error, r.Message);
        else if (r.Value is { } value)
            o.Append("ok ").Append(value).Append('\n');
        else
            Ok(o);
    }

    public static void Error(StringBuilder o, Errno e, string message) => o.Append($"error {e} {message}\n");
}
