using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

public sealed class CoreGrammarTests
{
    [TestCase("+rdma", Controllers.Rdma, Controllers.None)]
    [TestCase("+rdma +misc", Controllers.All, Controllers.None)]
    [TestCase("  +rdma   -misc  \n", Controllers.Rdma, Controllers.Misc)]
    [TestCase("+rdma -rdma", Controllers.None, Controllers.Rdma)]
    [TestCase("-misc +misc", Controllers.Misc, Controllers.None)]
    [TestCase("", Controllers.None, Controllers.None)]
    public void SubtreeControlLastMentionWins(string s, Controllers enable, Controllers disable) =>
        Assert.That(CoreGrammar.SubtreeControl(s), Is.EqualTo(Parsed<SubtreeControlCommand>.Of(new(enable, disable))));

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
    public void SubtreeControlRejects(string s) => Assert.That(CoreGrammar.SubtreeControl(s).Error, Is.EqualTo(Errno.EINVAL));

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
