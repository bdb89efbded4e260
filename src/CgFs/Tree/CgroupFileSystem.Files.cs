using System.Text;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Host;
using CgFs.Parsing;

namespace CgFs.Tree;

/// <summary>Open files and directories: reads at offset 0 render, writes are one command each, poll reports change generations, readdir snapshots at opendir.</summary>
public sealed partial class CgroupFileSystem
{
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
            if (n is RealFileNode rn)
                return OpenReal(rn, flags, out fh);
            if (n is not FileNode f)
                return (int)Errno.EISDIR;
            fn = f;
            var (present, s) = Engine.Run(() => (PresentLocked(f.File, f.Dir),
                f.File.Controller is null ? null : Engine.StateLocked(f.Dir.Cgroup, f.File.Controller)));
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
        f.Node.File.Controller is { } owner && !ReferenceEquals(Engine.StateLocked(f.Node.Dir.Cgroup, owner), f.State));

    private FileContext Context(OpenFile f, in Caller c) =>
        new(f.Node.Dir.Cgroup, f.Node.Dir, f.State, new Writer(c.Tid, c.Uid, c.Gid), f.Opener, Services);

    /// <summary>A read at offset 0 renders the current state; later offsets continue that snapshot (seq_file).</summary>
    public int Read(in Caller c, ulong node, ulong fh, long offset, int size, out ReadOnlyMemory<byte> data)
    {
        data = ReadOnlyMemory<byte>.Empty;
        if (_openReal.TryGetValue(fh, out var real))
            return ReadReal(real, offset, size, out data);
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
        if (_openReal.TryGetValue(fh, out var real))
        {
            var e = RealCgroups.WriteOnce(real.Fd, data);
            if (e == Errno.Ok)
                RealFilesMayHaveVanished([real.Node.Dir.Cgroup]); // cgroup.pressure hides files of its own cgroup only
            return (int)e;
        }
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
        var context = Context(f, c);
        var (uid, gid) = (c.Uid, c.Gid);
        return (int)(file.Journaled
            ? _changes.Commit(() => new WriteRecord(context.Cgroup.Id, file.Name, uid, gid, text), () => file.Write(context, text))
            : file.Write(context, text));
    }

    public void Release(ulong node, ulong fh)
    {
        if (_openReal.TryRemove(fh, out var real))
            ReleaseReal(real);
        if (_open.TryRemove(fh, out var f) && f.PollHandle is { } kh && f.Node.File.Notifies is { } n)
            Waiters.Remove(f.Node.Dir.Cgroup, n, kh);
    }

    public int Poll(in Caller c, ulong node, ulong fh, ulong kh, bool scheduleNotify, out uint revents)
    {
        revents = DefaultPollMask;
        if (_openReal.TryGetValue(fh, out var real))
            return PollReal(real, kh, scheduleNotify, out revents);
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
        {
            Waiters.Add(cg, n, kh);
            f.PollHandle = kh;
        }
        if (Engine.Run(() => Engine.GenerationLocked(cg, n)) != f.SeenGeneration)
            revents |= PollPriErr;
        return 0;
    }

    // ---- directories ------------------------------------------------------------------------------

    public int OpenDir(in Caller c, ulong node, out ulong fh)
    {
        fh = 0;
        if (_real is not null)
        {
            CgroupDir dir;
            lock (_nodes)
                if (DirLocked(node, out dir) is var err && err != Errno.Ok)
                    return (int)err;
            var listing = ListOverlay(dir);
            fh = (ulong)Interlocked.Increment(ref _nextFh);
            _dirs[fh] = listing;
            return 0;
        }
        lock (_nodes)
        {
            if (DirLocked(node, out var d) is var err && err != Errno.Ok)
                return (int)err;
            var entries = Engine.Run(() =>
            {
                // glibc's readdir drops entries whose inode is 0, so ".." needs a real one.
                var list = new List<DirEntry>(2 + Files.Length + Engine.ChildCountLocked(d.Cgroup))
                    { new(".", Ino(d.Cgroup), true), new("..", Ino(d.Cgroup.Parent ?? d.Cgroup), true) };
                if (d.Cgroup.Removed)
                    return list;
                for (int i = 0; i < Files.Length; i++)
                    if (PresentLocked(Files[i], d))
                        list.Add(new DirEntry(Files[i].Name, Ino(d.Cgroup, i), false));
                foreach (var child in Engine.ChildrenViewLocked(d.Cgroup))
                    list.Add(new DirEntry(child.Name, Ino(child), true));
                return list;
            });
            fh = (ulong)Interlocked.Increment(ref _nextFh);
            _dirs[fh] = entries;
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
}
