using System.Collections.Concurrent;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Host;
using CgFs.Membership;
using CgFs.Parsing;
using CgFs.Tree.Core;

namespace CgFs.Tree;

/// <summary>
/// The cgroupfs view: directories are cgroups, files are the interface files their
/// controllers declare. Permission checks on open, mkdir, chmod… are the kernel's own
/// (mounted with default_permissions, using the modes and owners reported here); what the
/// kernel cannot check — migration's common-ancestor rule — is checked here with the opener's
/// credentials.
///
/// Locks (see the engine's lock order): <see cref="_nodes"/> guards the node table and is
/// taken before the engine lock; <see cref="_metaLock"/> guards attributes and xattrs and is a
/// leaf, because migration consults cgroup.procs modes while holding the engine lock.
/// </summary>
public sealed partial class CgroupFileSystem : IFuseFileSystem, IViewEffects
{
    private const uint S_IFDIR = 0x4000, S_IFREG = 0x8000;
    private const int O_ACCMODE = 3, O_RDONLY = 0;
    private const uint DefaultPollMask = 0x0001 | 0x0040 | 0x0004 | 0x0100; // POLLIN|POLLRDNORM|POLLOUT|POLLWRNORM
    private const uint PollPriErr = 0x0002 | 0x0008;                         // POLLPRI|POLLERR
    private const int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    private const int MaxWriteBytes = 4096;

    /// <summary>Inode numbers keep the file's index in their low 6 bits.</summary>
    private const int MaxFiles = 63;

    private readonly Dictionary<ulong, Node> _nodes = new();
    private readonly object _metaLock = new();
    private readonly ConcurrentDictionary<ulong, OpenFile> _open = new();
    private readonly ConcurrentDictionary<ulong, List<DirEntry>> _dirs = new();
    private readonly Action<string> _log;
    private ulong _nextNode = Fuse.Fuse.RootId + 1;
    private long _nextFh;

    /// <param name="plugins">The registered controllers' contributions, in the engine's controller order.</param>
    /// <param name="ownerUid">Who mounted: root's cgroup is root:root 0555 as in the kernel (root
    /// passes permission checks anyway); an unprivileged owner gets 0755 and owns the root's
    /// files, or it could not create a single cgroup in its own mount.</param>
    /// <param name="real">Overlay mode: the host's real cgroup2 tree this mount mirrors; null to emulate the whole tree.</param>
    public CgroupFileSystem(Hierarchy engine, IReadOnlyList<ControllerPlugin> plugins, IMembership membership, IChangeLog changes,
        ViewOptions options, Action<string> log, uint ownerUid = 0, uint ownerGid = 0, RealCgroups? real = null)
    {
        Engine = engine;
        _log = log;
        _changes = changes;
        _real = real;
        Files = [.. real is null ? CoreFiles.All : Overlay.OverlayFiles.All, .. plugins.SelectMany(p => p.Files)];
        if (Files.Length > MaxFiles)
            throw new ArgumentException($"at most {MaxFiles} interface files", nameof(plugins));
        FilesByName = Files.Select((f, i) => (f, i)).ToDictionary(x => x.f.Name, x => x, StringComparer.Ordinal);
        ProcsFile = FilesByName["cgroup.procs"].File;
        Services = new FileServices(engine, membership, changes, options, this, real);
        long now = NowNs();
        uint rootMode = ownerUid == 0 ? 0b101_101_101u : 0b111_101_101u;
        CgroupDir root;
        if (real is not null)
            root = real.Stat(real.Root, out var st) == Errno.Ok ? NewRealDir(engine.Root, "", st)
                : throw new OverlayUnavailableException($"{real.Root}: cannot stat");
        else
            engine.Root.ViewState = root = new CgroupDir(engine.Root, new Meta(rootMode, ownerUid, ownerGid, now))
            {
                CreatorUid = ownerUid, CreatorGid = ownerGid, CreatedNs = now,
            };
        root.Node = new DirNode(Fuse.Fuse.RootId, root) { Lookups = 1 };
        _nodes.Add(root.Node.Id, root.Node);
        engine.Changed += Waiters.Wake;
    }

    public Hierarchy Engine { get; }
    public PollWaiters Waiters { get; } = new();
    /// <summary>What handlers may use (they never see this filesystem).</summary>
    public FileServices Services { get; }
    /// <summary>Core files, then each controller's, in registry order.</summary>
    public InterfaceFile[] Files { get; }
    private readonly Dictionary<string, (InterfaceFile File, int Index)> FilesByName;
    private readonly InterfaceFile ProcsFile;
    /// <summary>Where acknowledged changes are recorded for a restart (--state), if anywhere.</summary>
    private readonly IChangeLog _changes;

