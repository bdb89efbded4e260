using System.Text;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Parsing;
using CgFs.State;
using CgFs.Tests.Accounting;
using CgFs.Tree;

namespace CgFs.Tests.State;

/// <summary>The journal codec and the snapshot → replay round trip, in process, without a mount.</summary>
public sealed class JournalRoundTripTests
{
    private static readonly Caller Root = new(0, 0, Environment.ProcessId);

    private static readonly JournalRecord[] Records =
    [
        new MkdirRecord(2, 1, 0x1ed, 1000, 100, "a b%c\n"),
        new MkdirRecord(5, 2, 0x1ed, 0, 0, "job", 4294973210),
        new RmdirRecord(2),
        new WriteRecord(3, "rdma.max", 0, 0, "mlx5_0 hca_handle=2 hca_object=max \n"),
        new WriteRecord(3, "cgroup.freeze", 5, 6, ""),
        new MetaRecord(3, ".", 0x1a4, 7, 8),
        new XattrRecord(3, "rdma.max", "user.k y", [0, 255, 10]),
        new XattrRecord(3, ".", "user.k", null),
        new MemberRecord(4242, 987654, 3),
        new ThreadRecord(4242, 987654, 4243, 3),
        new ControlRecord(new DeviceAdd("mlx5_0")),
        new ControlRecord(new MiscCapacity("ioasid", 5, true)),
        new ControlRecord(new MiscRemove("tdx")),
    ];

    [Test]
    public void EveryRecordParsesBackFromItsFormat()
    {
        foreach (var r in Records)
        {
            var back = JournalGrammar.Record(r.Format());
            Assert.That(back.Ok, Is.True, r.Format());
            Assert.That(back.Value.Format(), Is.EqualTo(r.Format()));
            Assert.That(back.Value.GetType(), Is.EqualTo(r.GetType()));
        }
    }

    [TestCase("mkdir 2 1 493 0 0")]
    [TestCase("mkdir 2 1 493 0 0 bad%zz")]
    [TestCase("write 99999999999999999999 f 0 0 x")]
    [TestCase("xattr 3 . k 0F0")]
    [TestCase("charge misc sev 1")]
    [TestCase("status")]
    [TestCase("")]
    public void AnythingElseIsRefusedWithoutThrowing(string line) =>
        Assert.That(JournalGrammar.Record(line).Ok, Is.False);

    private static int WriteFile(CgfsStack s, ulong dir, string name, string text)
    {
        Assert.That(s.Fs.Lookup(Root, dir, name, out var e), Is.Zero, name);
        Assert.That(s.Fs.Open(Root, e.NodeId, 2, out ulong fh), Is.Zero);
        int r = s.Fs.Write(Root, e.NodeId, fh, 0, Encoding.Latin1.GetBytes(text));
        s.Fs.Release(e.NodeId, fh);
        return r;
    }

