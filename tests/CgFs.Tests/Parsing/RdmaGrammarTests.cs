using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

/// <summary>spec rdma.md 4.1 and 10.1 at the grammar level (device lookup is the caller's).</summary>
public sealed class RdmaGrammarTests
{
    private const int Max = int.MaxValue;

    [TestCase("mlx5_0 hca_handle=2 hca_object=max\n", "mlx5_0", 2, Max)]
    [TestCase("mlx5_0 hca_object=10", "mlx5_0", null, 10)]
    [TestCase("mlx5_0", "mlx5_0", null, null)]
    [TestCase("mlx5_0 hca_handle=1 hca_handle=7", "mlx5_0", 7, null)]
    [TestCase("mlx5_0 hca_handle=-0", "mlx5_0", 0, null)]
    [TestCase("mlx5_0 hca_handle=-", "mlx5_0", 0, null)]
    [TestCase("mlx5_0 hca_handle=18446744073709551617", "mlx5_0", 1, null)]
    [TestCase("mlx5_0 hca_handle=0x10 hca_object=010", "mlx5_0", 16, 8)]
    [TestCase("mlx5_0  hca_handle=5\thca_object=6\n", "mlx5_0", 5, 6)]
    [TestCase("mlx9_9 hca_handle=1", "mlx9_9", 1, null)]
    [TestCase("\n", "", null, null)]
    [TestCase("mlx5_0\thca_handle=5", "mlx5_0\thca_handle=5", null, null)]
    public void Accepts(string s, string device, int? handle, int? obj) =>
        Assert.That(RdmaGrammar.Max(s), Is.EqualTo(Parsed<RdmaMaxCommand>.Of(new(device, handle, obj))));

    [TestCase("bogus hca_handle=abc")]
    [TestCase("mlx5_0 hca_handle")]
    [TestCase("mlx5_0 hca_handle=")]
    [TestCase("mlx5_0 hca_handle=ma")]
    [TestCase("mlx5_0 hca_handle=MAX")]
    [TestCase("mlx5_0 hca_handle=-1")]
    [TestCase("mlx5_0 hca_handle=2147483648")]
    [TestCase("mlx5_0 hca_handle=08")]
    [TestCase("mlx5_0 hca_handle=+5")]
    [TestCase("mlx5_0 hca_handle=10abc")]
    [TestCase("mlx5_0 hca_handle=5 hca_object=x")]
    [TestCase("mlx5_0 HCA_HANDLE=5")]
    [TestCase("mlx5_0 hca_handle==5")]
    [TestCase("mlx5_0 hca_handle=5 extra")]
    [TestCase("mlx5_0 hca_handle=1\nrxe0 hca_handle=2")]
    [TestCase("mlx5_0 hca_handle=000000000000000000000005")]
    public void RejectsWithEinval(string s) => Assert.That(RdmaGrammar.Max(s).Error, Is.EqualTo(Errno.EINVAL));

    [TestCase("mlx5_0 hca_handle=+1 hca_object=-3", 1L, -3L)]
    [TestCase("mlx5_0 hca_object=+0", 0L, 0L)]
    public void DeltasCarryASign(string s, long handle, long obj) =>
        Assert.That(RdmaGrammar.CurrentDelta(s), Is.EqualTo(Parsed<RdmaDeltaCommand>.Of(new("mlx5_0", handle, obj))));

    [TestCase("mlx5_0 hca_object=3")]
    [TestCase("mlx5_0")]
    [TestCase("mlx5_0 hca_object=+2147483648")]
    public void DeltasRejectWithEinval(string s) => Assert.That(RdmaGrammar.CurrentDelta(s).Error, Is.EqualTo(Errno.EINVAL));
}

/// <summary>The legacy (4.11–7.1) parser: the Legacy column of spec rdma.md 10.1 where it differs.</summary>
public sealed class RdmaLegacyGrammarTests
{
    private const int Max = int.MaxValue;

    [TestCase("mlx5_0 hca_handle=", Max, null)]                     // R14
    [TestCase("mlx5_0 hca_handle=ma", Max, null)]                   // R15
    [TestCase("mlx5_0 hca_handle=m", Max, null)]
    [TestCase("mlx5_0 hca_handle=08", 0, null)]                     // R23
    [TestCase("mlx5_0 hca_handle=10abc", 10, null)]                 // R25
    [TestCase("mlx5_0 hca_handle=5\thca_object=6", 5, null)]        // R30
    [TestCase("mlx5_0 hca_handle=1\nrxe0 hca_handle=2", 2, null)]   // R33
    [TestCase("mlx5_0 hca_handle=2 hca_object=max\n", 2, Max)]      // R1: the common cases agree
    [TestCase("mlx5_0 hca_handle=-", 0, null)]
    [TestCase("mlx5_0 hca_handle=18446744073709551617", 1, null)]
    public void Accepts(string s, int? handle, int? obj) =>
        Assert.That(RdmaGrammar.MaxLegacy(s), Is.EqualTo(Parsed<RdmaMaxCommand>.Of(new("mlx5_0", handle, obj))));

    [TestCase("mlx5_0  hca_handle=5")]       // R29: an empty token
    [TestCase("mlx5_0 hca_handle")]          // R13
    [TestCase("mlx5_0 hca_handle=MAX")]      // R16
    [TestCase("mlx5_0 hca_handle=maxx")]
    [TestCase("mlx5_0 hca_handle=-1")]       // R17
    [TestCase("mlx5_0 hca_handle=2147483648")] // R20
    [TestCase("mlx5_0 hca_handle=+5")]       // R24
    [TestCase("mlx5_0 bogus=5")]             // R27
    [TestCase("mlx5_0 hca_handle=000000000000000000000005")] // 11.1: 24 characters
    public void Rejects(string s) => Assert.That(RdmaGrammar.MaxLegacy(s).Error, Is.EqualTo(Errno.EINVAL));

    [Test]
    public void DeviceNameRulesAreThoseOf72()
    {
        Assert.That(RdmaGrammar.MaxLegacy("mlx5_0\thca_handle=5").Value.Device, Is.EqualTo("mlx5_0\thca_handle=5"));
        Assert.That(RdmaGrammar.MaxLegacy("\n").Value, Is.EqualTo(new RdmaMaxCommand("", null, null)));
    }
}
