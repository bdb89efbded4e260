using System.Text;
using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Fuse;
using CgFs.Host;

namespace CgFs.Tree;

/// <summary>Attributes and extended attributes: modes and owners as delegation needs them, the migration permission check, kernel cache invalidation of vanished files.</summary>
public sealed partial class CgroupFileSystem
{
    // ---- attributes -------------------------------------------------------------------------

    private FuseAttr AttrOf(Node n)
    {
        var d = n.Dir;
        if (_real is not null && RealAttr(n) is { } real)
            return real;
        if (n is FileNode fn)
        {
            Meta m;
            lock (_metaLock)
                m = d.FileMeta(fn.File);
            int index = FilesByName[fn.File.Name].Index;
            return MakeAttr(_real is null ? Ino(d.Cgroup, index) : PluginIno(d, index), S_IFREG | m.Mode, 1, m);
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

    /// <summary>chmod, chown, utimes work (that is how delegation is done); truncate succeeds and changes nothing.
    /// A change of mode or owner is journaled first; times are not kept across a restart.</summary>
    public int SetAttr(in Caller c, ulong node, in SetAttrIn s, out FuseAttr attr)
    {
        attr = default;
        var set = s;
        lock (_nodes)
        {
            if (!_nodes.TryGetValue(node, out var n))
                return (int)Errno.ENOENT;
            if (_real is not null && n is not FileNode { File.Controller: not null })
                return SetRealAttrLocked(n, set, out attr);
            string target = n is FileNode f ? f.File.Name : ".";
            Meta m;
            (uint Mode, uint Uid, uint Gid) next;
            lock (_metaLock)
            {
                m = n is FileNode fn ? fn.Dir.MutableFileMeta(fn.File) : n.Dir.Meta;
                next = ((set.Valid & Fuse.Fuse.FattrMode) != 0 ? set.Mode & 0xFFF : m.Mode,
                        (set.Valid & Fuse.Fuse.FattrUid) != 0 ? set.Uid : m.Uid,
                        (set.Valid & Fuse.Fuse.FattrGid) != 0 ? set.Gid : m.Gid);
            }
            Errno Apply()
            {
                long now = NowNs();
                lock (_metaLock)
                {
                    (m.Mode, m.Uid, m.Gid) = next;
                    if ((set.Valid & Fuse.Fuse.FattrAtimeNow) != 0)
                        m.AtimeNs = now;
                    else if ((set.Valid & Fuse.Fuse.FattrAtime) != 0)
                        m.AtimeNs = (long)set.Atime * 1_000_000_000 + set.AtimeNsec;
                    if ((set.Valid & Fuse.Fuse.FattrMtimeNow) != 0)
                        m.MtimeNs = now;
                    else if ((set.Valid & Fuse.Fuse.FattrMtime) != 0)
                        m.MtimeNs = (long)set.Mtime * 1_000_000_000 + set.MtimeNsec;
                    m.CtimeNs = now;
                }
                return Errno.Ok;
            }
            bool owner = (set.Valid & (Fuse.Fuse.FattrMode | Fuse.Fuse.FattrUid | Fuse.Fuse.FattrGid)) != 0;
            var e = owner
                ? _changes.Commit(() => new MetaRecord(n.Dir.Cgroup.Id, target, next.Mode, next.Uid, next.Gid), Apply)
                : Apply();
            if (e != Errno.Ok)
                return (int)e;
            attr = AttrOf(n);
            return 0;
        }
    }

    /// <summary>Files created when a controller is enabled belong to the writer of the parent's
    /// cgroup.subtree_control (spec core.md 1.2); disabled controllers' files are gone, and so
    /// must be the kernel's cached entries for them.</summary>
    public void ControllerFilesChanged(IEnumerable<Cgroup> children, ControllerMask enabled, ControllerMask disabled, uint uid, uint gid)
    {
        long now = NowNs();
        children = children.ToArray();
        if (!disabled.IsEmpty)
            InvalidateCached(children, f => f.Controller is { } c && disabled.Has(c));
        lock (_metaLock)
        {
            foreach (var child in children)
            {
                if (child.ViewState is not CgroupDir d)
                    continue;
                foreach (var f in Files)
                {
                    if (f.Controller is not { } owner)
                        continue;
                    if (disabled.Has(owner))
                        d.FileMetas?.Remove(f.Name);
                    else if (enabled.Has(owner))
                    {
                        d.FileMetas ??= new Dictionary<string, Meta>(StringComparer.Ordinal);
                        d.FileMetas[f.Name] = new Meta(f.Mode, uid, gid, now);
                    }
                }
            }
        }
    }

    /// <summary>Asks the kernel to forget cached entries of files that just disappeared. Only names
    /// we handed out a node for can be cached. <paramref name="wait"/> bounds how long the caller
    /// waits for the kernel to have taken them (it cannot while the caller's request holds the
    /// directory's lock, as an rmdir does).</summary>
    public void InvalidateCached(IEnumerable<Cgroup> cgroups, Func<InterfaceFile, bool> gone, TimeSpan? wait = null)
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
        Waiters.Kernel?.InvalidateEntries(names, wait ?? TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Migration permission (spec core.md 5.1): write access to cgroup.procs of the common
    /// ancestor for the opener's credentials. Called under the engine lock; takes only the meta leaf
    /// lock. In overlay mode the mode and owner are the real file's, read (statx) without any lock held.</summary>
    public bool MayWriteProcs(Cgroup g, Credentials who)
    {
        if (who.DacOverride)
            return true;
        Meta m;
        if (_real is not null)
            m = _real.Stat(RealPathOf(Dir(g), "cgroup.procs"), out var st) == Errno.Ok ? new Meta(st.Mode & 0xFFF, st.Uid, st.Gid, 0) : new Meta(0, 0, 0, 0);
        else
            lock (_metaLock)
                m = g.ViewState is CgroupDir d ? d.FileMeta(ProcsFile) : new Meta(0b110_100_100, 0, 0, 0);
        if (who.Uid == m.Uid)
            return (m.Mode & 0b010_000_000) != 0;
        if (who.InGroup(m.Gid))
            return (m.Mode & 0b000_010_000) != 0;
        return (m.Mode & 0b000_000_010) != 0;
    }

    // ---- extended attributes (user., trusted., security.) --------------------------------------------

    private static bool SupportedXattr(string name) =>
        name.StartsWith("user.", StringComparison.Ordinal) || name.StartsWith("trusted.", StringComparison.Ordinal) ||
        name.StartsWith("security.", StringComparison.Ordinal);

    /// <summary>The attributes an xattr call addresses (namespace checked unless listing), and the
    /// cgroup and target ("." or a file name) the journal records it under.</summary>
    private Errno XattrTarget(ulong node, string? name, bool forWrite, out Meta meta, out Cgroup cgroup, out string target)
    {
        (meta, cgroup, target) = (null!, null!, "");
        if (name is not null && !SupportedXattr(name))
            return Errno.EOPNOTSUPP;
        lock (_nodes)
        {
            if (!_nodes.TryGetValue(node, out var n))
                return Errno.ENOENT;
            (cgroup, target) = (n.Dir.Cgroup, n is FileNode f ? f.File.Name : ".");
            lock (_metaLock)
                meta = n is FileNode fn ? (forWrite ? fn.Dir.MutableFileMeta(fn.File) : fn.Dir.FileMeta(fn.File)) : n.Dir.Meta;
            return Errno.Ok;
        }
    }

    public int GetXattr(in Caller c, ulong node, string name, out byte[] value)
    {
        value = [];
        if (RealPathOfNode(node) is { } real)
        {
            (var re, value) = _real!.GetXattr(real, name);
            return (int)re;
        }
        if (XattrTarget(node, name, forWrite: false, out var m, out _, out _) is var e && e != Errno.Ok)
            return (int)e;
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
        if (RealPathOfNode(node) is { } real)
            return (int)_real!.SetXattr(real, name, value, flags);
        if (XattrTarget(node, name, forWrite: true, out var m, out var cgroup, out var target) is var e && e != Errno.Ok)
            return (int)e;
        var copy = value.ToArray();
        return (int)_changes.Commit(() => new XattrRecord(cgroup.Id, target, name, copy), () =>
        {
            lock (_metaLock)
            {
                m.Xattrs ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
                bool exists = m.Xattrs.ContainsKey(name);
                if ((flags & XATTR_CREATE) != 0 && exists)
                    return Errno.EEXIST;
                if ((flags & XATTR_REPLACE) != 0 && !exists)
                    return Errno.ENODATA;
                m.Xattrs[name] = copy;
                return Errno.Ok;
            }
        });
    }

    public int ListXattr(in Caller c, ulong node, out byte[] names)
    {
        names = [];
        if (RealPathOfNode(node) is { } real)
        {
            (var re, names) = _real!.ListXattr(real);
            return (int)re;
        }
        if (XattrTarget(node, null, forWrite: false, out var m, out _, out _) is var e && e != Errno.Ok)
            return (int)e;
        lock (_metaLock)
            names = m.Xattrs is null ? [] : Encoding.Latin1.GetBytes(string.Concat(m.Xattrs.Keys.Select(k => k + "\0")));
        return 0;
    }

    public int RemoveXattr(in Caller c, ulong node, string name)
    {
        if (RealPathOfNode(node) is { } real)
            return (int)_real!.RemoveXattr(real, name);
        if (XattrTarget(node, name, forWrite: false, out var m, out var cgroup, out var target) is var e && e != Errno.Ok)
            return (int)e;
        return (int)_changes.Commit(() => new XattrRecord(cgroup.Id, target, name, null), () =>
        {
            lock (_metaLock)
                return m.Xattrs is null || !m.Xattrs.Remove(name) ? Errno.ENODATA : Errno.Ok;
        });
    }
}
