using CgFs.Accounting;
using CgFs.Host;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>
/// Overlay mode's tree: every cgroup of the engine mirrors a directory of the host's real
/// cgroup2 (<see cref="_real"/>). The real tree decides what exists; the mirror follows it — at
/// start (a full walk), after mkdir and rmdir through the mount, when inotify reports a change
/// made behind cgfs's back, and whenever a lookup or listing finds the two disagree. A mirror's
/// adoption and removal are journaled as mkdir and rmdir records, so the journal's cgroup ids
/// stand for paths and its records restore onto whatever real tree exists at restart.
/// </summary>
public sealed partial class CgroupFileSystem
{
    private readonly RealCgroups? _real;
    private RealWatcher<CgroupDir>? _watcher;

    /// <summary>The host tree in overlay mode; null when cgfs emulates the whole tree.</summary>
    public RealCgroups? Real => _real;

    private static string ChildPath(CgroupDir parent, string name) => parent.RealPath!.Length == 0 ? name : parent.RealPath + "/" + name;

    private string RealPathOf(CgroupDir d, string? file = null) => _real!.PathOf(file is null ? d.RealPath! : ChildPath(d, file));

    /// <summary>Mirrors the whole real tree (at start, before the journal is replayed) and starts
    /// watching it for changes made behind cgfs's back.</summary>
    public void MirrorRealTree()
    {
        if (_real is null)
            return;
        _watcher ??= new RealWatcher<CgroupDir>(RealChildChanged, Rescan, _log);
        var root = Dir(Engine.Root);
        _watcher.Watch(RealPathOf(root), root);
        Rescan();
    }

    /// <summary>Brings every mirrored directory in line with the real one (also after an inotify overflow).</summary>
    private void Rescan()
    {
        var dropped = new List<(Cgroup, ulong?)>();
        var pending = new Stack<CgroupDir>([Dir(Engine.Root)]);
        while (pending.Count > 0)
        {
            var d = pending.Pop();
            var listing = _real!.List(RealPathOf(d));
            lock (_nodes)
            {
                if (d.Cgroup.Removed)
                    continue;
                dropped.AddRange(ReconcileLocked(d, listing));
                foreach (var child in Engine.Run(() => Engine.ChildrenLocked(d.Cgroup)))
                    pending.Push(Dir(child));
            }
        }
        Forgotten(dropped);
    }

    /// <summary>inotify: <paramref name="name"/> appeared in or vanished from the real directory of <paramref name="d"/>.</summary>
    private void RealChildChanged(CgroupDir d, string name)
    {
        var path = RealPathOf(d, name);
        var found = _real!.Stat(path, out var st) == Errno.Ok && st.IsDirectory ? st : (RealStat?)null;
        List<(Cgroup, ulong?)> dropped;
        lock (_nodes)
        {
            if (d.Cgroup.Removed)
                return;
            (_, dropped) = SyncChildLocked(d, name, found);
        }
        Forgotten(dropped);
    }

    /// <summary>Makes the mirror of child <paramref name="name"/> agree with the real directory
    /// (<paramref name="real"/>; null if there is none): adopted, kept, or dropped — and a real
    /// directory that was removed and made again under the same name is a new cgroup.</summary>
    private (Cgroup? Child, List<(Cgroup, ulong?)> Dropped) SyncChildLocked(CgroupDir d, string name, RealStat? real)
    {
        AssertNodesLocked();
        var dropped = new List<(Cgroup, ulong?)>();
        var mirrored = Engine.Run(() => Engine.ChildLocked(d.Cgroup, name));
        if (mirrored is not null && (real is not { } st || st.Ino != Dir(mirrored).RealIno))
        {
            DropMirrorLocked(mirrored, dropped);
            mirrored = null;
        }
        if (mirrored is null && real is { } found)
            mirrored = AdoptLocked(d, name, found);
        return (mirrored, dropped);
    }

    /// <summary>Adopts or drops children so the mirror of <paramref name="d"/> matches <paramref name="listing"/>.</summary>
    private List<(Cgroup, ulong?)> ReconcileLocked(CgroupDir d, List<(string Name, RealStat Stat)> listing)
    {
        AssertNodesLocked();
        var dirs = listing.Where(x => x.Stat.IsDirectory).ToDictionary(x => x.Name, x => x.Stat, StringComparer.Ordinal);
        var dropped = new List<(Cgroup, ulong?)>();
        // One pass under the engine lock finds what differs; a listing of 10k agreeing children costs no more.
        var mirrored = Engine.Run(() => Engine.ChildrenLocked(d.Cgroup)).ToDictionary(c => c.Name, StringComparer.Ordinal);
        foreach (var (name, child) in mirrored)
            if (!dirs.ContainsKey(name))
                DropMirrorLocked(child, dropped);
        foreach (var (name, st) in dirs)
            if (!mirrored.TryGetValue(name, out var child) || Dir(child).RealIno != st.Ino)
                dropped.AddRange(SyncChildLocked(d, name, st).Dropped);
        return dropped;
    }