    /// <summary>Emulate the rdma interface of kernels 4.11–7.1 (--rdma-legacy): no 7.2 files.</summary>
    private bool Legacy => Services.Options.RdmaLegacy;

    private sealed class OpenFile(FileNode node, ControllerState? state, Credentials opener, int flags)
    {
        public readonly FileNode Node = node;
        public readonly ControllerState? State = state;
        public readonly Credentials Opener = opener;
        public readonly int Flags = flags;
        public byte[]? Snapshot;
        public ulong SeenGeneration;
        /// <summary>The kernel's poll handle, once this file was polled (forgotten on release).</summary>
        public ulong? PollHandle;
    }

    [System.Diagnostics.Conditional("DEBUG")]
    private void AssertNodesLocked() => System.Diagnostics.Debug.Assert(Monitor.IsEntered(_nodes), "node table lock not held");

    private static CgroupDir Dir(Cgroup c) => (CgroupDir)c.ViewState!;

    /// <summary>Stable inode numbers: the cgroup's id with the file's index in the low bits (0 = the directory).</summary>
    private static ulong Ino(Cgroup c, int fileIndex = -1) => ((ulong)c.Id << 6) | (uint)(fileIndex + 1);

    private static long NowNs() => DateTime.UtcNow.Ticks * 100 - DateTime.UnixEpoch.Ticks * 100;

    /// <summary>Whether the file exists in this cgroup now (placement, controller state, PSI visibility). Needs the engine lock.</summary>
    private bool PresentLocked(InterfaceFile f, CgroupDir d)
    {
        Engine.AssertLocked();
        var c = d.Cgroup;
        if (c.Removed)
            return false;
        if (f.Placement == Placement.RootOnly && !c.IsRoot || f.Placement == Placement.NotOnRoot && c.IsRoot)
            return false;
        if (f.IsPressure && !d.PressureVisible || f.Since72 && Legacy)
            return false;
        return f.Controller is null || Engine.StateLocked(c, f.Controller) is not null;
    }

    // ---- name space -------------------------------------------------------------------------

    /// <summary>The cgroup directory behind a node id; needs the node lock.</summary>
    private Errno DirLocked(ulong id, out CgroupDir dir)
    {
        AssertNodesLocked();
        dir = null!;
        if (!_nodes.TryGetValue(id, out var n))
            return Errno.ENOENT;
        if (n is not DirNode dn)
            return Errno.ENOTDIR;
        dir = dn.Dir;
        return Errno.Ok;
    }

    public int Lookup(in Caller c, ulong parent, string name, out Entry entry)
    {
        entry = default;
        List<(Cgroup, ulong?)>? dropped = null;
        try
        {
            lock (_nodes)
            {
                if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                    return (int)err;
                Node? node;
                FuseAttr? attr = null;
                if (_real is not null)
                {
                    if (LookupOverlayLocked(dir, name, out node, out attr, out dropped) is var e && e != Errno.Ok)
                        return (int)e;
                }
                else
                {
                    var (child, file) = Engine.Run(() =>
                    {
                        if (dir.Cgroup.Removed)
                            return ((Cgroup?)null, (InterfaceFile?)null);
                        var ch = Engine.ChildLocked(dir.Cgroup, name);
                        if (ch is not null)
                            return (ch, null);
                        return (null, FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? f.File : null);
                    });
                    node = child is not null ? DirNodeLocked(child) : file is not null ? FileNodeLocked(dir, file) : null;
                    if (node is null)
                        return (int)Errno.ENOENT;
                }
                node!.Lookups++;
                entry = new Entry(node.Id, attr ?? AttrOf(node));
                return 0;
            }
        }
        finally
        {
            if (dropped is not null)
                Forgotten(dropped);
        }
    }

    private DirNode DirNodeLocked(Cgroup child)
    {
        AssertNodesLocked();
        var cd = Dir(child);
        return cd.Node ??= (DirNode)AddNode(new DirNode(_nextNode++, cd));
    }

    private FileNode FileNodeLocked(CgroupDir dir, InterfaceFile file)
    {
        AssertNodesLocked();
        if (!dir.FileNodes.TryGetValue(file.Name, out var fn))
            dir.FileNodes[file.Name] = fn = (FileNode)AddNode(new FileNode(_nextNode++, dir, file));
        return fn;
    }

    private Node AddNode(Node n)
    {
        _nodes.Add(n.Id, n);
        return n;
    }

    public void Forget(ulong node, ulong nlookup)
    {
        lock (_nodes)
        {
            if (node == Fuse.Fuse.RootId || !_nodes.TryGetValue(node, out var n))
                return;
            n.Lookups = n.Lookups > nlookup ? n.Lookups - nlookup : 0;
            if (n.Lookups > 0)
                return;
            _nodes.Remove(node);
            if (n is FileNode fn)
                fn.Dir.FileNodes.Remove(fn.File.Name);
            else if (n is RealFileNode rn)
                rn.Dir.RealNodes.Remove(rn.Name);
            else
                n.Dir.Node = null;
        }
    }

