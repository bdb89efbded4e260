using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CgFs.Fuse;

/// <summary>The handlers of the opcode table that take more than one line.</summary>
public sealed partial class Dispatcher
{
    private (int, int) Lookup(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        int e = fs.Lookup(c, h.NodeId, Name(body), out var entry);
        return e != 0 ? (e, 0) : (0, WriteEntry(o, entry));
    }

    private (int, int) Forget(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        fs.Forget(h.NodeId, Read<ForgetIn>(body).NLookup);
        return (NoReply, 0);
    }

    private (int, int) BatchForget(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var b = Read<BatchForgetIn>(body);
        var items = MemoryMarshal.Cast<byte, ForgetOne>(body[Unsafe.SizeOf<BatchForgetIn>()..]);
        for (int i = 0; i < b.Count && i < items.Length; i++)
            fs.Forget(items[i].NodeId, items[i].NLookup);
        return (NoReply, 0);
    }

    private (int, int) GetAttr(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        int e = fs.GetAttr(c, h.NodeId, out var attr);
        return e != 0 ? (e, 0) : (0, WriteAttr(o, attr));
    }

    private (int, int) SetAttr(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        int e = fs.SetAttr(c, h.NodeId, Read<SetAttrIn>(body), out var attr);
        return e != 0 ? (e, 0) : (0, WriteAttr(o, attr));
    }

    private (int, int) MkDir(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var m = Read<MkDirIn>(body);
        int e = fs.MkDir(c, h.NodeId, Name(body[Unsafe.SizeOf<MkDirIn>()..]), m.Mode & ~m.Umask, out var entry);
        return e != 0 ? (e, 0) : (0, WriteEntry(o, entry));
    }

    private (int, int) Rename(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var r = Read<RenameIn>(body);
        var (from, to) = TwoNames(body[Unsafe.SizeOf<RenameIn>()..]);
        return (fs.Rename(c, h.NodeId, from, r.NewDir, to), 0);
    }

    private (int, int) Rename2(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var r = Read<Rename2In>(body);
        var (from, to) = TwoNames(body[Unsafe.SizeOf<Rename2In>()..]);
        return (fs.Rename(c, h.NodeId, from, r.NewDir, to), 0);
    }

    private (int, int) Open(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        int e = fs.Open(c, h.NodeId, (int)Read<OpenIn>(body).Flags, out ulong fh);
        if (e != 0)
            return (e, 0);
        // Sizes are 0, so without direct I/O the page cache would serve empty reads.
        return (0, Write(o, new OpenOut { Fh = fh, OpenFlags = Fuse.FopenDirectIo }));
    }

    private (int, int) ReadData(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var r = Read<ReadIn>(body);
        int e = fs.Read(c, h.NodeId, r.Fh, (long)r.Offset, (int)Math.Min(r.Size, (uint)o.Length), out var data);
        if (e != 0)
            return (e, 0);
        int n = Math.Min(data.Length, Math.Min((int)r.Size, o.Length));
        data.Span[..n].CopyTo(o);
        return (0, n);
    }

    private (int, int) WriteData(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var w = Read<WriteIn>(body);
        var data = body[Unsafe.SizeOf<WriteIn>()..];
        data = data[..Math.Min((int)w.Size, data.Length)];
        int e = fs.Write(c, h.NodeId, w.Fh, (long)w.Offset, data);
        return e != 0 ? (e, 0) : (0, Write(o, new WriteOut { Size = (uint)data.Length }));
    }

    private (int, int) OpenDir(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        int e = fs.OpenDir(c, h.NodeId, out ulong fh);
        return e != 0 ? (e, 0) : (0, Write(o, new OpenOut { Fh = fh }));
    }

    private (int, int) GetXattr(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var g = Read<GetXattrIn>(body);
        int e = fs.GetXattr(c, h.NodeId, Name(body[Unsafe.SizeOf<GetXattrIn>()..]), out var value);
        return e != 0 ? (e, 0) : SizedReply(o, g.Size, value);
    }

    private (int, int) ListXattr(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var g = Read<GetXattrIn>(body);
        int e = fs.ListXattr(c, h.NodeId, out var names);
        return e != 0 ? (e, 0) : SizedReply(o, g.Size, names);
    }

    /// <summary>Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat header.</summary>
    private (int, int) SetXattr(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var s = Read<GetXattrIn>(body);
        var rest = body[8..];
        int nul = rest.IndexOf((byte)0);
        if (nul < 0)
            return (EINVAL, 0);
        var value = rest[(nul + 1)..];
        value = value[..Math.Min((int)s.Size, value.Length)];
        return (fs.SetXattr(c, h.NodeId, Names.GetString(rest[..nul]), value, (int)s.Padding), 0);
    }

    private (int, int) Poll(in InHeader h, in Caller c, ReadOnlySpan<byte> body, Span<byte> o)
    {
        var p = Read<PollIn>(body);
        int e = fs.Poll(c, h.NodeId, p.Fh, p.Kh, (p.Flags & Fuse.PollScheduleNotify) != 0, out uint revents);
        return e != 0 ? (e, 0) : (0, Write(o, new PollOut { Revents = revents }));
    }
}
