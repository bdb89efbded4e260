using CgFs.Accounting;
using CgFs.Host;

namespace CgFs.Tree;

/// <summary>Restoring state: the --state journal replays through these, bypassing the kernel but not the grammars.</summary>
public sealed partial class CgroupFileSystem
{
    // ---- restoring state (the journal replays through these) ------------------------------------

    /// <summary>Creates a cgroup as a replayed mkdir; null if it cannot exist any more. In overlay
    /// mode the record names a real directory: the mirror of the one there now, if it is that very
    /// directory (the same inode; one made again while cgfs was down is a new cgroup).</summary>
    public Cgroup? RestoreMkdir(Cgroup parent, string name, uint mode, uint uid, uint gid, ulong? ino = null)
    {
        if (_real is not null)
            return Engine.Run(() => Engine.ChildLocked(parent, name)) is { } c && (ino is null || Dir(c).RealIno == ino) ? c : null;
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

    /// <summary>A replayed rmdir. In overlay mode the cgroup the record meant is gone; a real
    /// directory there now was made since, a new cgroup: its mirror starts over with no cgfs state.</summary>
    public Errno RestoreRmdir(Cgroup c)
    {
        if (_real is null)
            return Engine.Run(() => Engine.RmdirLocked(c));
        var dropped = new List<(Cgroup, ulong?)>();
        lock (_nodes)
        {
            if (c.Removed || c.Parent is null)
                return Errno.Ok;
            var parent = Dir(c.Parent);
            DropMirrorLocked(c, dropped);
            if (_real.Stat(RealPathOf(parent, c.Name), out var st) == Errno.Ok && st.IsDirectory)
                dropped.AddRange(SyncChildLocked(parent, c.Name, st).Dropped);
        }
        Forgotten(dropped);
        return Errno.Ok;
    }

    /// <summary>Replays a write through the file's own handler, as root.</summary>
    public Errno RestoreWrite(Cgroup c, string fileName, string text, uint uid, uint gid)
    {
        if (!FilesByName.TryGetValue(fileName, out var f) || f.File.Write is null || c.ViewState is not CgroupDir d)
            return Errno.ENOENT;
        var state = f.File.Controller is { } owner ? Engine.Run(() => Engine.StateLocked(c, owner)) : null;
        if (f.File.Controller is not null && state is null)
            return Errno.ENOENT;
        return f.File.Write(new FileContext(c, d, state, new Writer(0, uid, gid), Credentials.Root, Services), text);
    }

    /// <summary>The attributes of "." (the directory) or of a named file of a cgroup; needs the meta lock.</summary>
    private Meta? TargetMetaLocked(Cgroup c, string target)
    {
        System.Diagnostics.Debug.Assert(Monitor.IsEntered(_metaLock), "meta lock not held");
        return c.ViewState is not CgroupDir d ? null
        : target == "." ? d.Meta
        : FilesByName.TryGetValue(target, out var f) ? d.MutableFileMeta(f.File) : null;
    }

    public bool RestoreMeta(Cgroup c, string target, uint mode, uint uid, uint gid)
    {
        if (_real is not null && !(FilesByName.TryGetValue(target, out var own) && own.File.Controller is not null))
            return true; // the real file's own attributes are the kernel's

        lock (_metaLock)
        {
            if (TargetMetaLocked(c, target) is not { } m)
                return false;
            (m.Mode, m.Uid, m.Gid) = (mode, uid, gid);
            return true;
        }
    }

    /// <summary>Sets an extended attribute, or removes it when <paramref name="value"/> is null.</summary>
    public bool RestoreXattr(Cgroup c, string target, string name, byte[]? value)
    {
        lock (_metaLock)
        {
            var m = TargetMetaLocked(c, target);
            if (m is null)
                return false;
            m.Xattrs ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
            if (value is null)
                m.Xattrs.Remove(name);
            else
                m.Xattrs[name] = value;
            return true;
        }
    }

    /// <summary>What the view adds to a cgroup's engine state: its creator, PSI visibility, and the
    /// attributes of "." (first) and of files that differ from their defaults.</summary>
    /// <param name="RealIno">Overlay mode: the mirrored real directory's inode number.</param>
    public sealed record CgroupView(uint CreatorUid, uint CreatorGid, bool Pressure,
        List<(string Target, uint Mode, uint Uid, uint Gid, Dictionary<string, byte[]>? Xattrs)> Metas, ulong? RealIno = null);

    public CgroupView ViewOf(Cgroup c)
    {
        var d = (CgroupDir)c.ViewState!;
        lock (_metaLock)
        {
            var metas = new List<(string, uint, uint, uint, Dictionary<string, byte[]>?)> { (".", d.Meta.Mode, d.Meta.Uid, d.Meta.Gid, d.Meta.Xattrs is null ? null : new(d.Meta.Xattrs)) };
            if (d.FileMetas is not null)
                foreach (var (name, m) in d.FileMetas)
                    metas.Add((name, m.Mode, m.Uid, m.Gid, m.Xattrs is null ? null : new(m.Xattrs)));
            return new CgroupView(d.CreatorUid, d.CreatorGid, d.PressureVisible, metas, _real is null ? null : d.RealIno);
        }
    }
}
