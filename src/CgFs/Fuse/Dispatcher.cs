using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace CgFs.Fuse;

/// <summary>
/// Decodes one request, calls the filesystem, encodes the reply: bytes in, bytes out, no I/O,
/// so it is unit-testable on buffers. An exception from the filesystem is a bug: it is logged
/// and answered EIO, and never reaches the read loop.
/// </summary>
public sealed class Dispatcher(IFuseFileSystem fs, Action<string>? log = null)
{
    private const int EIO = 5, ENOSYS = 38, EINVAL = 22, ERANGE = 34, EPERM = 1;
    private static readonly Encoding Names = Encoding.Latin1;
    private static readonly int HeaderSize = Unsafe.SizeOf<InHeader>();
    private static readonly int OutHeaderSize = Unsafe.SizeOf<OutHeader>();

    /// <summary>Entry and attribute cache lifetime, in seconds (see <see cref="Fuse.CacheSeconds"/>).</summary>
    private const ulong Timeout = Fuse.CacheSeconds;

    /// <summary>Set once INIT has been answered.</summary>
    public bool Initialized { get; private set; }

    /// <summary>Handles one request in <paramref name="request"/>; writes the reply (if any) into
    /// <paramref name="reply"/> and returns its length, 0 when the operation has no reply.</summary>
    public int Handle(ReadOnlySpan<byte> request, Span<byte> reply)
    {
        if (request.Length < HeaderSize)
            return 0;
        var h = MemoryMarshal.Read<InHeader>(request);
        var body = request[HeaderSize..Math.Min((int)h.Len, request.Length)];
        var caller = new Caller(h.Uid, h.Gid, (int)h.Pid);
        var payload = reply[OutHeaderSize..];
        int error, length = 0;
        try
        {
            (error, length) = Dispatch(h, caller, body, payload);
        }
        catch (Exception e)
        {
            log?.Invoke($"bug: {h.Opcode} on node {h.NodeId} threw {e}");
            (error, length) = (EIO, 0);
        }
        if (error < 0)
            return 0; // no reply for this opcode
        if (error != 0)
            length = 0;
        var outHeader = new OutHeader { Len = (uint)(OutHeaderSize + length), Error = -error, Unique = h.Unique };
        MemoryMarshal.Write(reply, in outHeader);
        return OutHeaderSize + length;
    }

    private const int NoReply = -1;

