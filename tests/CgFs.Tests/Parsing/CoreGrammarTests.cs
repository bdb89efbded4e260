using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Tests.Accounting;

namespace CgFs.Tests.Parsing;

public sealed class CoreGrammarTests
{
    /// <summary>rdma has id 0 (bit 1), misc id 1 (bit 2), as registered.</summary>
    private static readonly Controller[] Registered = EngineHarness.New().Controllers.ToArray();

    [TestCase("+rdma", 1u, 0u)]
    [TestCase("+rdma +misc", 3u, 0u)]
    [TestCase("  +rdma   -misc  \n", 1u, 2u)]
    [TestCase("+rdma -rdma", 0u, 1u)]
    [TestCase("-misc +misc", 2u, 0u)]
    [TestCase("", 0u, 0u)]
    public void SubtreeControlLastMentionWins(string s, uint enable, uint disable) =>
        Assert.That(CoreGrammar.SubtreeControl(s, Registered), Is.EqualTo(Parsed<SubtreeControlCommand>.Of(new(new(enable), new(disable)))));

    [TestCase("rdma")]
    [TestCase("xrdma")]
    [TestCase("+RDMA")]
    [TestCase("+ rdma")]
    [TestCase("+")]
    [TestCase("+rdma\t-misc")]
    [TestCase("+rdma\n+misc")]
    [TestCase("+rdmax")]
    [TestCase("+memory")]
    [TestCase("+rdma +bogus")]
    public void SubtreeControlRejects(string s) => Assert.That(CoreGrammar.SubtreeControl(s, Registered).Error, Is.EqualTo(Errno.EINVAL));

    [TestCase(" 123 ", 123)]
    [TestCase("123\n", 123)]
    [TestCase("+123", 123)]
    [TestCase("0x7b", 123)]
    [TestCase("0173", 123)]
    [TestCase("0", 0)]
    public void PidAccepts(string s, int pid) => Assert.That(CoreGrammar.Pid(s), Is.EqualTo(Parsed<int>.Of(pid)));

    [TestCase("2147483648")]
    [TestCase("abc")]
    [TestCase("1 2")]
    [TestCase("-1")]
    [TestCase("\n")]
    public void PidErrorsAreAllEinval(string s) => Assert.That(CoreGrammar.Pid(s).Error, Is.EqualTo(Errno.EINVAL));

    [TestCase("max", int.MaxValue)]
    [TestCase(" 5\n", 5)]
    [TestCase("2147483647", int.MaxValue)]
    public void HierarchyLimitAccepts(string s, int v) => Assert.That(CoreGrammar.HierarchyLimit(s), Is.EqualTo(Parsed<int>.Of(v)));

    [TestCase("-1", Errno.ERANGE)]
    [TestCase("MAX", Errno.EINVAL)]
    [TestCase("maxx", Errno.EINVAL)]
    [TestCase("2147483648", Errno.ERANGE)]
    public void HierarchyLimitRejects(string s, Errno e) => Assert.That(CoreGrammar.HierarchyLimit(s).Error, Is.EqualTo(e));

    [TestCase("1", Errno.Ok)]
    [TestCase("0x1", Errno.Ok)]
    [TestCase("2", Errno.ERANGE)]
    [TestCase("x", Errno.EINVAL)]
    public void Freeze(string s, Errno e) => Assert.That(CoreGrammar.Freeze(s).Error, Is.EqualTo(e));

    [TestCase("threaded\n", Errno.Ok)]
    [TestCase(" threaded ", Errno.Ok)]
    [TestCase("domain", Errno.EINVAL)]
    [TestCase("threadedx", Errno.EINVAL)]
    public void Type(string s, Errno e) => Assert.That(CoreGrammar.Type(s), Is.EqualTo(e));
}
