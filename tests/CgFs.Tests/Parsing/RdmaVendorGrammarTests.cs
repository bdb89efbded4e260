using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

/// <summary>Vendor-defined rdma resources (the rdmacg PATCHv4 design, an extension): the grammar
/// takes their names only when some device declared them.</summary>
public sealed class RdmaVendorGrammarTests
{
    private static readonly IReadOnlySet<string> Declared = new HashSet<string> { "qp", "mr" };

    [Test]
    public void DeclaredNamesParseLikeTheKernelsTwo()
    {
        var p = RdmaGrammar.Max("mlx5_0 qp=10 hca_handle=2 mr=max qp=0x10\n", Declared);
        Assert.That(p.Ok, Is.True);
        Assert.That((p.Value.Device, p.Value.HcaHandle, p.Value.HcaObject), Is.EqualTo(("mlx5_0", (int?)2, (int?)null)));
        Assert.That(p.Value.Extra, Is.EquivalentTo(new Dictionary<string, int> { ["qp"] = 16, ["mr"] = int.MaxValue }), "the last mention wins");
        var d = RdmaGrammar.CurrentDelta("mlx5_0 qp=+3 mr=-1", Declared);
        Assert.That(d.Value.Extra, Is.EquivalentTo(new Dictionary<string, long> { ["qp"] = 3, ["mr"] = -1 }));
    }

    [TestCase("mlx5_0 qp=10", null)]
    [TestCase("mlx5_0 uar=10", "qp,mr")]
    [TestCase("mlx5_0 qp=-1", "qp,mr")]
    [TestCase("mlx5_0 qp=", "qp,mr")]
    [TestCase("mlx5_0 qp=000000000000000000000005", "qp,mr")]
    public void UndeclaredNamesAndBadValuesAreEinval(string line, string? declared)
    {
        var keys = declared?.Split(',').ToHashSet();
        Assert.That(RdmaGrammar.Max(line, keys).Error, Is.EqualTo(Errno.EINVAL));
    }

    [Test]
    public void WithoutVendorResourcesTheCommandIsTheKernelsOne() =>
        Assert.That(RdmaGrammar.Max("mlx5_0 hca_object=3").Value, Is.EqualTo(new RdmaMaxCommand("mlx5_0", null, 3)));

    [Test]
    public void DevicesDeclareThemInConfigFilesAndControlLines()
    {
        var (entries, error) = ConfigGrammar.File("rdma-device mlx5_0 resources=qp,mr,uar  # vendor\nrdma-device rxe0\n");
        Assert.That(error, Is.Null);
        Assert.That(entries, Is.EqualTo(new ConfigEntry[] { new RdmaDeviceEntry("mlx5_0", "qp,mr,uar"), new RdmaDeviceEntry("rxe0") }));
        var add = new DeviceAdd("mlx5_0", "qp,mr");
        Assert.That(add.Format(), Is.EqualTo("device add mlx5_0 resources=qp,mr"));
        Assert.That(ControlGrammar.Line(add.Format()).Value, Is.EqualTo(add));
        Assert.That(ControlGrammar.Line("charge rdma mlx5_0 qp 3").Value, Is.EqualTo(new ChargeRdma("mlx5_0", "qp", 3)));
    }

    [Test]
    public void AtMost64ResourcesPerDeviceWithValidUniqueNames()
    {
        Assert.That(RdmaResources.Invalid([.. Enumerable.Range(0, 62).Select(i => $"r{i}")]), Is.Null, "62 + the kernel's 2 = 64");
        Assert.That(RdmaResources.Invalid([.. Enumerable.Range(0, 63).Select(i => $"r{i}")]), Is.EqualTo("at most 64 resources per device"));
        Assert.That(RdmaResources.Invalid(["qp", "qp"]), Is.EqualTo("a resource is named twice"));
        Assert.That(RdmaResources.Invalid(["hca_object"]), Does.Contain("every device already"));
        Assert.That(RdmaResources.Invalid(["Qp"]), Does.Contain("not a resource name"));
        Assert.That(RdmaResources.Invalid(["9p"]), Does.Contain("not a resource name"));
    }
}
