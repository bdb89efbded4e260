using CgFs.Fuse;

namespace CgFs.Tests.Tree;

/// <summary>Stands in for the FUSE session in in-process view tests: records poll wake-ups and entry invalidations.</summary>
internal sealed class RecordingNotifier : IFuseNotifier
{
    public readonly List<ulong> Woken = new();
    public readonly List<(ulong Parent, string Name)> Invalidated = new();
    public void NotifyPoll(ulong kh) => Woken.Add(kh);
    public void InvalidateEntries(IReadOnlyList<(ulong Parent, string Name)> entries, TimeSpan wait) => Invalidated.AddRange(entries);
}
