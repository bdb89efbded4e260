using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

/// <summary>KINT/KU64 (spec core.md notation, misc.md 3) and STRIP.</summary>
public sealed class KernelTextTests
{
    [TestCase("+3", 3)]
    [TestCase("010", 8)]
    [TestCase("0x10", 16)]
    [TestCase("0X1f", 31)]
    [TestCase("0", 0)]
    [TestCase("-0", 0)]
    [TestCase("-2147483648", int.MinValue)]
    [TestCase("2147483647", int.MaxValue)]
    [TestCase("7\n", 7)]
    public void KIntAccepts(string s, int value) => Assert.That(KernelText.KInt(s), Is.EqualTo(Parsed<int>.Of(value)));

    [TestCase("", Errno.EINVAL)]
    [TestCase("08", Errno.EINVAL)]
    [TestCase("0x", Errno.EINVAL)]
    [TestCase(" 1", Errno.EINVAL)]
    [TestCase("1 ", Errno.EINVAL)]
    [TestCase("1\n\n", Errno.EINVAL)]
    [TestCase("+", Errno.EINVAL)]
    [TestCase("-", Errno.EINVAL)]
    [TestCase("+-3", Errno.EINVAL)]
    [TestCase("--3", Errno.EINVAL)]
    [TestCase("abc", Errno.EINVAL)]
    [TestCase("2147483648", Errno.ERANGE)]
    [TestCase("-2147483649", Errno.ERANGE)]
    [TestCase("18446744073709551616", Errno.ERANGE)]
    [TestCase("99999999999999999999abc", Errno.ERANGE)]
    public void KIntRejects(string s, Errno e) => Assert.That(KernelText.KInt(s).Error, Is.EqualTo(e));

    [TestCase("18446744073709551615", ulong.MaxValue)]
    [TestCase("+7", 7UL)]
    [TestCase("0x10", 16UL)]
    public void KU64Accepts(string s, ulong value) => Assert.That(KernelText.KU64(s), Is.EqualTo(Parsed<ulong>.Of(value)));

    [TestCase("-1", Errno.EINVAL)]
    [TestCase("18446744073709551616", Errno.ERANGE)]
    [TestCase("1e3", Errno.EINVAL)]
    public void KU64Rejects(string s, Errno e) => Assert.That(KernelText.KU64(s).Error, Is.EqualTo(e));

    [TestCase(" \t\n\v\f\r\u00a0x y\n ", "x y")]
    [TestCase("   ", "")]
    public void StripRemovesKernelWhitespace(string s, string stripped) => Assert.That(KernelText.Strip(s), Is.EqualTo(stripped));
}
