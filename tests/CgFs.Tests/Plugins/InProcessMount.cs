using CgFs.Fuse;
using CgFs.Tests.Integration;
using CgFs.Tree;

namespace CgFs.Tests.Plugins;

/// <summary>
/// A cgfs mounted by the test process itself, built with <see cref="CgfsStack"/> from plugins
/// the test chooses, optionally with a --state journal; driven with real tools like
/// <see cref="Mount"/>. Needs root (mount(2) on /dev/fuse).
/// </summary>
public sealed class InProcessMount : Integration.Tree
{
    private readonly string _dir;
    private readonly Mounter.Mounted _mounted;
    private readonly Thread _serving;
    private readonly CgFs.State.StateJournal? _journal;
    private bool _disposed;

    public InProcessMount(IReadOnlyList<ControllerPlugin> plugins, string? state = null)
    {
        _dir = Directory.CreateTempSubdirectory("cgfs-inproc-").FullName;
        MountPoint = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(MountPoint);
        Stack = CgfsStack.Create(plugins, log: m => TestContext.Progress.WriteLine($"cgfs: {m}"));
        if (state is not null)
            _journal = Stack.OpenJournal(state);
        _mounted = Mounter.Mount(MountPoint, []);
        var session = new Session(_mounted.Fd, Stack.Fs, _ => { }, TransportMode.IoUring);
        Stack.Fs.Waiters.Kernel = session;
        _serving = new Thread(() => session.Run(2)) { IsBackground = true, Name = "in-process-mount" };
        _serving.Start();
    }

    public CgfsStack Stack { get; }
    public string MountPoint { get; }
    public override string Base => MountPoint;

    /// <summary>Unmounts, waits (bounded) for the readers to stop, compacts the journal, removes the directory.</summary>
    public override void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Mounter.Unmount(MountPoint);
        _serving.Join(TimeSpan.FromSeconds(10));
        Interop.Sys.Close(_mounted.Fd);
        _journal?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
