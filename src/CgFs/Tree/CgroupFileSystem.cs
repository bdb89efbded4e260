using System.Collections.Concurrent;
using System.Text;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Host;

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
public sealed class CgroupFileSystem : IFuseFileSystem
{
    private const uint S_IFDIR = 0x4000, S_IFREG = 0x8000;
    private const int O_ACCMODE = 3, O_RDONLY = 0;
    private const uint DefaultPollMask = 0x0001 | 0x0040 | 0x0004 | 0x0100; // POLLIN|POLLRDNORM|POLLOUT|POLLWRNORM
    private const uint PollPriErr = 0x0002 | 0x0008;                         // POLLPRI|POLLERR
    private const int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    private const int MaxWriteBytes = 4096;

    public static readonly InterfaceFile[] Files = [.. CoreFiles.All, .. RdmaFiles.All, .. MiscFiles.All];
    private static readonly Dictionary<string, (InterfaceFile File, int Index)> FilesByName =
        Files.Select((f, i) => (f, i)).ToDictionary(x => x.f.Name, x => x, StringComparer.Ordinal);
    private static readonly InterfaceFile ProcsFile = FilesByName["cgroup.procs"].File;

    private readonly Dictionary<ulong, Node> _nodes = new();
    private readonly object _metaLock = new();
    private readonly ConcurrentDictionary<ulong, OpenFile> _open = new();
    private readonly ConcurrentDictionary<ulong, DirEntry[]> _dirs = new();
    private readonly Action<string> _log;
    private ulong _nextNode = Fuse.Fuse.RootId + 1;
    private long _nextFh;

    /// <param name="ownerUid">Who mounted: root's cgroup is root:root 0555 as in the kernel (root
    /// passes permission checks anyway); an unprivileged owner gets 0755 and owns the root's
    /// files, or it could not create a single cgroup in its own mount.</param>
    public CgroupFileSystem(Hierarchy engine, Processes processes, Action<string> log, uint ownerUid = 0, uint ownerGid = 0)
    {
        Engine = engine;
        Processes = processes;
        _log = log;
        long now = NowNs();
        uint rootMode = ownerUid == 0 ? 0b101_101_101u : 0b111_101_101u;
        var root = new CgroupDir(engine.Root, new Meta(rootMode, ownerUid, ownerGid, now))
        {
            CreatorUid = ownerUid, CreatorGid = ownerGid, CreatedNs = now,
        };
        engine.Root.ViewState = root;
        root.Node = new DirNode(Fuse.Fuse.RootId, root) { Lookups = 1 };
        _nodes.Add(root.Node.Id, root.Node);
        engine.Changed += Waiters.Wake;
    }

    public Hierarchy Engine { get; }
    public Processes Processes { get; }
    public PollWaiters Waiters { get; } = new();
    /// <summary>Where acknowledged changes are recorded for a restart (--state), if anywhere.</summary>
    public State.StateJournal? Journal { get; set; }

    private sealed class OpenFile(FileNode node, ControllerState? state, Credentials opener, int flags)
    {
        public readonly FileNode Node = node;
        public readonly ControllerState? State = state;
        public readonly Credentials Opener = opener;
        public readonly int Flags = flags;
        public byte[]? Snapshot;
        public ulong SeenGeneration;
    }

    private static CgroupDir Dir(Cgroup c) => (CgroupDir)c.ViewState!;

    /// <summary>Stable inode numbers: the cgroup's id with the file's index in the low bits (0 = the directory).</summary>
    private static ulong Ino(Cgroup c, int fileIndex = -1) => ((ulong)c.Id << 6) | (uint)(fileIndex + 1);

    private static long NowNs() => DateTime.UtcNow.Ticks * 100 - DateTime.UnixEpoch.Ticks * 100;

