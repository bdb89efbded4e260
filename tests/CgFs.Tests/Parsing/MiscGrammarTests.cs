using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

/// <summary>spec misc.md 3 and 7.2 at the grammar level (the capacity check is the engine's).</summary>
public sealed class MiscGrammarTests
{
    private static bool Known(string n) => n is "sev" or "sev_es" or "tdx";

    [TestCase("sev 5\n", "sev", 5UL)]
    [TestCase("sev max", "sev", ulong.MaxValue)]
    [TestCase("sev 0x10", "sev", 16UL)]
    [TestCase("sev 010", "sev", 8UL)]
    [TestCase("sev +7", "sev", 7UL)]
    [TestCase("sev 18446744073709551615", "sev", ulong.MaxValue)]
    [TestCase("  sev 5  \n", "sev", 5UL)]
    [TestCase("sev_es 5", "sev_es", 5UL)]
    public void Accepts(string s, string name, ulong max) =>
        Assert.That(MiscGrammar.Max(s, Known), Is.EqualTo(Parsed<MiscMaxCommand>.Of(new(name, max))));

    [TestCase("sev 08", Errno.EINVAL)]
    [TestCase("sev 1e3", Errno.EINVAL)]
    [TestCase("sev -1", Errno.EINVAL)]
    [TestCase("sev 18446744073709551616", Errno.ERANGE)]
    [TestCase("sev", Errno.EINVAL)]
    [TestCase("sev ", Errno.EINVAL)]
    [TestCase("\n", Errno.EINVAL)]
    [TestCase("SEV 5", Errno.EINVAL)]
    [TestCase("bogus 99999999999999999999", Errno.EINVAL)]
    [TestCase("sev_es 99999999999999999999", Errno.ERANGE)]
    [TestCase("sev  5", Errno.EINVAL)]
    [TestCase("sev\t5", Errno.EINVAL)]
    [TestCase("sev 5\ntdx 1", Errno.EINVAL)]
    [TestCase("sev ma", Errno.EINVAL)]
    public void Rejects(string s, Errno e) => Assert.That(MiscGrammar.Max(s, Known).Error, Is.EqualTo(e));

    [TestCase("sev +1", false, 1UL)]
    [TestCase("sev -3", true, 3UL)]
    public void Deltas(string s, bool negative, ulong amount) =>
        Assert.That(MiscGrammar.CurrentDelta(s, Known), Is.EqualTo(Parsed<MiscDeltaCommand>.Of(new("sev", negative, amount))));

    [TestCase("sev 1")]
    [TestCase("sev +-1")]
    [TestCase("sev ++1")]
    [TestCase("bogus +1")]
    public void DeltasReject(string s) => Assert.That(MiscGrammar.CurrentDelta(s, Known).Ok, Is.False);
}