    public int MkDir(in Caller c, ulong parent, string name, uint mode, out Entry entry)
    {
        entry = default;
        var (uid, gid) = (c.Uid, c.Gid);
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            if (_real is not null)
                return (int)MkDirOverlayLocked(c, dir, name, mode, out entry);
            Entry made = default;
            var e = _changes.Commit(
                () => new MkdirRecord(Engine.Run(() => Engine.NextIdLocked), dir.Cgroup.Id, mode & 0xFFF, uid, gid, name),
                () => MkdirLocked(dir, name, mode, uid, gid, out made));
            entry = made;
            return (int)e;
        }
    }

    /// <summary>mkdir in the engine, then the new directory's view state; needs the node lock (which
    /// also keeps the id the journal recorded for it the next one).</summary>
    private Errno MkdirLocked(CgroupDir dir, string name, uint mode, uint uid, uint gid, out Entry entry)
    {
        AssertNodesLocked();
        entry = default;
        Cgroup? child = null;
        var e = Engine.Run(() =>
            FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? Errno.EEXIST
            : Engine.MkdirLocked(dir.Cgroup, name, out child));
        if (e != Errno.Ok)
            return e;
        long now = NowNs();
        var cd = new CgroupDir(child!, new Meta(mode & 0xFFF, uid, gid, now))
        {
            CreatorUid = uid, CreatorGid = gid, CreatedNs = now,
        };
        child!.ViewState = cd;
        cd.Node = (DirNode)AddNode(new DirNode(_nextNode++, cd));
        cd.Node.Lookups = 1;
        lock (_metaLock)
            dir.Meta.MtimeNs = dir.Meta.CtimeNs = now;
        entry = new Entry(cd.Node.Id, AttrOf(cd.Node));
        return Errno.Ok;
    }

    public int RmDir(in Caller c, ulong parent, string name)
    {
        if (_real is not null)
            return (int)RmDirOverlay(parent, name);
        // Processes that exited must be gone before "populated" is checked; procfs is read with no lock held.
        if (ChildOf(parent, name) is { } scope)
            Services.Membership.Refresh(scope);
        Cgroup? removed = null;
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            var target = Engine.Run(() => Engine.ChildLocked(dir.Cgroup, name));
            Errno Remove() => Engine.Run(() =>
            {
                var child = Engine.ChildLocked(dir.Cgroup, name);
                if (child is null)
                    return FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? Errno.ENOTDIR : Errno.ENOENT;
                var r = Engine.RmdirLocked(child);
                if (r == Errno.Ok)
                    removed = child;
                return r;
            });
            // Only an existing child is worth a record; the node lock keeps it the one removed.
            var e = target is null ? Remove() : _changes.Commit(() => new RmdirRecord(target.Id), Remove);
            if (e != Errno.Ok)
                return (int)e;
        }
        Waiters.WakeAll(removed!, Engine.Notifiers);
        // Cached entries of its files would pin their nodes (and so the cgroup) until the kernel
        // reclaims dentries; unhashed, they go — and FORGET comes — when the last descriptor closes.
        // Not awaited: the kernel holds the directory's lock until this rmdir is answered.
        InvalidateCached([removed!], _ => true, TimeSpan.Zero);
        return 0;
    }

    /// <summary>The child cgroup <paramref name="name"/> of directory node <paramref name="parent"/>, if any.</summary>
    private Cgroup? ChildOf(ulong parent, string name)
    {
        lock (_nodes)
            return DirLocked(parent, out var dir) == Errno.Ok ? Engine.Run(() => Engine.ChildLocked(dir.Cgroup, name)) : null;
    }

    public int CreateNode(in Caller c, ulong parent, string name, Opcode op) =>
        op is Opcode.Create ? (int)Errno.EACCES : (int)Errno.EPERM;

    public int Unlink(in Caller c, ulong parent, string name)
    {
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            if (_real is not null && !(FilesByName.TryGetValue(name, out var own) && own.File.Controller is not null))
                return Interop.Sys.Unlink(RealPathOf(dir, name)) == 0 ? 0 : System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            return (int)Engine.Run(() =>
                Engine.ChildLocked(dir.Cgroup, name) is not null ? Errno.EISDIR
                : FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? Errno.EPERM
                : Errno.ENOENT);
        }
    }

    /// <summary>Renames are not supported on cgroup2.</summary>
    public int Rename(in Caller c, ulong parent, string name, ulong newParent, string newName) => (int)Errno.EPERM;
}
