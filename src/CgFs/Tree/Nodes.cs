using CgFs.Accounting;

namespace CgFs.Tree;

/// <summary>Attributes cgfs keeps for a file or directory: mode bits, owner, times, xattrs.</summary>
public sealed class Meta(uint mode, uint uid, uint gid, long timeNs)
{
    public uint Mode = mode;
    public uint Uid = uid;
    public uint Gid = gid;
    public long AtimeNs = timeNs, MtimeNs = timeNs, CtimeNs = timeNs;
    public Dictionary<string, byte[]>? Xattrs;
}

/// <summary>The view's per-cgroup state (kept in <see cref="Cgroup.ViewState"/>): the directory's
/// attributes, attributes of files that differ from their defaults, and node ids handed out.</summary>
public sealed class CgroupDir(Cgroup cgroup, Meta meta)
{
    public Cgroup Cgroup { get; } = cgroup;
    public Meta Meta { get; } = meta;
    /// <summary>Who created the cgroup: default owner of its files (spec core.md 1.2).</summary>
    public uint CreatorUid { get; init; }
    public uint CreatorGid { get; init; }
    public long CreatedNs { get; init; }
    /// <summary>Files whose owner, mode, times or xattrs differ from the defaults; most cgroups have none.</summary>
    public Dictionary<string, Meta>? FileMetas;
    public DirNode? Node;
    public readonly Dictionary<string, FileNode> FileNodes = new(StringComparer.Ordinal);
    /// <summary>cgroup.pressure: whether the *.pressure files are shown.</summary>
    public bool PressureVisible = true;
    /// <summary>Overlay mode: the real directory's path relative to the real root ("" for the
    /// root), and its inode number (a directory made again under the same name is another cgroup).</summary>
    public string? RealPath { get; init; }
    public ulong RealIno { get; init; }
    /// <summary>Overlay mode: nodes of the real directory's own interface files, by name.</summary>
    public readonly Dictionary<string, RealFileNode> RealNodes = new(StringComparer.Ordinal);

    public Meta FileMeta(InterfaceFile f) =>
        FileMetas is not null && FileMetas.TryGetValue(f.Name, out var m) ? m : new Meta(f.Mode, CreatorUid, CreatorGid, CreatedNs);

    public Meta MutableFileMeta(InterfaceFile f)
    {
        FileMetas ??= new Dictionary<string, Meta>(StringComparer.Ordinal);
        if (!FileMetas.TryGetValue(f.Name, out var m))
            FileMetas[f.Name] = m = new Meta(f.Mode, CreatorUid, CreatorGid, CreatedNs);
        return m;
    }
}

/// <summary>A FUSE node: a cgroup directory or one interface file of one cgroup.</summary>
public abstract class Node(ulong id, CgroupDir dir)
{
    public ulong Id { get; } = id;
    public CgroupDir Dir { get; } = dir;
    /// <summary>The kernel's lookup count; the node is dropped when FORGET brings it to 0.</summary>
    public ulong Lookups;
}

public sealed class DirNode(ulong id, CgroupDir dir) : Node(id, dir);

public sealed class FileNode(ulong id, CgroupDir dir, InterfaceFile file) : Node(id, dir)
{
    public InterfaceFile File { get; } = file;
}

/// <summary>Overlay mode: one of the kernel's own interface files, passed through to the real file.</summary>
public sealed class RealFileNode(ulong id, CgroupDir dir, string name) : Node(id, dir)
{
    public string Name { get; } = name;
}
