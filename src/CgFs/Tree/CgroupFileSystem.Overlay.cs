using System.Collections.Concurrent;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Host;

namespace CgFs.Tree;

/// <summary>
/// Overlay mode's operations: directories are the real cgroups (mkdir and rmdir go to the
/// kernel first, its errno is the answer, then the mirror follows); the kernel's interface files
/// are passed through byte for byte on a real descriptor per open (reads, writes, and poll
/// wake-ups forwarded from the real file); modes, owners and times are the real ones. cgfs's
/// controllers' files and the merged core files (Tree/Overlay) are served as in emulated mode.
/// </summary>
public sealed partial class CgroupFileSystem
{
    /// <summary>An open real interface file: its descriptor on the kernel's file.</summary>
    private sealed class RealOpen(RealFileNode node, int fd)
    {
        public readonly RealFileNode Node = node;
        public readonly int Fd = fd;
    }

    private readonly ConcurrentDictionary<ulong, RealOpen> _openReal = new();

    /// <summary>An overlay's real files can change behind cgfs's back (a chmod, a controller enabled
    /// directly): the kernel revalidates them after a second, as on a network filesystem.</summary>
    public ulong CacheSeconds => _real is null ? Fuse.Fuse.CacheSeconds : 1;
    private RealPoller? _poller;

    /// <summary>Plugin files' inode numbers: clear of kernfs's (which are below 2^33).</summary>
    private static ulong PluginIno(CgroupDir d, int index) => (1UL << 62) | ((d.RealIno & 0xFFFF_FFFF) << 6) | (uint)(index + 1);

    /// <summary>Lookup in a mirrored directory: cgfs's controllers' files, then the real directory's entries.</summary>
    /// <param name="attr">The attributes of a real-backed node, from the stat the lookup made anyway.</param>
    private Errno LookupOverlayLocked(CgroupDir dir, string name, out Node? node, out FuseAttr? attr, out List<(Cgroup, ulong?)> dropped)
    {
        AssertNodesLocked();
        (node, attr, dropped) = (null, null, []);
        if (FilesByName.TryGetValue(name, out var own) && own.File.Controller is not null)
        {
            if (Engine.Run(() => PresentLocked(own.File, dir)))
                node = FileNodeLocked(dir, own.File);
            return node is null ? Errno.ENOENT : Errno.Ok;
        }
        var e = _real!.Stat(RealPathOf(dir, name), out var st);
        var (child, gone) = SyncChildLocked(dir, name, e == Errno.Ok && st.IsDirectory ? st : null);
        dropped = gone;
        if (child is not null)
            node = DirNodeLocked(child);
        else if (e == Errno.Ok && st.IsRegular)
            node = FilesByName.TryGetValue(name, out var core) ? FileNodeLocked(dir, core.File) : RealNodeLocked(dir, name);
        if (node is not null)
            attr = AttrOf(st);
        return node is null ? (e == Errno.Ok ? Errno.ENOENT : e) : Errno.Ok;
    }

    private RealFileNode RealNodeLocked(CgroupDir dir, string name)
    {
        AssertNodesLocked();
        if (!dir.RealNodes.TryGetValue(name, out var rn))
            dir.RealNodes[name] = rn = (RealFileNode)AddNode(new RealFileNode(_nextNode++, dir, name));
        return rn;
    }

    /// <summary>The real path behind a node whose attributes are the kernel's (a directory, a
    /// kernel file, a merged core file); null for cgfs's own files.</summary>
    private string? RealPathOfNode(Node n) => n switch
    {
        DirNode => RealPathOf(n.Dir),
        RealFileNode rn => RealPathOf(n.Dir, rn.Name),
        FileNode { File.Controller: null } fn => RealPathOf(n.Dir, fn.File.Name),
        _ => null,
    };

    /// <summary>Attributes of a real-backed node from the kernel's file; null for cgfs's own files.</summary>
    private FuseAttr? RealAttr(Node n)
    {
        if (RealPathOfNode(n) is not { } path)
            return null;
        if (_real!.Stat(path, out var st) != Errno.Ok)
            st = new RealStat(n is DirNode ? n.Dir.RealIno : 0, n is DirNode ? 0x4000 | n.Dir.Meta.Mode : 0x8000, 0, 0, 1, 0, 0, 0);
        return AttrOf(st);
    }