    private (int Error, int Length) Dispatch(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        switch (h.Opcode)
        {
            case Opcode.Init:
                return Init(body, o);
            case Opcode.Lookup:
            {
                int e = fs.Lookup(c, h.NodeId, Name(body), out var entry);
                return e != 0 ? (e, 0) : (0, WriteEntry(o, entry));
            }
            case Opcode.Forget:
                fs.Forget(h.NodeId, Read<ForgetIn>(body).NLookup);
                return (NoReply, 0);
            case Opcode.BatchForget:
            {
                var b = Read<BatchForgetIn>(body);
                var items = MemoryMarshal.Cast<byte, ForgetOne>(body[Unsafe.SizeOf<BatchForgetIn>()..]);
                for (int i = 0; i < b.Count && i < items.Length; i++)
                    fs.Forget(items[i].NodeId, items[i].NLookup);
                return (NoReply, 0);
            }
            case Opcode.GetAttr:
            {
                int e = fs.GetAttr(c, h.NodeId, out var attr);
                return e != 0 ? (e, 0) : (0, WriteAttr(o, attr));
            }
            case Opcode.SetAttr:
            {
                int e = fs.SetAttr(c, h.NodeId, Read<SetAttrIn>(body), out var attr);
                return e != 0 ? (e, 0) : (0, WriteAttr(o, attr));
            }
            case Opcode.MkDir:
            {
                var m = Read<MkDirIn>(body);
                int e = fs.MkDir(c, h.NodeId, Name(body[Unsafe.SizeOf<MkDirIn>()..]), m.Mode & ~m.Umask, out var entry);
                return e != 0 ? (e, 0) : (0, WriteEntry(o, entry));
            }
            case Opcode.MkNod:
                return (fs.CreateNode(c, h.NodeId, Name(body[Unsafe.SizeOf<MkNodIn>()..]), h.Opcode), 0);
            case Opcode.Create:
                return (fs.CreateNode(c, h.NodeId, Name(body[Unsafe.SizeOf<CreateIn>()..]), h.Opcode), 0);
            case Opcode.Symlink:
            case Opcode.Link:
            case Opcode.TmpFile:
                return (fs.CreateNode(c, h.NodeId, "", h.Opcode), 0);
            case Opcode.Unlink:
                return (fs.Unlink(c, h.NodeId, Name(body)), 0);
            case Opcode.RmDir:
                return (fs.RmDir(c, h.NodeId, Name(body)), 0);
            case Opcode.Rename:
            {
                var r = Read<RenameIn>(body);
                var (from, to) = TwoNames(body[Unsafe.SizeOf<RenameIn>()..]);
                return (fs.Rename(c, h.NodeId, from, r.NewDir, to), 0);
            }
            case Opcode.Rename2:
            {
                var r = Read<Rename2In>(body);
                var (from, to) = TwoNames(body[Unsafe.SizeOf<Rename2In>()..]);
                return (fs.Rename(c, h.NodeId, from, r.NewDir, to), 0);
            }
            case Opcode.Open:
            {
                int e = fs.Open(c, h.NodeId, (int)Read<OpenIn>(body).Flags, out ulong fh);
                if (e != 0)
                    return (e, 0);
                // Sizes are 0, so without direct I/O the page cache would serve empty reads.
                return (0, Write(o, new OpenOut { Fh = fh, OpenFlags = Fuse.FopenDirectIo }));
            }
            case Opcode.Read:
            {
                var r = Read<ReadIn>(body);
                int e = fs.Read(c, h.NodeId, r.Fh, (long)r.Offset, (int)Math.Min(r.Size, (uint)o.Length), out var data);
                if (e != 0)
                    return (e, 0);
                int n = Math.Min(data.Length, Math.Min((int)r.Size, o.Length));
                data.Span[..n].CopyTo(o);
                return (0, n);
            }
            case Opcode.Write:
            {
                var w = Read<WriteIn>(body);
                var data = body[Unsafe.SizeOf<WriteIn>()..];
                data = data[..Math.Min((int)w.Size, data.Length)];
                int e = fs.Write(c, h.NodeId, w.Fh, (long)w.Offset, data);
                return e != 0 ? (e, 0) : (0, Write(o, new WriteOut { Size = (uint)data.Length }));
            }
            case Opcode.Release:
                fs.Release(h.NodeId, Read<ReleaseIn>(body).Fh);
                return (0, 0);
            case Opcode.Flush:
                // Answered ENOSYS once, the kernel stops sending FLUSH (saves a round trip per close).
                return (ENOSYS, 0);
            case Opcode.Fsync:
            case Opcode.FsyncDir:
                return (0, 0);
            case Opcode.OpenDir:
            {
                int e = fs.OpenDir(c, h.NodeId, out ulong fh);
                return e != 0 ? (e, 0) : (0, Write(o, new OpenOut { Fh = fh }));
            }
            case Opcode.ReadDir:
            case Opcode.ReadDirPlus:
                return ReadDir(h, c, Read<ReadIn>(body), o);
            case Opcode.ReleaseDir:
                fs.ReleaseDir(h.NodeId, Read<ReleaseIn>(body).Fh);
                return (0, 0);
            case Opcode.StatFs:
            {
                int e = fs.StatFs(h.NodeId, out var st);
                return e != 0 ? (e, 0) : (0, Write(o, st));
            }
            case Opcode.Access:
                return (0, 0);
            case Opcode.GetXattr:
            {
                var g = Read<GetXattrIn>(body);
                int e = fs.GetXattr(c, h.NodeId, Name(body[Unsafe.SizeOf<GetXattrIn>()..]), out var value);
                return e != 0 ? (e, 0) : SizedReply(o, g.Size, value);
            }
            case Opcode.ListXattr:
            {
                var g = Read<GetXattrIn>(body);
                int e = fs.ListXattr(c, h.NodeId, out var names);
                return e != 0 ? (e, 0) : SizedReply(o, g.Size, names);
            }
            case Opcode.SetXattr:
            {
                // Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat header.
                var s = Read<GetXattrIn>(body);
                var rest = body[8..];
                int nul = rest.IndexOf((byte)0);
                if (nul < 0)
                    return (EINVAL, 0);
                var value = rest[(nul + 1)..];
                value = value[..Math.Min((int)s.Size, value.Length)];
                return (fs.SetXattr(c, h.NodeId, Names.GetString(rest[..nul]), value, (int)s.Padding), 0);
            }
            case Opcode.RemoveXattr:
                return (fs.RemoveXattr(c, h.NodeId, Name(body)), 0);
            case Opcode.Poll:
            {
                var p = Read<PollIn>(body);
                int e = fs.Poll(c, h.NodeId, p.Fh, p.Kh, (p.Flags & Fuse.PollScheduleNotify) != 0, out uint revents);
                return e != 0 ? (e, 0) : (0, Write(o, new PollOut { Revents = revents }));
            }
            case Opcode.Interrupt:
                // Every request is answered promptly on its reader thread; nothing to interrupt.
                return (NoReply, 0);
            case Opcode.Destroy:
                return (0, 0);
            case Opcode.NotifyReply:
                return (NoReply, 0);
            default:
                return (ENOSYS, 0);
        }
    }

