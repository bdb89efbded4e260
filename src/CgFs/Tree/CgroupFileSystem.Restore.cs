using CgFs.Accounting;
using CgFs.Host;

namespace CgFs.Tree;

/// <summary>Restoring state: the --state journal replays through these, bypassing the kernel but not the grammars.</summary>
public sealed partial class CgroupFileSystem
{
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
