using CgFs.Accounting;
using CgFs.Membership;
using CgFs.Tree;

namespace CgFs;

/// <summary>
/// The composition root: one mount's engine, controllers, membership, view and change log, wired
/// in one place so the daemon and in-process tests build exactly the same thing. Data flows one
/// way: the protocol calls the view, the view parses with Parsing's grammars and calls the engine
/// (membership and journal are services the view is given, not things it reaches for).
/// </summary>
public sealed class CgfsStack
{
    private readonly Action<string> _log;

    private CgfsStack(IReadOnlyList<ControllerPlugin> plugins, ViewOptions options, Action<string> log, uint ownerUid, uint ownerGid, Host.RealCgroups? real)
    {
        _log = log;
        Plugins = plugins;
        Engine = new Hierarchy(plugins.Select(p => p.Controller));
        // The view resolves real paths for the overlay's membership; the two are made together.
        CgroupFileSystem? fs = null;
        Membership = real is null ? new RecordedMembership(Engine, Changes, log)
            : new OverlayMembership(Engine, real, path => fs!.Resolve(path));
        Fs = fs = new CgroupFileSystem(Engine, plugins, Membership, Changes, options, log, ownerUid, ownerGid, real);
        fs.MirrorRealTree();
    }

    /// <param name="plugins">The controllers (default: <see cref="ControllerRegistry.Default"/>).</param>
    /// <param name="real">Overlay mode: the host's cgroup2 tree to mirror; null to emulate the whole tree.</param>
    public static CgfsStack Create(IReadOnlyList<ControllerPlugin>? plugins = null, ViewOptions? options = null,
        Action<string>? log = null, uint ownerUid = 0, uint ownerGid = 0, Host.RealCgroups? real = null) =>
        new(plugins ?? ControllerRegistry.Default(), options ?? ViewOptions.Default, log ?? (_ => { }), ownerUid, ownerGid, real);

    public IReadOnlyList<ControllerPlugin> Plugins { get; }
    public Hierarchy Engine { get; }
    /// <summary>Where changes are recorded: nowhere until <see cref="OpenJournal"/>.</summary>
    public ChangeLogSlot Changes { get; } = new();
    public IMembership Membership { get; }
    /// <summary>cgfs's own membership table (emulated mode); null in overlay mode, where it is the kernel's.</summary>
    public RecordedMembership? Recorded => Membership as RecordedMembership;
    public CgroupFileSystem Fs { get; }

    /// <summary>Control requests as served to the socket, journaled like the view's changes.</summary>
    public Control.ControlRequests ControlRequests(uint ownerUid, string mountPoint) => new(Engine, Plugins, Changes, ownerUid, mountPoint);

    /// <summary>Replays the journal at <paramref name="path"/>, then records every change there.</summary>
    public State.StateJournal OpenJournal(string path)
    {
        var journal = State.StateJournal.Open(path, Engine, Plugins, Fs, Membership, _log);
        Changes.Target = journal;
        return journal;
    }
}