    /// <summary>Whether the file exists in this cgroup now (placement, controller state, PSI visibility). Needs the engine lock.</summary>
    private bool PresentLocked(InterfaceFile f, CgroupDir d)
    {
        var c = d.Cgroup;
        if (c.Removed)
            return false;
        if (f.Placement == Placement.RootOnly && !c.IsRoot || f.Placement == Placement.NotOnRoot && c.IsRoot)
            return false;
        if (f.IsPressure && !d.PressureVisible)
            return false;
        return f.Controller == Controllers.None || Engine.StateLocked(c, f.Controller) is not null;
    }

    // ---- name space -------------------------------------------------------------------------

    /// <summary>The cgroup directory behind a node id; needs the node lock.</summary>
    private Errno DirLocked(ulong id, out CgroupDir dir)
    {
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
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            var (child, file) = Engine.Run(() =>
            {
                if (dir.Cgroup.Removed)
                    return ((Cgroup?)null, (InterfaceFile?)null);
                var ch = Engine.ChildLocked(dir.Cgroup, name);
                if (ch is not null)
                    return (ch, null);
                return (null, FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? f.File : null);
            });
            Node node;
            if (child is not null)
            {
                var cd = Dir(child);
                node = cd.Node ??= (DirNode)AddNode(new DirNode(_nextNode++, cd));
            }
            else if (file is not null)
            {
                if (!dir.FileNodes.TryGetValue(name, out var fn))
                    dir.FileNodes[name] = fn = (FileNode)AddNode(new FileNode(_nextNode++, dir, file));
                node = fn;
            }
            else
                return (int)Errno.ENOENT;
            node.Lookups++;
            entry = new Entry(node.Id, AttrOf(node));
            return 0;
        }
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
            else
                n.Dir.Node = null;
        }
    }

    public int MkDir(in Caller c, ulong parent, string name, uint mode, out Entry entry)
    {
        entry = default;
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            Cgroup? child = null;
            var e = Engine.Run(() =>
                FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? Errno.EEXIST
                : Engine.MkdirLocked(dir.Cgroup, name, out child));
            if (e != Errno.Ok)
                return (int)e;
            long now = NowNs();
            var cd = new CgroupDir(child!, new Meta(mode & 0xFFF, c.Uid, c.Gid, now))
            {
                CreatorUid = c.Uid, CreatorGid = c.Gid, CreatedNs = now,
            };
            child!.ViewState = cd;
            cd.Node = (DirNode)AddNode(new DirNode(_nextNode++, cd));
            cd.Node.Lookups = 1;
            lock (_metaLock)
                dir.Meta.MtimeNs = dir.Meta.CtimeNs = now;
            entry = new Entry(cd.Node.Id, AttrOf(cd.Node));
            Journal?.Mkdir(child, mode & 0xFFF, c.Uid, c.Gid);
            return 0;
        }
    }

    public int RmDir(in Caller c, ulong parent, string name)
    {
        Cgroup? removed = null;
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            if (Engine.Run(() => Engine.ChildLocked(dir.Cgroup, name)) is { } target)
                Processes.Refresh(target);
            var e = Engine.Run(() =>
            {
                var child = Engine.ChildLocked(dir.Cgroup, name);
                if (child is null)
                    return FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? Errno.ENOTDIR : Errno.ENOENT;
                var r = Engine.RmdirLocked(child);
                if (r == Errno.Ok)
                    removed = child;
                return r;
            });
            if (e != Errno.Ok)
                return (int)e;
        }
        Waiters.WakeAll(removed!);
        Journal?.Rmdir(removed!);
        return 0;
    }

    public int CreateNode(in Caller c, ulong parent, string name, Opcode op) =>
        op is Opcode.Create ? (int)Errno.EACCES : (int)Errno.EPERM;

    public int Unlink(in Caller c, ulong parent, string name)
    {
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return (int)err;
            return (int)Engine.Run(() =>
                Engine.ChildLocked(dir.Cgroup, name) is not null ? Errno.EISDIR
                : FilesByName.TryGetValue(name, out var f) && PresentLocked(f.File, dir) ? Errno.EPERM
                : Errno.ENOENT);
        }
    }

    /// <summary>Renames are not supported on cgroup2.</summary>
    public int Rename(in Caller c, ulong parent, string name, ulong newParent, string newName) => (int)Errno.EPERM;

    // ---- attributes -------------------------------------------------------------------------

    private FuseAttr AttrOf(Node n)
    {
        var d = n.Dir;
        if (n is FileNode fn)
        {
            Meta m;
            lock (_metaLock)
                m = d.FileMeta(fn.File);
            return MakeAttr(Ino(d.Cgroup, FilesByName[fn.File.Name].Index), S_IFREG | m.Mode, 1, m);
        }
        int children = Engine.Run(() => d.Cgroup.Removed ? 0 : Engine.ChildCountLocked(d.Cgroup));
        lock (_metaLock)
            return MakeAttr(Ino(d.Cgroup), S_IFDIR | d.Meta.Mode, (uint)(2 + children), d.Meta);
    }

    private static FuseAttr MakeAttr(ulong ino, uint mode, uint nlink, Meta m) => new()
    {
        Ino = ino, Mode = mode, Nlink = nlink, Uid = m.Uid, Gid = m.Gid, BlkSize = 4096,
        Atime = (ulong)(m.AtimeNs / 1_000_000_000), AtimeNsec = (uint)(m.AtimeNs % 1_000_000_000),
        Mtime = (ulong)(m.MtimeNs / 1_000_000_000), MtimeNsec = (uint)(m.MtimeNs % 1_000_000_000),
        Ctime = (ulong)(m.CtimeNs / 1_000_000_000), CtimeNsec = (uint)(m.CtimeNs % 1_000_000_000),
    };

    public int GetAttr(in Caller c, ulong node, out FuseAttr attr)
    {
        attr = default;
        lock (_nodes)
        {
            if (!_nodes.TryGetValue(node, out var n))
                return (int)Errno.ENOENT;
            attr = AttrOf(n);
            return 0;
        }
    }

    /// <summary>chmod, chown, utimes work (that is how delegation is done); truncate succeeds and changes nothing.</summary>
    public int SetAttr(in Caller c, ulong node, in SetAttrIn s, out FuseAttr attr)
    {
        attr = default;
        lock (_nodes)
        {
            if (!_nodes.TryGetValue(node, out var n))
                return (int)Errno.ENOENT;
            long now = NowNs();
            lock (_metaLock)
            {
                var m = n is FileNode fn ? fn.Dir.MutableFileMeta(fn.File) : n.Dir.Meta;
                if ((s.Valid & Fuse.Fuse.FattrMode) != 0)
                    m.Mode = s.Mode & 0xFFF;
                if ((s.Valid & Fuse.Fuse.FattrUid) != 0)
                    m.Uid = s.Uid;
                if ((s.Valid & Fuse.Fuse.FattrGid) != 0)
                    m.Gid = s.Gid;
                if ((s.Valid & Fuse.Fuse.FattrAtimeNow) != 0)
                    m.AtimeNs = now;
                else if ((s.Valid & Fuse.Fuse.FattrAtime) != 0)
                    m.AtimeNs = (long)s.Atime * 1_000_000_000 + s.AtimeNsec;
                if ((s.Valid & Fuse.Fuse.FattrMtimeNow) != 0)
                    m.MtimeNs = now;
                else if ((s.Valid & Fuse.Fuse.FattrMtime) != 0)
                    m.MtimeNs = (long)s.Mtime * 1_000_000_000 + s.MtimeNsec;
                m.CtimeNs = now;
                if ((s.Valid & (Fuse.Fuse.FattrMode | Fuse.Fuse.FattrUid | Fuse.Fuse.FattrGid)) != 0)
                    Journal?.Meta(n.Dir.Cgroup, n is FileNode f ? f.File.Name : ".", m.Mode, m.Uid, m.Gid);
            }
            attr = AttrOf(n);
            return 0;
        }
    }

    /// <summary>Files created when a controller is enabled belong to the writer of the parent's
    /// cgroup.subtree_control (spec core.md 1.2); disabled controllers' files are gone, and so
    /// must be the kernel's cached entries for them.</summary>
    public void ControllerFilesChanged(IEnumerable<Cgroup> children, Controllers enabled, Controllers disabled, uint uid, uint gid)
    {
        long now = NowNs();
        children = children.ToArray();
        if (disabled != Controllers.None)
            InvalidateCached(children, f => (disabled & f.Controller) != 0);
        lock (_metaLock)
        {
            foreach (var child in children)
            {
                if (child.ViewState is not CgroupDir d)
                    continue;
                foreach (var f in Files)
                {
                    if ((disabled & f.Controller) != 0)
                        d.FileMetas?.Remove(f.Name);
                    else if ((enabled & f.Controller) != 0)
                    {
                        d.FileMetas ??= new Dictionary<string, Meta>(StringComparer.Ordinal);
                        d.FileMetas[f.Name] = new Meta(f.Mode, uid, gid, now);
                    }
                }
            }
        }
    }

    /// <summary>Asks the kernel to forget cached entries of files that just disappeared. Only names
    /// we handed out a node for can be cached.</summary>
    public void InvalidateCached(IEnumerable<Cgroup> cgroups, Func<InterfaceFile, bool> gone)
    {
        var names = new List<(ulong, string)>();
        lock (_nodes)
        {
            foreach (var c in cgroups)
                if (c.ViewState is CgroupDir { Node: { } dn } d)
                    foreach (var fn in d.FileNodes.Values)
                        if (gone(fn.File))
                            names.Add((dn.Id, fn.File.Name));
        }
        Waiters.Notifier?.InvalidateEntries(names, TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Migration permission (spec core.md 5.1): write access to cgroup.procs of the common
    /// ancestor for the opener's credentials. Called under the engine lock; takes only the meta leaf lock.</summary>
    public bool MayWriteProcs(Cgroup g, Credentials who)
    {
        if (who.DacOverride)
            return true;
        Meta m;
        lock (_metaLock)
            m = g.ViewState is CgroupDir d ? d.FileMeta(ProcsFile) : new Meta(0b110_100_100, 0, 0, 0);
        if (who.Uid == m.Uid)
            return (m.Mode & 0b010_000_000) != 0;
        if (who.InGroup(m.Gid))
            return (m.Mode & 0b000_010_000) != 0;
        return (m.Mode & 0b000_000_010) != 0;
    }

    // ---- files --------------------------------------------------------------------------------

    public int Open(in Caller c, ulong node, int flags, out ulong fh)
    {
        fh = 0;
        FileNode fn;
        ControllerState? state;
        lock (_nodes)
        {
            if (!_nodes.TryGetValue(node, out var n))
                return (int)Errno.ENOENT;
            if (n is not FileNode f)
                return (int)Errno.EISDIR;
            fn = f;
            var (present, s) = Engine.Run(() => (PresentLocked(f.File, f.Dir),
                f.File.Controller == Controllers.None ? null : Engine.StateLocked(f.Dir.Cgroup, f.File.Controller)));
            if (!present)
                return (int)Errno.ENOENT;
            state = s;
        }
        var open = new OpenFile(fn, state, ProcFs.CredentialsOf(c.Tid, c.Uid, c.Gid), flags);
        if (fn.File.Notifies is { } notifier)
            open.SeenGeneration = Engine.Run(() => Engine.GenerationLocked(fn.Dir.Cgroup, notifier));
        fh = (ulong)Interlocked.Increment(ref _nextFh);
        _open[fh] = open;
        return 0;
    }

    /// <summary>A descriptor is dead once its cgroup is removed or its file disappeared (controller
    /// disabled, PSI hidden): kernfs then answers ENODEV (spec core.md 7).</summary>
    private bool Dead(OpenFile f) => Engine.Run(() =>
        !PresentLocked(f.Node.File, f.Node.Dir) ||
        f.Node.File.Controller != Controllers.None && !ReferenceEquals(Engine.StateLocked(f.Node.Dir.Cgroup, f.Node.File.Controller), f.State));

    private FileContext Context(OpenFile f, in Caller c) =>
        new(this, f.Node.Dir.Cgroup, f.Node.Dir, f.State, c.Tid, c.Uid, c.Gid, f.Opener);

    /// <summary>A read at offset 0 renders the current state; later offsets continue that snapshot (seq_file).</summary>
    public int Read(in Caller c, ulong node, ulong fh, long offset, int size, out ReadOnlyMemory<byte> data)
    {
        data = ReadOnlyMemory<byte>.Empty;
        if (!_open.TryGetValue(fh, out var f))
            return (int)Errno.EBADF;
        if (Dead(f))
            return (int)Errno.ENODEV;
        var file = f.Node.File;
        if (file.Render is null)
            return (int)Errno.EINVAL;
        if (offset == 0 || f.Snapshot is null)
        {
            ulong gen = file.Notifies is { } n ? Engine.Run(() => Engine.GenerationLocked(f.Node.Dir.Cgroup, n)) : 0;
            var r = file.Render(Context(f, c));
            if (r.Error != Errno.Ok)
                return (int)r.Error;
            f.Snapshot = Encoding.Latin1.GetBytes(r.Text);
            f.SeenGeneration = gen;
        }
        if (offset >= f.Snapshot.Length)
            return 0;
        data = f.Snapshot.AsMemory((int)offset, (int)Math.Min(size, f.Snapshot.Length - offset));
        return 0;
    }

    /// <summary>One write(2) is one command; the offset is ignored; more than a page is E2BIG; a NUL ends the input.</summary>
    public int Write(in Caller c, ulong node, ulong fh, long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxWriteBytes)
            return (int)Errno.E2BIG;
        if (!_open.TryGetValue(fh, out var f))
            return (int)Errno.EBADF;
        if ((f.Flags & O_ACCMODE) == O_RDONLY)
            return (int)Errno.EBADF;
        if (data.Length == 0)
            return 0;
        if (Dead(f))
            return (int)Errno.ENODEV;
        var file = f.Node.File;
        if (file.Write is null)
            return (int)Errno.EINVAL;
        int nul = data.IndexOf((byte)0);
        var text = Encoding.Latin1.GetString(nul < 0 ? data : data[..nul]);
        var e = file.Write(Context(f, c), text);
        if (e == Errno.Ok && file.Name is not ("cgroup.procs" or "cgroup.threads" or "cgroup.kill"))
            Journal?.Write(f.Node.Dir.Cgroup, file.Name, text, c.Uid, c.Gid);
        return (int)e;
    }

    public void Release(ulong node, ulong fh) => _open.TryRemove(fh, out _);

    public int Poll(in Caller c, ulong node, ulong fh, ulong kh, bool scheduleNotify, out uint revents)
    {
        revents = DefaultPollMask;
        if (!_open.TryGetValue(fh, out var f))
            return (int)Errno.EBADF;
        if (Dead(f))
        {
            revents |= PollPriErr;
            return 0;
        }
        if (f.Node.File.Notifies is not { } n)
            return 0;
        var cg = f.Node.Dir.Cgroup;
        // Register before comparing generations, so a change in between still wakes the kernel.
        if (scheduleNotify)
            Waiters.Add(cg, n, kh);
        if (Engine.Run(() => Engine.GenerationLocked(cg, n)) != f.SeenGeneration)
            revents |= PollPriErr;
        return 0;
    }

    // ---- directories ------------------------------------------------------------------------------

    public int OpenDir(in Caller c, ulong node, out ulong fh)
    {
        fh = 0;
        lock (_nodes)
        {
            if (DirLocked(node, out var d) is var err && err != Errno.Ok)
                return (int)err;
            var entries = Engine.Run(() =>
            {
                // glibc's readdir drops entries whose inode is 0, so ".." needs a real one.
                var list = new List<DirEntry> { new(".", Ino(d.Cgroup), true), new("..", Ino(d.Cgroup.Parent ?? d.Cgroup), true) };
                if (d.Cgroup.Removed)
                    return list;
                for (int i = 0; i < Files.Length; i++)
                    if (PresentLocked(Files[i], d))
                        list.Add(new DirEntry(Files[i].Name, Ino(d.Cgroup, i), false));
                foreach (var child in Engine.ChildrenLocked(d.Cgroup))
                    list.Add(new DirEntry(child.Name, Ino(child), true));
                return list;
            });
            fh = (ulong)Interlocked.Increment(ref _nextFh);
            _dirs[fh] = entries.ToArray();
            return 0;
        }
    }

    public int ReadDir(ulong node, ulong fh, out IReadOnlyList<DirEntry> entries)
    {
        entries = Array.Empty<DirEntry>();
        if (!_dirs.TryGetValue(fh, out var list))
            return (int)Errno.EBADF;
        entries = list;
        return 0;
    }

    public void ReleaseDir(ulong node, ulong fh) => _dirs.TryRemove(fh, out _);

    public int StatFs(ulong node, out KStatFs st)
    {
        st = new KStatFs { BSize = 4096, FrSize = 4096, NameLen = 255 };
        return 0;
    }

    // ---- extended attributes (user., trusted., security.) --------------------------------------------

    private static bool SupportedXattr(string name) =>
        name.StartsWith("user.", StringComparison.Ordinal) || name.StartsWith("trusted.", StringComparison.Ordinal) ||
        name.StartsWith("security.", StringComparison.Ordinal);

    private Meta? MetaOf(ulong node, bool forWrite)
    {
        lock (_nodes)
        {
            if (!_nodes.TryGetValue(node, out var n))
                return null;
            lock (_metaLock)
                return n is FileNode fn ? (forWrite ? fn.Dir.MutableFileMeta(fn.File) : fn.Dir.FileMeta(fn.File)) : n.Dir.Meta;
        }
    }

    public int GetXattr(in Caller c, ulong node, string name, out byte[] value)
    {
        value = [];
        if (!SupportedXattr(name))
            return (int)Errno.EOPNOTSUPP;
        var m = MetaOf(node, forWrite: false);
        if (m is null)
            return (int)Errno.ENOENT;
        lock (_metaLock)
        {
            if (m.Xattrs is null || !m.Xattrs.TryGetValue(name, out var v))
                return (int)Errno.ENODATA;
            value = v;
            return 0;
        }
    }

    public int SetXattr(in Caller c, ulong node, string name, ReadOnlySpan<byte> value, int flags)
    {
        if (!SupportedXattr(name))
            return (int)Errno.EOPNOTSUPP;
        var m = MetaOf(node, forWrite: true);
        if (m is null)
            return (int)Errno.ENOENT;
        lock (_metaLock)
        {
            m.Xattrs ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
            bool exists = m.Xattrs.ContainsKey(name);
            if ((flags & XATTR_CREATE) != 0 && exists)
                return (int)Errno.EEXIST;
            if ((flags & XATTR_REPLACE) != 0 && !exists)
                return (int)Errno.ENODATA;
            m.Xattrs[name] = value.ToArray();
        }
        JournalXattr(node, name, value.ToArray());
        return 0;
    }

    private void JournalXattr(ulong node, string name, byte[]? value)
    {
        if (Journal is null)
            return;
        lock (_nodes)
            if (_nodes.TryGetValue(node, out var n))
                Journal.Xattr(n.Dir.Cgroup, n is FileNode f ? f.File.Name : ".", name, value);
    }

    public int ListXattr(in Caller c, ulong node, out byte[] names)
    {
        names = [];
        var m = MetaOf(node, forWrite: false);
        if (m is null)
            return (int)Errno.ENOENT;
        lock (_metaLock)
            names = m.Xattrs is null ? [] : Encoding.Latin1.GetBytes(string.Concat(m.Xattrs.Keys.Select(k => k + "\0")));
        return 0;
    }

    public int RemoveXattr(in Caller c, ulong node, string name)
    {
        if (!SupportedXattr(name))
            return (int)Errno.EOPNOTSUPP;
        var m = MetaOf(node, forWrite: false);
        if (m is null)
            return (int)Errno.ENOENT;
        lock (_metaLock)
            if (m.Xattrs is null || !m.Xattrs.Remove(name))
                return (int)Errno.ENODATA;
        JournalXattr(node, name, null);
        return 0;
    }

    // ---- restoring state (the journal replays through these) ------------------------------------

    /// <summary>Creates a cgroup as a replayed mkdir; null if it cannot exist any more.</summary>
    public Cgroup? RestoreMkdir(Cgroup parent, string name, uint mode, uint uid, uint gid)
    {
        lock (_nodes)
        {
            Cgroup? child = null;
            if (Engine.Run(() => Engine.MkdirLocked(parent, name, out child)) != Errno.Ok)
                return null;
            long now = NowNs();
            child!.ViewState = new CgroupDir(child, new Meta(mode, uid, gid, now)) { CreatorUid = uid, CreatorGid = gid, CreatedNs = now };
            return child;
        }
    }

    public Errno RestoreRmdir(Cgroup c) => Engine.Run(() => Engine.RmdirLocked(c));

    /// <summary>Replays a write through the file's own handler, as root.</summary>
    public Errno RestoreWrite(Cgroup c, string fileName, string text, uint uid, uint gid)
    {
        if (!FilesByName.TryGetValue(fileName, out var f) || f.File.Write is null || c.ViewState is not CgroupDir d)
            return Errno.ENOENT;
        var state = f.File.Controller == Controllers.None ? null : Engine.Run(() => Engine.StateLocked(c, f.File.Controller));
        if (f.File.Controller != Controllers.None && state is null)
            return Errno.ENOENT;
        return f.File.Write(new FileContext(this, c, d, state, 0, uid, gid, Credentials.Root), text);
    }

    /// <summary>The attributes of "." (the directory) or of a named file of a cgroup; needs the meta lock.</summary>
    private static Meta? TargetMetaLocked(Cgroup c, string target) =>
        c.ViewState is not CgroupDir d ? null
        : target == "." ? d.Meta
        : FilesByName.TryGetValue(target, out var f) ? d.MutableFileMeta(f.File) : null;

    public void RestoreMeta(Cgroup c, string target, uint mode, uint uid, uint gid)
    {
        lock (_metaLock)
            if (TargetMetaLocked(c, target) is { } m)
                (m.Mode, m.Uid, m.Gid) = (mode, uid, gid);
    }

    public void RestoreXattr(Cgroup c, string target, string name, byte[]? value)
    {
        lock (_metaLock)
        {
            var m = TargetMetaLocked(c, target);
            if (m is null)
                return;
            m.Xattrs ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
            if (value is null)
                m.Xattrs.Remove(name);
            else
                m.Xattrs[name] = value;
        }
    }

    /// <summary>What the view adds to a cgroup's engine state: owners, modes, xattrs, PSI visibility.</summary>
    public (uint CreatorUid, uint CreatorGid, bool Pressure, List<(string Target, uint Mode, uint Uid, uint Gid, Dictionary<string, byte[]>? Xattrs)> Metas) ViewOf(Cgroup c)
    {
        var d = (CgroupDir)c.ViewState!;
        lock (_metaLock)
        {
            var metas = new List<(string, uint, uint, uint, Dictionary<string, byte[]>?)> { (".", d.Meta.Mode, d.Meta.Uid, d.Meta.Gid, d.Meta.Xattrs is null ? null : new(d.Meta.Xattrs)) };
            if (d.FileMetas is not null)
                foreach (var (name, m) in d.FileMetas)
                    metas.Add((name, m.Mode, m.Uid, m.Gid, m.Xattrs is null ? null : new(m.Xattrs)));
            return (d.CreatorUid, d.CreatorGid, d.PressureVisible, metas);
        }
    }
}
