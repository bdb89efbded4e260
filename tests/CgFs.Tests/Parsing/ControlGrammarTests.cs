using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

public sealed class ControlGrammarTests
{
    [Test]
    public void ParsesEveryRequest()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ControlGrammar.Line("device add mlx5_0").Value, Is.EqualTo(new DeviceAdd("mlx5_0")));
            Assert.That(ControlGrammar.Line("device remove rxe0 ").Value, Is.EqualTo(new DeviceRemove("rxe0")));
            Assert.That(ControlGrammar.Line("device list").Value, Is.EqualTo(new DeviceList()));
            Assert.That(ControlGrammar.Line("device rename rxe1 rxe9").Value, Is.EqualTo(new DeviceRename("rxe1", "rxe9")));
            Assert.That(ControlGrammar.Line("misc capacity sev 509").Value, Is.EqualTo(new MiscCapacity("sev", 509, null)));
            Assert.That(ControlGrammar.Line("misc capacity ioasid 64 follow").Value, Is.EqualTo(new MiscCapacity("ioasid", 64, true)));
            Assert.That(ControlGrammar.Line("misc remove ioasid").Value, Is.EqualTo(new MiscRemove("ioasid")));
            Assert.That(ControlGrammar.Line("status").Value, Is.EqualTo(new Status()));
            Assert.That(ControlGrammar.Line("memory").Value, Is.EqualTo(new Memory()));
            Assert.That(ControlGrammar.Line("metrics").Value, Is.EqualTo(new MetricsText()));
            Assert.That(ControlGrammar.Line("charge rdma mlx5_0 hca_object 3").Value, Is.EqualTo(new ChargeRdma("mlx5_0", "hca_object", 3)));
            Assert.That(ControlGrammar.Line("charge misc sev 1").Value, Is.EqualTo(new ChargeMisc("sev", 1)));
            Assert.That(ControlGrammar.Line("uncharge 7").Value, Is.EqualTo(new Uncharge(7)));
        });
    }

    [TestCase("")]
    [TestCase("device")]
    [TestCase("device add")]
    [TestCase("device rename rxe1")]
    [TestCase("device rename rxe1 rxe9 rxe10")]
    [TestCase("misc capacity sev")]
    [TestCase("misc capacity sev -1")]
    [TestCase("charge rdma mlx5_0 Hca_object 1")]
    [TestCase("charge rdma mlx5_0 hca_object 0")]
    [TestCase("charge rdma mlx5_0 hca_object 2147483648")]
    [TestCase("status now")]
    public void RejectsMalformedLines(string line) => Assert.That(ControlGrammar.Line(line).Error, Is.EqualTo(Errno.EINVAL));

    [TestCase("ok", true, Errno.Ok, "")]
    [TestCase("ok 12", true, Errno.Ok, "12")]
    [TestCase("error EBUSY device x has charges held", true, Errno.EBUSY, "device x has charges held")]
    [TestCase("mlx5_0", false, Errno.Ok, "mlx5_0")]
    public void Replies(string line, bool final, Errno e, string text) =>
        Assert.That(ControlGrammar.Reply(line), Is.EqualTo((final, e, text)));
}

public sealed class ConfigGrammarTests
{
    [Test]
    public void ParsesAFileInOrder()
    {
        var (entries, error) = ConfigGrammar.File("# devices\nrdma-device mlx5_0\n  rdma-device rxe0   # soft-RoCE\n\nmisc sev 509\nmisc ioasid 64 follow\n");
        Assert.That(error, Is.Null);
        Assert.That(entries, Is.EqualTo(new ConfigEntry[]
        {
            new RdmaDeviceEntry("mlx5_0"), new RdmaDeviceEntry("rxe0"), new MiscEntry("sev", 509, false), new MiscEntry("ioasid", 64, true),
        }));
    }

    [TestCase("rdma-device\n", "line 1")]
    [TestCase("misc sev\n", "line 1")]
    [TestCase("rdma-device a\nbogus\n", "line 2")]
    public void NamesTheFirstBadLine(string text, string where) =>
        Assert.That(ConfigGrammar.File(text).Error, Does.StartWith(where));

    [TestCase("sev=509", "sev", 509UL, false)]
    [TestCase("ioasid=64,follow", "ioasid", 64UL, true)]
    public void MiscOption(string s, string name, ulong cap, bool follow) =>
        Assert.That(ConfigGrammar.MiscOption(s).Value, Is.EqualTo(new MiscEntry(name, cap, follow)));
}