    [Test]
    public void ASnapshotReplaysIntoTheSameState()
    {
        var a = CgfsStack.Create();
        a.Engine.Run(() => { a.Engine.Rdma.RegisterLocked("mlx5_0"); a.Engine.Misc.SetCapacityLocked("sev", 9); a.Engine.Misc.SetCapacityLocked("ioasid", 4, true); return 0; });
        a.Engine.Run(() => a.Engine.Misc.RemoveTypeLocked(a.Engine.Misc.FindLocked("tdx")!));
        Assert.That(WriteFile(a, CgFs.Fuse.Fuse.RootId, "cgroup.subtree_control", "+rdma +misc"), Is.Zero);
        Assert.That(a.Fs.MkDir(Root, CgFs.Fuse.Fuse.RootId, "job", 0x1ed, out var job), Is.Zero);
        Assert.That(a.Fs.MkDir(Root, job.NodeId, "t", 0x1c0, out var t), Is.Zero);
        Assert.That(WriteFile(a, job.NodeId, "rdma.max", "mlx5_0 hca_handle=2"), Is.Zero);
        Assert.That(WriteFile(a, job.NodeId, "misc.max", "sev 3"), Is.Zero);
        Assert.That(WriteFile(a, job.NodeId, "rdma.current", "mlx5_0 hca_handle=+1 hca_object=+4"), Is.Zero);
        Assert.That(WriteFile(a, job.NodeId, "misc.current", "sev +2"), Is.Zero);
        Assert.That(WriteFile(a, job.NodeId, "cgroup.max.depth", "3"), Is.Zero);
        Assert.That(WriteFile(a, t.NodeId, "cgroup.type", "threaded"), Is.Zero);
        Assert.That(WriteFile(a, t.NodeId, "cgroup.freeze", "1"), Is.Zero);
        Assert.That(WriteFile(a, t.NodeId, "cgroup.pressure", "0"), Is.Zero);
        Assert.That(a.Fs.SetXattr(Root, t.NodeId, "user.owner", "me"u8, 0), Is.Zero);
        var before = new JournalSnapshot(a.Engine, a.Plugins, a.Fs).Lines();

        var b = CgfsStack.Create();
        var log = new List<string>();
        new JournalReplay(b.Engine, b.Plugins, b.Fs, b.Membership, log.Add).Replay(before);
        var after = new JournalSnapshot(b.Engine, b.Plugins, b.Fs).Lines();

        Assert.That(log, Is.Empty, "every record applied");
        Assert.That(after, Is.EqualTo(before));
        Assert.That(before, Does.Contain("misc remove tdx").And.Contain("misc capacity ioasid 4 follow")
            .And.Contain("write 2 rdma.max 0 0 mlx5_0%20hca_handle=2%20hca_object=max%20%0a"),
            "limits are journaled as the lines their files show");
        var sev = b.Engine.Run(() => b.Engine.Misc.RowsLocked(b.Engine.MiscOf(b.Engine.Run(() => b.Engine.ChildLocked(b.Engine.Root, "job")!))));
        Assert.That(sev.Single(r => r.Name == "sev").Current, Is.EqualTo(2UL), "shortcut charges are held again");
    }

    /// <summary>A cgroup made by a delegatee after its parent enabled rdma owns its rdma files, and still
    /// does after a restart (the snapshot enables controllers before it makes the children).</summary>
    [Test]
    public void ADelegatedCgroupStillOwnsItsControllerFilesAfterReplay()
    {
        var a = CgfsStack.Create();
        Assert.That(WriteFile(a, CgFs.Fuse.Fuse.RootId, "cgroup.subtree_control", "+rdma"), Is.Zero);
        Assert.That(a.Fs.MkDir(new Caller(1000, 1000, Environment.ProcessId), CgFs.Fuse.Fuse.RootId, "user", 0x1ed, out _), Is.Zero);
        var b = CgfsStack.Create();
        new JournalReplay(b.Engine, b.Plugins, b.Fs, b.Membership, _ => { }).Replay(new JournalSnapshot(a.Engine, a.Plugins, a.Fs).Lines());
        Assert.That(b.Fs.Lookup(Root, CgFs.Fuse.Fuse.RootId, "user", out var user), Is.Zero);
        Assert.That(b.Fs.Lookup(Root, user.NodeId, "rdma.max", out var max), Is.Zero);
        Assert.That((max.Attr.Uid, max.Attr.Gid), Is.EqualTo((1000u, 1000u)));
    }

    /// <summary>Two devices may share a name (the kernel's exclusive netns mode, spec rdma.md 3): the
    /// configuration may register both, and a restart restores both; a client adding one is refused.</summary>
    [Test]
    public void DevicesSharingANameSurviveReplay()
    {
        var a = CgfsStack.Create();
        foreach (var source in new[] { ControlSource.Configuration, ControlSource.Configuration })
            Assert.That(a.Plugins.Apply(new DeviceAdd("mlx5_0"), source)!.Value.Error, Is.EqualTo(Errno.Ok));
        Assert.That(a.Plugins.Apply(new DeviceAdd("mlx5_0"), ControlSource.Client)!.Value.Error, Is.EqualTo(Errno.EEXIST));
        var b = CgfsStack.Create();
        new JournalReplay(b.Engine, b.Plugins, b.Fs, b.Membership, _ => { }).Replay(new JournalSnapshot(a.Engine, a.Plugins, a.Fs).Lines());
        Assert.That(b.Engine.Run(() => b.Engine.Rdma.DevicesLocked.Select(d => d.Name).ToArray()), Is.EqualTo(new[] { "mlx5_0", "mlx5_0" }));
    }
}