    private (int, int) Init(ReadOnlySpan<byte> body, Span<byte> o)
    {
        var i = Read<InitIn>(body);
        if (i.Major != Fuse.KernelVersion)
            return (EPERM, 0);
        var reply = new InitOut
        {
            Major = Fuse.KernelVersion,
            Minor = Math.Min(i.Minor, Fuse.KernelMinorVersion),
            MaxReadahead = i.MaxReadahead,
            // ATOMIC_O_TRUNC: `echo >` then opens with O_TRUNC in one request instead of a SETATTR.
            // READDIRPLUS_AUTO: the kernel sends READDIRPLUS when a listing is followed by stats (ls -l).
            Flags = i.Flags & (Fuse.AtomicOTrunc | Fuse.BigWrites | Fuse.MaxPages | Fuse.ParallelDirops | Fuse.AsyncRead |
                               Fuse.DoReaddirplus | Fuse.ReaddirplusAuto),
            MaxBackground = 64,
            CongestionThreshold = 48,
            MaxWrite = Fuse.MaxWrite,
            TimeGran = 1,
            MaxPages = (ushort)(Fuse.MaxWrite / 4096),
        };
        Initialized = true;
        return (0, Write(o, reply));
    }

    private (int, int) ReadDir(in InHeader h, in Caller c, in ReadIn r, Span<byte> o)
    {
        int e = fs.ReadDir(h.NodeId, r.Fh, out var entries);
        if (e != 0)
            return (e, 0);
        bool plus = h.Opcode == Opcode.ReadDirPlus;
        int limit = Math.Min((int)r.Size, o.Length), used = 0;
        for (long i = (long)r.Offset; i < entries.Count; i++)
        {
            var d = entries[(int)i];
            int nameLen = Names.GetByteCount(d.Name);
            int direntSize = Align8(Unsafe.SizeOf<DirentHeader>() + nameLen);
            int size = plus ? Unsafe.SizeOf<EntryOut>() + direntSize : direntSize;
            if (used + size > limit)
                break;
            var slot = o[used..(used + size)];
            slot.Clear();
            ulong ino = d.Ino;
            if (plus)
            {
                var entry = new EntryOut();
                // "." and ".." carry no entry: the kernel does not take a lookup reference on them.
                if (d.Name is not ("." or "..") && fs.Lookup(c, h.NodeId, d.Name, out var looked) == 0)
                {
                    entry = MakeEntry(looked);
                    ino = looked.Attr.Ino;
                }
                MemoryMarshal.Write(slot, in entry);
                slot = slot[Unsafe.SizeOf<EntryOut>()..];
            }
            var dh = new DirentHeader { Ino = ino, Off = (ulong)(i + 1), NameLen = (uint)nameLen, Type = d.IsDirectory ? 4u : 8u };
            MemoryMarshal.Write(slot, in dh);
            Names.GetBytes(d.Name, slot[Unsafe.SizeOf<DirentHeader>()..]);
            used += size;
        }
        return (0, used);
    }

    private static (int, int) SizedReply(Span<byte> o, uint size, byte[] value)
    {
        if (size == 0)
            return (0, Write(o, new GetXattrOut { Size = (uint)value.Length }));
        if (value.Length > size)
            return (ERANGE, 0);
        value.CopyTo(o);
        return (0, value.Length);
    }

    private static int Align8(int n) => (n + 7) & ~7;

    private static EntryOut MakeEntry(in Entry e) => new()
    {
        NodeId = e.NodeId, EntryValid = Timeout, AttrValid = Timeout, Attr = e.Attr,
    };

    private static int WriteEntry(Span<byte> o, in Entry e) => Write(o, MakeEntry(e));

    private static int WriteAttr(Span<byte> o, in FuseAttr a) => Write(o, new AttrOut { AttrValid = Timeout, Attr = a });

    private static int Write<T>(Span<byte> o, in T value) where T : unmanaged
    {
        MemoryMarshal.Write(o, in value);
        return Unsafe.SizeOf<T>();
    }

    /// <summary>Reads a struct, zero-extending a shorter body (older kernels send shorter structs).</summary>
    private static T Read<T>(ReadOnlySpan<byte> body) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (body.Length >= size)
            return MemoryMarshal.Read<T>(body);
        Span<byte> padded = stackalloc byte[size];
        body.CopyTo(padded);
        return MemoryMarshal.Read<T>(padded);
    }

    private static string Name(ReadOnlySpan<byte> body)
    {
        int nul = body.IndexOf((byte)0);
        return Names.GetString(nul < 0 ? body : body[..nul]);
    }

    private static (string, string) TwoNames(ReadOnlySpan<byte> body)
    {
        int nul = body.IndexOf((byte)0);
        if (nul < 0)
            return (Names.GetString(body), "");
        return (Names.GetString(body[..nul]), Name(body[(nul + 1)..]));
    }
}
