using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using CgFs.Fuse;

namespace CgFs.Tests.Fuse;

/// <summary>The protocol codec on byte buffers: struct layouts match linux/fuse.h, requests decode,
/// replies encode, and a throwing filesystem is answered EIO.</summary>
public sealed class DispatcherTests
{
    [Test]
    public void StructSizesMatchTheKernelHeader()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Unsafe.SizeOf<InHeader>(), Is.EqualTo(40));
            Assert.That(Unsafe.SizeOf<OutHeader>(), Is.EqualTo(16));
            Assert.That(Unsafe.SizeOf<FuseAttr>(), Is.EqualTo(88));
            Assert.That(Unsafe.SizeOf<EntryOut>(), Is.EqualTo(128));
            Assert.That(Unsafe.SizeOf<AttrOut>(), Is.EqualTo(104));
            Assert.That(Unsafe.SizeOf<InitOut>(), Is.EqualTo(64));
            Assert.That(Unsafe.SizeOf<SetAttrIn>(), Is.EqualTo(88));
            Assert.That(Unsafe.SizeOf<ReadIn>(), Is.EqualTo(40));
            Assert.That(Unsafe.SizeOf<WriteIn>(), Is.EqualTo(40));
            Assert.That(Unsafe.SizeOf<KStatFs>(), Is.EqualTo(80));
            Assert.That(Unsafe.SizeOf<PollIn>(), Is.EqualTo(24));
            Assert.That(Unsafe.SizeOf<DirentHeader>(), Is.EqualTo(24));
            Assert.That(Marshal.OffsetOf<FuseAttr>(nameof(FuseAttr.Mode)).ToInt32(), Is.EqualTo(60));
            Assert.That(Marshal.OffsetOf<InitOut>(nameof(InitOut.MaxWrite)).ToInt32(), Is.EqualTo(20));
            Assert.That(Marshal.OffsetOf<SetAttrIn>(nameof(SetAttrIn.Mode)).ToInt32(), Is.EqualTo(68));
        });
    }

    private static byte[] Request(Opcode op, ulong node, byte[] body, ulong unique = 7)
    {
        var buf = new byte[40 + body.Length];
        var h = new InHeader { Len = (uint)buf.Length, Opcode = op, Unique = unique, NodeId = node, Uid = 1000, Gid = 100, Pid = 4242 };
        MemoryMarshal.Write(buf, in h);
        body.CopyTo(buf, 40);
        return buf;
    }

    private static byte[] Bytes<T>(T value) where T : unmanaged
    {
        var b = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(b, in value);
        return b;
    }

    private static (OutHeader Header, byte[] Body) Dispatch(IFuseFileSystem fs, byte[] request) => Dispatch(new Dispatcher(fs), request);

    private static (OutHeader Header, byte[] Body) Dispatch(Dispatcher d, byte[] request)
    {
        var reply = new byte[1 << 16];
        int n = d.Handle(request, reply);
        if (n == 0)
            return (default, []);
        var h = MemoryMarshal.Read<OutHeader>(reply);
        Assert.That(h.Len, Is.EqualTo((uint)n));
        return (h, reply[16..n]);
    }

    [Test]
    public void InitNegotiatesAtomicTruncAndMaxWrite()
    {
        var init = new InitIn { Major = 7, Minor = 45, MaxReadahead = 131072, Flags = uint.MaxValue };
        var (h, body) = Dispatch(new FakeFs(), Request(Opcode.Init, 0, Bytes(init)));
        var o = MemoryMarshal.Read<InitOut>(body);
        Assert.Multiple(() =>
        {
            Assert.That(h.Error, Is.Zero);
            Assert.That(h.Unique, Is.EqualTo(7UL));
            Assert.That(o.Major, Is.EqualTo(7u));
            Assert.That(o.Minor, Is.EqualTo(38u), "we speak 7.38 structures");
            Assert.That(o.Flags & CgFs.Fuse.Fuse.AtomicOTrunc, Is.Not.Zero);
            Assert.That(o.Flags & CgFs.Fuse.Fuse.ReaddirplusAuto, Is.Not.Zero, "adaptive readdirplus");
            Assert.That(o.MaxWrite, Is.GreaterThan(4096u), "a 4097-byte write must reach us whole to be E2BIG");
        });
    }

    [Test]
    public void LookupDecodesTheNameAndEncodesAnEntry()
    {
        var fs = new FakeFs();
        var (h, body) = Dispatch(fs, Request(Opcode.Lookup, 1, Encoding.Latin1.GetBytes("cgroup.procs\0")));
        var e = MemoryMarshal.Read<EntryOut>(body);
        Assert.That((h.Error, e.NodeId, e.Attr.Mode, e.EntryValid, fs.Last), Is.EqualTo((0, 5UL, 0x81A4u, CgFs.Fuse.Fuse.CacheSeconds, "lookup 1 cgroup.procs uid 1000 tid 4242")));
    }

    [Test]
    public void ErrorsAreNegatedAndHaveNoBody()
    {
        var (h, body) = Dispatch(new FakeFs(), Request(Opcode.Lookup, 1, Encoding.Latin1.GetBytes("missing\0")));
        Assert.That((h.Error, body.Length), Is.EqualTo((-2, 0)));
    }

    [Test]
    public void WritePassesThePayloadAndRepliesWithItsLength()
    {
        var fs = new FakeFs();
        var w = new WriteIn { Fh = 3, Offset = 100, Size = 6 };
        var (h, body) = Dispatch(fs, Request(Opcode.Write, 5, [.. Bytes(w), .. "+rdma\n"u8.ToArray()]));
        Assert.That((h.Error, MemoryMarshal.Read<WriteOut>(body).Size, fs.Last), Is.EqualTo((0, 6u, "write 5 fh 3 off 100 '+rdma\n'")));
    }

    [Test]
    public void OpenAlwaysAsksForDirectIo()
    {
        var (h, body) = Dispatch(new FakeFs(), Request(Opcode.Open, 5, Bytes(new OpenIn { Flags = 2 })));
        var o = MemoryMarshal.Read<OpenOut>(body);
        Assert.That((h.Error, o.Fh, o.OpenFlags & CgFs.Fuse.Fuse.FopenDirectIo), Is.EqualTo((0, 9UL, 1u)));
    }

    [Test]
    public void ForgetAndInterruptHaveNoReply()
    {
        var fs = new FakeFs();
        Assert.That(new Dispatcher(fs).Handle(Request(Opcode.Forget, 5, Bytes(new ForgetIn { NLookup = 2 })), new byte[4096]), Is.Zero);
        Assert.That(fs.Last, Is.EqualTo("forget 5 2"));
        var batch = Bytes(new BatchForgetIn { Count = 2 }).Concat(Bytes(new ForgetOne { NodeId = 8, NLookup = 1 })).Concat(Bytes(new ForgetOne { NodeId = 9, NLookup = 3 })).ToArray();
        Assert.That(new Dispatcher(fs).Handle(Request(Opcode.BatchForget, 0, batch), new byte[4096]), Is.Zero);
        Assert.That(fs.Last, Is.EqualTo("forget 9 3"));
        Assert.That(new Dispatcher(fs).Handle(Request(Opcode.Interrupt, 0, Bytes(new ForgetIn())), new byte[4096]), Is.Zero);
    }

    [Test]
    public void FlushIsEnosysAndUnknownOpcodesToo()
    {
        Assert.That(Dispatch(new FakeFs(), Request(Opcode.Flush, 5, new byte[24])).Header.Error, Is.EqualTo(-38));
        Assert.That(Dispatch(new FakeFs(), Request((Opcode)999, 5, [])).Header.Error, Is.EqualTo(-38));
    }

    [Test]
    public void AnExceptionInTheFilesystemIsAnsweredEio()
    {
        var (h, _) = Dispatch(new FakeFs { Throw = true }, Request(Opcode.GetAttr, 1, new byte[16]));
        Assert.That(h.Error, Is.EqualTo(-5));
    }

    [Test]
    public void ReadDirEncodesAlignedEntriesFromTheOffset()
    {
        var (h, body) = Dispatch(new FakeFs(), Request(Opcode.ReadDir, 1, Bytes(new ReadIn { Fh = 1, Offset = 1, Size = 4096 })));
        Assert.That(h.Error, Is.Zero);
        var d = MemoryMarshal.Read<DirentHeader>(body);
        Assert.That((d.Ino, d.Off, d.NameLen, d.Type), Is.EqualTo((64UL, 2UL, 12u, 8u)));
        Assert.That(Encoding.Latin1.GetString(body, 24, 12), Is.EqualTo("cgroup.procs"));
        Assert.That(body.Length, Is.EqualTo(40), "24-byte header + 12-byte name, padded to 8");
    }

    [Test]
    public void ReadDirPagesThroughALongListingInWholeZeroPaddedEntries()
    {
        var fs = new FakeFs { Listing = [.. Enumerable.Range(0, 500).Select(i => new DirEntry("c" + new string('x', i % 13), (ulong)i + 2, true))] };
        var d = new Dispatcher(fs);
        var seen = new List<(ulong Ino, ulong Off, string Name)>();
        ulong offset = 0;
        while (true)
        {
            var (h, body) = Dispatch(d, Request(Opcode.ReadDir, 1, Bytes(new ReadIn { Fh = 1, Offset = offset, Size = 1000 })));
            Assert.That((h.Error, body.Length <= 1000), Is.EqualTo((0, true)));
            if (body.Length == 0)
                break;
            for (int at = 0; at < body.Length;)
            {
                var e = MemoryMarshal.Read<DirentHeader>(body.AsSpan(at));
                int size = (24 + (int)e.NameLen + 7) & ~7;
                Assert.That(body.AsSpan(at + 24 + (int)e.NameLen, size - 24 - (int)e.NameLen).ToArray(), Is.All.Zero, "padding");
                seen.Add((e.Ino, e.Off, Encoding.Latin1.GetString(body, at + 24, (int)e.NameLen)));
                offset = e.Off;
                at += size;
            }
        }
        Assert.That(seen, Is.EqualTo(fs.Listing.Select((e, i) => (e.Ino, (ulong)i + 1, e.Name))));
    }

    [Test]
    public void ReleaseDirDropsTheEncodedListing()
    {
        var fs = new FakeFs();
        var d = new Dispatcher(fs);
        var read = () => Encoding.Latin1.GetString(Dispatch(d, Request(Opcode.ReadDir, 1, Bytes(new ReadIn { Fh = 1, Offset = 1, Size = 4096 }))).Body, 24, 12);
        Assert.That(read(), Is.EqualTo("cgroup.procs"));
        fs.Listing = [new DirEntry(".", 1, true), new DirEntry("cgroup.stats", 65, false)];
        Assert.That(read(), Is.EqualTo("cgroup.procs"), "one open directory is one snapshot");
        Dispatch(d, Request(Opcode.ReleaseDir, 1, Bytes(new ReleaseIn { Fh = 1 })));
        Assert.That(read(), Is.EqualTo("cgroup.stats"), "the next opendir with the same handle lists afresh");
    }

    [Test]
    public void ReadDirPlusCarriesAnEntryPerNameButNotForDotEntries()
    {
        var fs = new FakeFs();
        var (h, body) = Dispatch(fs, Request(Opcode.ReadDirPlus, 1, Bytes(new ReadIn { Fh = 1, Offset = 0, Size = 4096 })));
        Assert.That(h.Error, Is.Zero);
        var dot = MemoryMarshal.Read<EntryOut>(body);
        Assert.That(dot.NodeId, Is.Zero, "no lookup reference is taken for '.'");
        int second = Unsafe.SizeOf<EntryOut>() + 32;  // 24-byte dirent header + "." padded to 8
        var entry = MemoryMarshal.Read<EntryOut>(body.AsSpan(second));
        var d = MemoryMarshal.Read<DirentHeader>(body.AsSpan(second + Unsafe.SizeOf<EntryOut>()));
        Assert.That((entry.NodeId, entry.Attr.Ino, d.Ino, d.Off, fs.Last), Is.EqualTo((5UL, 64UL, 64UL, 2UL, "lookup 1 cgroup.procs uid 1000 tid 4242")));
        Assert.That(body.Length, Is.EqualTo(second + Unsafe.SizeOf<EntryOut>() + 40));
    }

    [Test]
    public void PollRepliesWithRevents()
    {
        var fs = new FakeFs();
        var (h, body) = Dispatch(fs, Request(Opcode.Poll, 5, Bytes(new PollIn { Fh = 3, Kh = 77, Flags = 1 })));
        Assert.That((h.Error, MemoryMarshal.Read<PollOut>(body).Revents, fs.Last), Is.EqualTo((0, 0x14Fu, "poll 5 fh 3 kh 77 notify True")));
    }

    [Test]
    public void GetXattrWithSizeZeroReportsTheLength()
    {
        var (h, body) = Dispatch(new FakeFs(), Request(Opcode.GetXattr, 1, [.. Bytes(new GetXattrIn { Size = 0 }), .. "user.a\0"u8.ToArray()]));
        Assert.That((h.Error, MemoryMarshal.Read<GetXattrOut>(body).Size), Is.EqualTo((0, 3u)));
        var (h2, _) = Dispatch(new FakeFs(), Request(Opcode.GetXattr, 1, [.. Bytes(new GetXattrIn { Size = 2 }), .. "user.a\0"u8.ToArray()]));
        Assert.That(h2.Error, Is.EqualTo(-34), "ERANGE when the buffer is too small");
    }

    /// <summary>A scripted filesystem recording the last call.</summary>
    private sealed class FakeFs : IFuseFileSystem
    {
        public string Last = "";
        public bool Throw;

        private static FuseAttr File(ulong ino) => new() { Ino = ino, Mode = 0x81A4, Nlink = 1 };

        public int Lookup(in Caller c, ulong parent, string name, out Entry entry)
        {
            Last = $"lookup {parent} {name} uid {c.Uid} tid {c.Tid}";
            entry = new Entry(5, File(64));
            return name == "missing" ? 2 : 0;
        }

        public void Forget(ulong node, ulong nlookup) => Last = $"forget {node} {nlookup}";

        public int GetAttr(in Caller c, ulong node, out FuseAttr attr)
        {
            if (Throw)
                throw new InvalidOperationException("bug");
            attr = File(node);
            return 0;
        }

        public int SetAttr(in Caller c, ulong node, in SetAttrIn change, out FuseAttr attr) { attr = File(node); return 0; }
        public int MkDir(in Caller c, ulong parent, string name, uint mode, out Entry entry) { entry = default; return 0; }
        public int CreateNode(in Caller c, ulong parent, string name, Opcode op) => 13;
        public int Unlink(in Caller c, ulong parent, string name) => 1;
        public int RmDir(in Caller c, ulong parent, string name) => 16;
        public int Rename(in Caller c, ulong parent, string name, ulong newParent, string newName) => 1;

        public int Open(in Caller c, ulong node, int flags, out ulong fh)
        {
            fh = 9;
            return 0;
        }

        public int Read(in Caller c, ulong node, ulong fh, long offset, int size, out ReadOnlyMemory<byte> data)
        {
            data = "x\n"u8.ToArray();
            return 0;
        }

        public int Write(in Caller c, ulong node, ulong fh, long offset, ReadOnlySpan<byte> data)
        {
            Last = $"write {node} fh {fh} off {offset} '{Encoding.Latin1.GetString(data)}'";
            return 0;
        }

        public void Release(ulong node, ulong fh) { }
        public int OpenDir(in Caller c, ulong node, out ulong fh) { fh = 1; return 0; }

        public IReadOnlyList<DirEntry> Listing = [new DirEntry(".", 1, true), new DirEntry("cgroup.procs", 64, false)];

        public int ReadDir(ulong node, ulong fh, out IReadOnlyList<DirEntry> entries)
        {
            entries = Listing;
            return 0;
        }

        public void ReleaseDir(ulong node, ulong fh) { }
        public int StatFs(ulong node, out KStatFs st) { st = default; return 0; }

        public int GetXattr(in Caller c, ulong node, string name, out byte[] value)
        {
            value = "abc"u8.ToArray();
            return 0;
        }

        public int SetXattr(in Caller c, ulong node, string name, ReadOnlySpan<byte> value, int flags) => 0;
        public int ListXattr(in Caller c, ulong node, out byte[] names) { names = []; return 0; }
        public int RemoveXattr(in Caller c, ulong node, string name) => 0;

        public int Poll(in Caller c, ulong node, ulong fh, ulong kh, bool scheduleNotify, out uint revents)
        {
            Last = $"poll {node} fh {fh} kh {kh} notify {scheduleNotify}";
            revents = 0x14F;
            return 0;
        }
    }
}
