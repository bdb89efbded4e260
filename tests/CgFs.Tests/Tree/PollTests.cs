using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Tree;

namespace CgFs.Tests.Tree;

/// <summary>The view in-process, through its FUSE interface: poll registration, wake-ups on change
/// (one-shot, like FUSE poll handles), POLLPRI until re-read, and no handle left after release.</summary>
public sealed class PollTests
{
    private const uint PollPri = 0x2, PollErr = 0x8;
    private static readonly Caller Root = new(0, 0, Environment.ProcessId);

    [Test]
    public void AChangeWakesThePollerOnceAndReReadingClearsPriority()
    {
        var stack = CgfsStack.Create();
        var (engine, fs) = (stack.Engine, stack.Fs);
        var notifications = new RecordingNotifier();
        fs.Waiters.Kernel = notifications;
        Assert.That(fs.MkDir(Root, CgFs.Fuse.Fuse.RootId, "A", 0b111_101_101, out var a), Is.Zero);
        Assert.That(fs.Lookup(Root, a.NodeId, "cgroup.events", out var events), Is.Zero);
        Assert.That(fs.Open(Root, events.NodeId, 0, out ulong fh), Is.Zero);

        Assert.That(fs.Poll(Root, events.NodeId, fh, kh: 42, scheduleNotify: true, out uint revents), Is.Zero);
        Assert.That(revents & (PollPri | PollErr), Is.Zero, "nothing changed since open");
        Assert.That(fs.Waiters.Count, Is.EqualTo(1));

        var cgroupA = engine.Run(() => engine.ChildLocked(engine.Root, "A")!);
        engine.Run(() => engine.SetFreezeLocked(cgroupA, true));
        Assert.That(notifications.Woken, Is.EqualTo(new[] { 42UL }));
        Assert.That(fs.Waiters.Count, Is.Zero, "FUSE poll handles are one-shot");

        fs.Poll(Root, events.NodeId, fh, 42, scheduleNotify: false, out revents);
        Assert.That(revents & (PollPri | PollErr), Is.EqualTo(PollPri | PollErr));
        Assert.That(fs.Read(Root, events.NodeId, fh, 0, 4096, out var data), Is.Zero);
        Assert.That(System.Text.Encoding.Latin1.GetString(data.Span), Is.EqualTo("populated 0\nfrozen 1\n"));
        fs.Poll(Root, events.NodeId, fh, 42, scheduleNotify: true, out revents);
        Assert.That(revents & (PollPri | PollErr), Is.Zero, "re-reading clears the condition");

        fs.Release(events.NodeId, fh);
        Assert.That(fs.Waiters.Count, Is.Zero, "a released file leaves no poll handle behind");
    }

    [Test]
    public void ARemovedCgroupReportsErrorAndItsDescriptorsAreDead()
    {
        var stack = CgfsStack.Create();
        var (engine, fs) = (stack.Engine, stack.Fs);
        fs.Waiters.Kernel = new RecordingNotifier();
        fs.MkDir(Root, CgFs.Fuse.Fuse.RootId, "A", 0b111_101_101, out var a);
        fs.Lookup(Root, a.NodeId, "cgroup.max.depth", out var depth);
        fs.Open(Root, depth.NodeId, 2, out ulong fh);
        Assert.That(fs.RmDir(Root, CgFs.Fuse.Fuse.RootId, "A"), Is.Zero);
        fs.Poll(Root, depth.NodeId, fh, 7, true, out uint revents);
        Assert.That(revents & (PollPri | PollErr), Is.EqualTo(PollPri | PollErr));
        Assert.That(fs.Read(Root, depth.NodeId, fh, 0, 4096, out _), Is.EqualTo((int)Errno.ENODEV));
        Assert.That(fs.Write(Root, depth.NodeId, fh, 0, "1"u8), Is.EqualTo((int)Errno.ENODEV));
        Assert.That(fs.GetAttr(Root, depth.NodeId, out _), Is.Zero, "fstat still works");
    }
}