    private static FuseAttr AttrOf(in RealStat st) =>
        MakeAttr(st.Ino, st.Mode, st.Nlink, new Meta(st.Mode & 0xFFF, st.Uid, st.Gid, 0) { AtimeNs = st.AtimeNs, MtimeNs = st.MtimeNs, CtimeNs = st.CtimeNs });

    /// <summary>The real path behind node id <paramref name="node"/> when its attributes are the kernel's; null otherwise and in emulated mode.</summary>
    private string? RealPathOfNode(ulong node)
    {
        if (_real is null)
            return null;
        lock (_nodes)
            return _nodes.TryGetValue(node, out var n) ? RealPathOfNode(n) : null;
    }

    private int SetRealAttrLocked(Node n, in SetAttrIn s, out FuseAttr attr)
    {
        AssertNodesLocked();
        attr = default;
        if (SetRealAttr(n, s) is var e && e != Errno.Ok)
            return (int)e;
        attr = AttrOf(n);
        return 0;
    }

    /// <summary>chmod, chown and utimes of a real-backed node go to the real file (the kernel
    /// checked the caller's right to make them, default_permissions); truncate changes nothing.</summary>
    private Errno SetRealAttr(Node n, in SetAttrIn s)
    {
        string path = RealPathOfNode(n) ?? throw new InvalidOperationException("not a real-backed node");
        if ((s.Valid & Fuse.Fuse.FattrMode) != 0 && _real!.Chmod(path, s.Mode & 0xFFF) is var m && m != Errno.Ok)
            return m;
        if ((s.Valid & (Fuse.Fuse.FattrUid | Fuse.Fuse.FattrGid)) != 0 &&
            _real!.Chown(path, (s.Valid & Fuse.Fuse.FattrUid) != 0 ? s.Uid : uint.MaxValue, (s.Valid & Fuse.Fuse.FattrGid) != 0 ? s.Gid : uint.MaxValue) is var o && o != Errno.Ok)
            return o;
        bool aNow = (s.Valid & Fuse.Fuse.FattrAtimeNow) != 0, mNow = (s.Valid & Fuse.Fuse.FattrMtimeNow) != 0;
        long? a = (s.Valid & Fuse.Fuse.FattrAtime) != 0 ? (long)s.Atime * 1_000_000_000 + s.AtimeNsec : null;
        long? t = (s.Valid & Fuse.Fuse.FattrMtime) != 0 ? (long)s.Mtime * 1_000_000_000 + s.MtimeNsec : null;
        return aNow || mNow || a is not null || t is not null ? _real!.Utimens(path, a, t, aNow, mNow) : Errno.Ok;
    }

    /// <summary>mkdir on the real tree first (its errno is the answer), owned by the caller as the
    /// kernel makes it — the directory and its files — then mirrored.</summary>
    private Errno MkDirOverlayLocked(in Caller c, CgroupDir dir, string name, uint mode, out Entry entry)
    {
        AssertNodesLocked();
        entry = default;
        if (FilesByName.TryGetValue(name, out var own) && own.File.Controller is not null && Engine.Run(() => PresentLocked(own.File, dir)))
            return Errno.EEXIST;
        var path = RealPathOf(dir, name);
        var e = _real!.Mkdir(path, mode & 0xFFF);
        if (e != Errno.Ok)
            return e;
        if ((mode & RealCgroups.ProcessUmask) != 0)
            _real.Chmod(path, mode & 0xFFF); // the caller's umask applied already; the daemon's must not strip more
        if (c.Uid != 0 || c.Gid != 0)
            foreach (var p in _real.List(path).Select(x => path + "/" + x.Name).Prepend(path))
                _real.Chown(p, c.Uid, c.Gid);
        if (_real.Stat(path, out var st) != Errno.Ok)
            return Errno.ENOENT; // removed behind our back already
        var (child, dropped) = SyncChildLocked(dir, name, st);
        if (child is null)
        {
            _real.Rmdir(path);
            return Errno.EIO;
        }
        System.Diagnostics.Debug.Assert(dropped.Count == 0, "a directory just made had no mirror");
        var node = DirNodeLocked(child);
        node.Lookups++;
        entry = new Entry(node.Id, AttrOf(st));
        return Errno.Ok;
    }