    /// <summary>A real directory becomes a cgroup of the engine (journaled as a mkdir). Its
    /// attributes are read afresh: <paramref name="st"/> may come from a listing (inode and type only).</summary>
    private Cgroup? AdoptLocked(CgroupDir parent, string name, RealStat st)
    {
        AssertNodesLocked();
        // A listing's entry has no link count: its attributes are still to be read.
        if (st.Nlink == 0 && _real!.Stat(RealPathOf(parent, name), out var full) == Errno.Ok && full.Ino == st.Ino)
            st = full;
        Cgroup? child = null;
        var e = _changes.Commit(
            () => new MkdirRecord(Engine.Run(() => Engine.NextIdLocked), parent.Cgroup.Id, st.Mode & 0xFFF, st.Uid, st.Gid, name, st.Ino),
            () => Engine.Run(() => Engine.MkdirLocked(parent.Cgroup, name, out child)));
        if (e != Errno.Ok)
        {
            _log($"overlay: cannot mirror {RealPathOf(parent, name)}: {Errnos.Describe(e)}");
            return null;
        }
        var cd = NewRealDir(child!, ChildPath(parent, name), st);
        _watcher?.Watch(RealPathOf(cd), cd);
        return child;
    }

    private static CgroupDir NewRealDir(Cgroup c, string path, RealStat st)
    {
        var cd = new CgroupDir(c, new Meta(st.Mode & 0xFFF, st.Uid, st.Gid, st.CtimeNs))
        {
            CreatorUid = st.Uid, CreatorGid = st.Gid, CreatedNs = st.CtimeNs, RealPath = path, RealIno = st.Ino,
        };
        c.ViewState = cd;
        return cd;
    }

    /// <summary>The real cgroup is gone: its mirror and every mirrored descendant go, their rdma
    /// and misc state released as by rmdir (journaled). Collects each with its parent's node id.</summary>
    private void DropMirrorLocked(Cgroup c, List<(Cgroup, ulong?)> dropped)
    {
        AssertNodesLocked();
        foreach (var child in Engine.Run(() => Engine.ChildrenLocked(c)))
            DropMirrorLocked(child, dropped);
        var e = _changes.Commit(() => new RmdirRecord(c.Id), () => Engine.Run(() =>
        {
            Engine.EvacuateLocked(c);
            return Engine.RmdirLocked(c);
        }));
        if (e != Errno.Ok)
        {
            _log($"overlay: cannot drop the mirror of {c}: {Errnos.Describe(e)}");
            return;
        }
        _watcher?.Unwatch(Dir(c));
        dropped.Add((c, c.Parent?.ViewState is CgroupDir { Node: { } pn } ? pn.Id : null));
    }

    /// <summary>After the node lock: pollers of dropped cgroups wake, and the kernel forgets their
    /// cached entries (files, and the directory's own name in its parent).</summary>
    private void Forgotten(List<(Cgroup Cgroup, ulong? ParentNode)> dropped, TimeSpan? wait = null)
    {
        if (dropped.Count == 0)
            return;
        var names = new List<(ulong, string)>();
        lock (_nodes)
            foreach (var (c, parentNode) in dropped)
            {
                var d = Dir(c);
                if (d.Node is { } dn)
                    names.AddRange(d.FileNodes.Keys.Concat(d.RealNodes.Keys).Select(n => (dn.Id, n)));
                if (parentNode is { } p)
                    names.Add((p, c.Name));
            }
        foreach (var (c, _) in dropped)
            Waiters.WakeAll(c, Engine.Notifiers);
        Waiters.Kernel?.InvalidateEntries(names, wait ?? TimeSpan.FromMilliseconds(200));
    }

    /// <summary>The mirrored cgroup at a path relative to the real root, adopting directories not
    /// mirrored yet (made behind cgfs's back, their inotify event still on its way); the nearest
    /// mirrored ancestor if the path cannot be mirrored.</summary>
    public Cgroup Resolve(string relative)
    {
        var c = Engine.Root;
        List<(Cgroup, ulong?)> dropped = [];
        lock (_nodes)
            foreach (var name in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                var d = Dir(c);
                var next = Engine.Run(() => Engine.ChildLocked(c, name));
                if (next is null)
                {
                    if (_real!.Stat(RealPathOf(d, name), out var st) != Errno.Ok || !st.IsDirectory)
                        break;
                    (next, var gone) = SyncChildLocked(d, name, st);
                    dropped.AddRange(gone);
                    if (next is null)
                        break;
                }
                c = next;
            }
        Forgotten(dropped);
        return c;
    }

    /// <summary>The path of a mirrored cgroup relative to the real root.</summary>
    public static string RealPathOf(Cgroup c) => c.ViewState is CgroupDir { RealPath: { } p } ? p : "";
}
