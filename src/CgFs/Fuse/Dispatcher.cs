using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace CgFs.Fuse;

/// <summary>
/// Decodes one request, calls the filesystem, encodes the reply: bytes in, bytes out, no I/O,
/// so it is unit-testable on buffers. An exception from the filesystem is a bug: it is logged
/// and answered EIO, and never reaches the read loop.
/// </summary>
public sealed partial class Dispatcher
{
    private readonly IFuseFileSystem fs;
    private readonly Action<string>? log;

    public Dispatcher(IFuseFileSystem fs, Action<string>? log = null)
    {
        this.fs = fs;
        Timeout = fs.CacheSeconds;
        this.log = log;
        Register();
    }

    private const int EIO = 5, ENOSYS = 38, EINVAL = 22, ERANGE = 34, EPERM = 1;
    private static readonly Encoding Names = Encoding.Latin1;
    private static readonly int HeaderSize = Unsafe.SizeOf<InHeader>();
    private static readonly int OutHeaderSize = Unsafe.SizeOf<OutHeader>();

    /// <summary>Entry and attribute cache lifetime, in seconds (the filesystem's <see cref="IFuseFileSystem.CacheSeconds"/>).</summary>
    private readonly ulong Timeout;

    /// <summary>Handles one request in <paramref name="request"/> (header and body, as read from
    /// /dev/fuse); writes the reply (if any) into <paramref name="reply"/> and returns its length,
    /// 0 when the operation has no reply.</summary>
    public int Handle(ReadOnlySpan<byte> request, Span<byte> reply)
    {
        if (request.Length < HeaderSize)
            return 0;
        var h = MemoryMarshal.Read<InHeader>(request);
        var body = request[HeaderSize..Math.Min((int)h.Len, request.Length)];
        if (!Serve(h, body, reply[OutHeaderSize..], out var outHeader))
            return 0;
        MemoryMarshal.Write(reply, in outHeader);
        return (int)outHeader.Len;
    }

    /// <summary>Serves one request whose header and body arrived apart (FUSE over io_uring):
    /// the reply's payload goes into <paramref name="payload"/>, its header into
    /// <paramref name="reply"/>; false when the operation has no reply.</summary>
    public bool Serve(in InHeader h, ReadOnlySpan<byte> body, Span<byte> payload, out OutHeader reply)
    {
        var caller = new Caller(h.Uid, h.Gid, (int)h.Pid);
        int error, length = 0;
        long start = Observer is null ? 0 : Stopwatch.GetTimestamp();
        try
        {
            (error, length) = Dispatch(h, caller, body, payload);
        }
        catch (Exception e)
        {
            log?.Invoke($"bug: {h.Opcode} on node {h.NodeId} threw {e}");
            (error, length) = (EIO, 0);
        }
        Observer?.Served(h.Opcode, error, Stopwatch.GetTimestamp() - start);
        reply = default;
        if (error < 0)
            return false; // no reply for this opcode
        if (error != 0)
            length = 0;
        reply = new OutHeader { Len = (uint)(OutHeaderSize + length), Error = -error, Unique = h.Unique };
        return true;
    }

    /// <summary>Told of every request served (metrics); null: nothing is measured.</summary>
    public IRequestObserver? Observer { get; set; }

    /// <summary>The transport's say in INIT: given what the kernel offers, the flags2 bits it
    /// takes (FUSE_OVER_IO_URING when it has set up its rings).</summary>
    public Func<InitIn, uint>? NegotiateTransport { get; set; }

    private const int NoReply = -1;

    /// <summary>One opcode's handler: decodes <paramref name="body"/>, calls the filesystem, encodes
    /// into <paramref name="o"/>; returns the errno (<see cref="NoReply"/>: no reply) and the length.</summary>
    private delegate (int Error, int Length) Handler(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o);

    /// <summary>Indexed by opcode; null answers ENOSYS.</summary>
    private readonly Handler?[] _handlers = new Handler?[64];

    private (int Error, int Length) Dispatch(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o) =>
        (uint)h.Opcode < (uint)_handlers.Length && _handlers[(int)h.Opcode] is { } handler ? handler(h, c, body, o) : (ENOSYS, 0);

