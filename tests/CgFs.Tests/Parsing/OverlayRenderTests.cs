using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

/// <summary>Overlay mode's merged core files: the kernel's text with rdma and misc where a kernel
/// that had them would print them (subsystem-id order), and the token grammar of a mixed write.</summary>
public sealed class OverlayRenderTests
{
    [TestCase("", "rdma misc\n")]
    [TestCase("cpuset cpu io memory hugetlb pids\n", "cpuset cpu io memory hugetlb pids rdma misc\n")]
    [TestCase("cpu memory pids dmem\n", "cpu memory pids rdma misc dmem\n")]
    [TestCase("hugetlb\n", "hugetlb rdma misc\n")]
    [TestCase("io debug\n", "io rdma misc debug\n")]
    [TestCase("cpu unknownctl\n", "cpu unknownctl rdma misc\n")]
    public void ControllersMergeInSubsystemOrder(string kernel, string merged) =>
        Assert.That(OverlayRender.ControllerList(kernel, ["rdma", "misc"]), Is.EqualTo(merged));

    [Test]
    public void OnlyTheControllersGivenAreAdded()
    {
        Assert.That(OverlayRender.ControllerList("cpu pids\n", ["misc"]), Is.EqualTo("cpu pids misc\n"));
        Assert.That(OverlayRender.ControllerList("", []), Is.EqualTo(""), "nothing: 0 bytes, as the kernel's empty list");
    }

    [Test]
    public void StatGainsCgfssLinesAmongTheKernels()
    {
        const string kernel = "nr_descendants 2\nnr_subsys_perf_event 3\nnr_subsys_hugetlb 1\nnr_subsys_dmem 1\n" +
                              "nr_dying_descendants 0\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\nnr_dying_subsys_dmem 0\n";
        Assert.That(OverlayRender.Stat(kernel, [("rdma", 2), ("misc", 1)], [("rdma", 1), ("misc", 0)], dyingDescendants: 1), Is.EqualTo(
            "nr_descendants 2\nnr_subsys_perf_event 3\nnr_subsys_hugetlb 1\nnr_subsys_rdma 2\nnr_subsys_misc 1\nnr_subsys_dmem 1\n" +
            "nr_dying_descendants 1\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\nnr_dying_subsys_rdma 1\nnr_dying_subsys_misc 0\nnr_dying_subsys_dmem 0\n"));
    }

    [Test]
    public void StatKeepsTheKernelsDyingCountWhenLarger()
    {
        const string kernel = "nr_descendants 0\nnr_subsys_cpu 1\nnr_dying_descendants 3\nnr_dying_subsys_cpu 0\n";
        Assert.That(OverlayRender.Stat(kernel, [("rdma", 1)], [("rdma", 0)], dyingDescendants: 1), Is.EqualTo(
            "nr_descendants 0\nnr_subsys_cpu 1\nnr_subsys_rdma 1\nnr_dying_descendants 3\nnr_dying_subsys_cpu 0\nnr_dying_subsys_rdma 0\n"));
    }

    [Test]
    public void AKernelWithoutPerSubsystemLinesGetsNone() =>
        Assert.That(OverlayRender.Stat("nr_descendants 0\nnr_dying_descendants 0\n", [("rdma", 1)], [("rdma", 0)]),
            Is.EqualTo("nr_descendants 0\nnr_dying_descendants 0\n"));

    [Test]
    public void SubtreeTokensKeepTheKernelsTokenRules()
    {
        var p = CoreGrammar.SubtreeTokens("+memory  -rdma +misc\n");
        Assert.That(p.Ok);
        Assert.That(p.Value, Is.EqualTo(new[] { (true, "memory"), (false, "rdma"), (true, "misc") }));
        foreach (var bad in new[] { "memory", "+", "+rdma\t-misc", "+rdma\n+misc", "*rdma" })
            Assert.That(CoreGrammar.SubtreeTokens(bad).Error, Is.EqualTo(Errno.EINVAL), bad);
        Assert.That(CoreGrammar.SubtreeTokens("   ").Value, Is.Empty);
    }
}