    /// <summary>rmdir on the real tree first (the kernel's EBUSY, ENOTEMPTY, …), then the mirror goes.</summary>
    private Errno RmDirOverlay(ulong parent, string name)
    {
        var dropped = new List<(Cgroup, ulong?)>();
        lock (_nodes)
        {
            if (DirLocked(parent, out var dir) is var err && err != Errno.Ok)
                return err;
            if (FilesByName.TryGetValue(name, out var own) && own.File.Controller is not null && Engine.Run(() => PresentLocked(own.File, dir)))
                return Errno.ENOTDIR;
            var e = _real!.Rmdir(RealPathOf(dir, name));
            if (e != Errno.Ok)
                return e;
            if (Engine.Run(() => Engine.ChildLocked(dir.Cgroup, name)) is { } mirrored)
                DropMirrorLocked(mirrored, dropped);
        }
        // The kernel holds the parent's lock until this rmdir is answered: its own entry is its business.
        Forgotten(dropped.Select(x => (x.Item1, (ulong?)null)).ToList(), TimeSpan.Zero);
        return Errno.Ok;
    }

    /// <summary>A listing of the real directory (its order and inode numbers), mirrored first,
    /// then cgfs's controllers' files.</summary>
    private List<DirEntry> ListOverlay(CgroupDir d)
    {
        var listing = _real!.List(RealPathOf(d));
        List<(Cgroup, ulong?)> dropped;
        var entries = new List<DirEntry>(listing.Count + 16);
        lock (_nodes)
        {
            dropped = d.Cgroup.Removed ? [] : ReconcileLocked(d, listing);
            ulong parentIno = d.Cgroup.Parent?.ViewState is CgroupDir p ? p.RealIno : d.RealIno;
            entries.Add(new(".", d.RealIno, true));
            entries.Add(new("..", parentIno, true));
            if (!d.Cgroup.Removed)
            {
                foreach (var (name, st) in listing)
                    if (st.IsDirectory || st.IsRegular)
                        entries.Add(new DirEntry(name, st.Ino, st.IsDirectory));
                Engine.Run(() =>
                {
                    for (int i = 0; i < Files.Length; i++)
                        if (Files[i].Controller is not null && PresentLocked(Files[i], d))
                            entries.Add(new DirEntry(Files[i].Name, PluginIno(d, i), false));
                    return 0;
                });
            }
        }
        Forgotten(dropped);
        return entries;
    }

    // ---- pass-through files -------------------------------------------------------------------

    private int OpenReal(RealFileNode rn, int flags, out ulong fh)
    {
        fh = 0;
        var (e, fd) = _real!.OpenFile(RealPathOf(rn.Dir, rn.Name), flags);
        if (e != Errno.Ok)
            return (int)e;
        fh = (ulong)Interlocked.Increment(ref _nextFh);
        _openReal[fh] = new RealOpen(rn, fd);
        return 0;
    }

    private static int ReadReal(RealOpen f, long offset, int size, out ReadOnlyMemory<byte> data)
    {
        var buf = new byte[size];
        var (e, n) = RealCgroups.PRead(f.Fd, buf, offset);
        data = buf.AsMemory(0, n);
        return (int)e;
    }

    private int PollReal(RealOpen f, ulong kh, bool scheduleNotify, out uint revents)
    {
        if (scheduleNotify)
            (_poller ??= NewPoller()).Arm(f.Fd, kh);
        revents = RealCgroups.PollNow(f.Fd);
        return 0;
    }

    private RealPoller NewPoller()
    {
        lock (_openReal)
            return _poller ??= new RealPoller(kh => Waiters.Kernel?.NotifyPoll(kh));
    }

    private void ReleaseReal(RealOpen f)
    {
        _poller?.Disarm(f.Fd);
        Interop.Sys.Close(f.Fd);
    }

    /// <summary>Real files the kernel holds an entry for that are gone from the real directories of
    /// <paramref name="cgroups"/> (a controller disabled in their parent, PSI hidden) are invalidated.</summary>
    public void RealFilesMayHaveVanished(IEnumerable<Cgroup> cgroups)
    {
        if (_real is null)
            return;
        var cached = new List<(ulong Node, string Name, string Path)>();
        lock (_nodes)
            foreach (var d in cgroups.Select(Dir))
                if (d.Node is { } dn)
                    cached.AddRange(d.RealNodes.Keys.Select(n => (dn.Id, n, RealPathOf(d, n))));
        var gone = cached.Where(x => _real.Stat(x.Path, out _) != Errno.Ok).Select(x => (x.Node, x.Name)).ToList();
        Waiters.Kernel?.InvalidateEntries(gone, TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Stops the overlay's watcher and poller threads (unmount).</summary>
    public void StopOverlay()
    {
        _watcher?.Dispose();
        _poller?.Dispose();
    }
}
