namespace CgFs.Fuse;

/// <summary>Who sent a request: fsuid/fsgid and the calling *thread* id (FUSE reports a tid).</summary>
public readonly record struct Caller(uint Uid, uint Gid, int Tid);

/// <summary>An entry returned by LOOKUP/MKDIR/CREATE: a node id the kernel will FORGET later.</summary>
public record struct Entry(ulong NodeId, FuseAttr Attr);

/// <summary>One directory entry of a READDIR snapshot.</summary>
public readonly record struct DirEntry(string Name, ulong Ino, bool IsDirectory);

/// <summary>Sends unsolicited notifications to the kernel (FUSE_NOTIFY_*).</summary>
public interface IFuseNotifier
{
    /// <summary>Wakes the pollers registered under a poll handle (FUSE_NOTIFY_POLL).</summary>
    void NotifyPoll(ulong kh);

    /// <summary>Drops the kernel's cached dentries of these names (FUSE_NOTIFY_INVAL_ENTRY). Sent from
    /// another thread — the kernel takes each directory's lock, which a process waiting on one of
    /// our readers may hold — and awaited at most <paramref name="wait"/>, so a change is visible
    /// when the request that made it returns, without risking a deadlock of the readers.</summary>
    void InvalidateEntries(IReadOnlyList<(ulong Parent, string Name)> entries, TimeSpan wait);
}

/// <summary>
/// What the protocol layer asks of a filesystem: one method per FUSE operation, names in
/// bytes-as-Latin-1 strings, results as positive errno (0 = success). The protocol layer knows
/// nothing of what the filesystem means. Implementations must be thread-safe: requests are
/// served concurrently, each on the thread that read it.
/// </summary>
public interface IFuseFileSystem
{
    int Lookup(in Caller c, ulong parent, string name, out Entry entry);
    void Forget(ulong node, ulong nlookup);
    int GetAttr(in Caller c, ulong node, out FuseAttr attr);
    int SetAttr(in Caller c, ulong node, in SetAttrIn change, out FuseAttr attr);
    int MkDir(in Caller c, ulong parent, string name, uint mode, out Entry entry);
    /// <summary>MKNOD and CREATE of a regular file (and SYMLINK, LINK) — creating names.</summary>
    int CreateNode(in Caller c, ulong parent, string name, Opcode op);
    int Unlink(in Caller c, ulong parent, string name);
    int RmDir(in Caller c, ulong parent, string name);
    int Rename(in Caller c, ulong parent, string name, ulong newParent, string newName);
    int Open(in Caller c, ulong node, int flags, out ulong fh);
    int Read(in Caller c, ulong node, ulong fh, long offset, int size, out ReadOnlyMemory<byte> data);
    int Write(in Caller c, ulong node, ulong fh, long offset, ReadOnlySpan<byte> data);
    void Release(ulong node, ulong fh);
    int OpenDir(in Caller c, ulong node, out ulong fh);
    int ReadDir(ulong node, ulong fh, out IReadOnlyList<DirEntry> entries);
    void ReleaseDir(ulong node, ulong fh);
    int StatFs(ulong node, out KStatFs st);
    int GetXattr(in Caller c, ulong node, string name, out byte[] value);
    int SetXattr(in Caller c, ulong node, string name, ReadOnlySpan<byte> value, int flags);
    int ListXattr(in Caller c, ulong node, out byte[] names);
    int RemoveXattr(in Caller c, ulong node, string name);
    int Poll(in Caller c, ulong node, ulong fh, ulong kh, bool scheduleNotify, out uint revents);

    /// <summary>How long the kernel may cache entries and attributes: long when the filesystem tells
    /// the kernel of every change itself, short when files can change behind its back.</summary>
    ulong CacheSeconds => Fuse.CacheSeconds;
}

/// <summary>Told of each request a dispatcher served: its opcode, its errno (0: done; negative: no
/// reply) and how long the filesystem took, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
public interface IRequestObserver
{
    void Served(Opcode opcode, int error, long ticks);
}