    /// <summary>The opcode table (go-fuse: operationHandlers in opcode.go).</summary>
    private void Register()
    {
        _handlers[(int)Opcode.Init] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => Init(b, o);
        _handlers[(int)Opcode.Lookup] = Lookup;
        _handlers[(int)Opcode.Forget] = Forget;
        _handlers[(int)Opcode.BatchForget] = BatchForget;
        _handlers[(int)Opcode.GetAttr] = GetAttr;
        _handlers[(int)Opcode.SetAttr] = SetAttr;
        _handlers[(int)Opcode.MkDir] = MkDir;
        _handlers[(int)Opcode.MkNod] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) =>
            (fs.CreateNode(c, h.NodeId, Name(b[Unsafe.SizeOf<MkNodIn>()..]), h.Opcode), 0);
        _handlers[(int)Opcode.Create] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) =>
            (fs.CreateNode(c, h.NodeId, Name(b[Unsafe.SizeOf<CreateIn>()..]), h.Opcode), 0);
        _handlers[(int)Opcode.Symlink] = _handlers[(int)Opcode.Link] = _handlers[(int)Opcode.TmpFile] =
            (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (fs.CreateNode(c, h.NodeId, "", h.Opcode), 0);
        _handlers[(int)Opcode.Unlink] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (fs.Unlink(c, h.NodeId, Name(b)), 0);
        _handlers[(int)Opcode.RmDir] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (fs.RmDir(c, h.NodeId, Name(b)), 0);
        _handlers[(int)Opcode.Rename] = Rename;
        _handlers[(int)Opcode.Rename2] = Rename2;
        _handlers[(int)Opcode.Open] = Open;
        _handlers[(int)Opcode.Read] = ReadData;
        _handlers[(int)Opcode.Write] = WriteData;
        _handlers[(int)Opcode.Release] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) =>
        {
            fs.Release(h.NodeId, Read<ReleaseIn>(b).Fh);
            return (0, 0);
        };
        // Answered ENOSYS once, the kernel stops sending FLUSH (saves a round trip per close).
        _handlers[(int)Opcode.Flush] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (ENOSYS, 0);
        _handlers[(int)Opcode.Fsync] = _handlers[(int)Opcode.FsyncDir] = _handlers[(int)Opcode.Access] = _handlers[(int)Opcode.Destroy] =
            (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (0, 0);
        _handlers[(int)Opcode.OpenDir] = OpenDir;
        _handlers[(int)Opcode.ReadDir] = _handlers[(int)Opcode.ReadDirPlus] =
            (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => ReadDir(h, c, Read<ReadIn>(b), o);
        _handlers[(int)Opcode.ReleaseDir] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) =>
        {
            ulong fh = Read<ReleaseIn>(b).Fh;
            _listings.TryRemove(fh, out _);
            fs.ReleaseDir(h.NodeId, fh);
            return (0, 0);
        };
        _handlers[(int)Opcode.StatFs] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) =>
            fs.StatFs(h.NodeId, out var st) is var e && e != 0 ? (e, 0) : (0, Write(o, st));
        _handlers[(int)Opcode.GetXattr] = GetXattr;
        _handlers[(int)Opcode.ListXattr] = ListXattr;
        _handlers[(int)Opcode.SetXattr] = SetXattr;
        _handlers[(int)Opcode.RemoveXattr] = (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (fs.RemoveXattr(c, h.NodeId, Name(b)), 0);
        _handlers[(int)Opcode.Poll] = Poll;
        // Every request is answered promptly on its reader thread; nothing to interrupt.
        _handlers[(int)Opcode.Interrupt] = _handlers[(int)Opcode.NotifyReply] =
            (in InHeader h, in Caller c, ReadOnlySpan<byte> b, Span<byte> o) => (NoReply, 0);
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
        if (NegotiateTransport?.Invoke(i) is uint flags2 and not 0)
        {
            reply.Flags |= Fuse.InitExt;
            reply.Flags2 = flags2;
        }
        return (0, Write(o, reply));
    }

    /// <summary>Open directories' encoded listings, made at their first plain READDIR, dropped at RELEASEDIR.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, DirentStream> _listings = new();

    private (int, int) ReadDir(in InHeader h, in Caller c, in ReadIn r, Span<byte> o)
    {
        int e = fs.ReadDir(h.NodeId, r.Fh, out var entries);
        if (e != 0)
            return (e, 0);
        int limit = Math.Min((int)r.Size, o.Length);
        if (h.Opcode != Opcode.ReadDirPlus)
            return (0, _listings.GetOrAdd(r.Fh, _ => new DirentStream(entries)).CopyFrom((long)r.Offset, o, limit));
        int used = 0;
        for (long i = (long)r.Offset; i < entries.Count; i++)
        {
            var d = entries[(int)i];
            int size = Unsafe.SizeOf<EntryOut>() + DirentStream.Size(d.Name);
            if (used + size > limit)
                break;
            var slot = o[used..(used + size)];
            var entry = new EntryOut();
            ulong ino = d.Ino;
            // "." and ".." carry no entry: the kernel does not take a lookup reference on them.
            if (d.Name is not ("." or "..") && fs.Lookup(c, h.NodeId, d.Name, out var looked) == 0)
            {
                entry = MakeEntry(looked);
                ino = looked.Attr.Ino;
            }
            MemoryMarshal.Write(slot, in entry);
            DirentStream.Encode(slot[Unsafe.SizeOf<EntryOut>()..], d, (ulong)(i + 1), ino);
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

    private EntryOut MakeEntry(in Entry e) => new()
    {
        NodeId = e.NodeId, EntryValid = Timeout, AttrValid = Timeout, Attr = e.Attr,
    };

    private int WriteEntry(Span<byte> o, in Entry e) => Write(o, MakeEntry(e));

    private int WriteAttr(Span<byte> o, in FuseAttr a) => Write(o, new AttrOut { AttrValid = Timeout, Attr = a });

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
