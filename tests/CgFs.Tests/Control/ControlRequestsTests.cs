using System.Text;
using CgFs.Accounting;
using CgFs.Control;
using CgFs.Parsing;

namespace CgFs.Tests.Control;

/// <summary>The control protocol's requests without a socket: permission decisions, controller
/// requests, status, charges through a context, and the grammar's format/parse round trip.</summary>
public sealed class ControlRequestsTests
{
    private const uint Owner = 1000;
    private CgfsStack _stack = null!;
    private ControlRequests _requests = null!;

    [SetUp]
    public void Setup()
    {
        _stack = CgfsStack.Create();
        _requests = _stack.ControlRequests(Owner, "/mnt/cg");
    }

    private string Ask(string line, uint uid = 0, ChargeContext? context = null)
    {
        using var own = new ChargeContext(_stack.Engine, _stack.Membership, Environment.ProcessId);
        var o = new StringBuilder();
        _requests.Execute(line, uid, context ?? own, o);
        return o.ToString();
    }

    [TestCase(0u, true)]
    [TestCase(Owner, true)]
    [TestCase(1001u, false)]
    public void DevicesAndCapacitiesAreForRootAndTheOwner(uint uid, bool allowed)
    {
        var reply = Ask("device add rxe0", uid);
        Assert.That(reply, allowed ? Is.EqualTo("ok\n") : Does.StartWith("error EPERM "));
        Assert.That(Ask("misc capacity tdx 3", uid), allowed ? Is.EqualTo("ok\n") : Does.StartWith("error EPERM "));
        Assert.That(Ask("memory", uid), allowed ? Does.StartWith("heap ") : Does.StartWith("error EPERM "));
        Assert.That(Ask("status", uid), Does.StartWith("version 1\nmount /mnt/cg\n"), "anyone may ask for status");
    }

    [Test]
    public void DeviceRequestsRoundTrip()
    {
        Assert.That(Ask("device add rxe0"), Is.EqualTo("ok\n"));
        Assert.That(Ask("device add rxe0"), Is.EqualTo("error EEXIST device rxe0 is already registered\n"));
        Assert.That(Ask("device list"), Is.EqualTo("rxe0\nok\n"));
        Assert.That(Ask("device remove rxe1"), Is.EqualTo("error ENODEV no device rxe1\n"));
        Assert.That(Ask("device rename rxe1 rxe2"), Is.EqualTo("error ENODEV no device rxe1\n"));
        Assert.That(Ask("device add rxe1"), Is.EqualTo("ok\n"));
        Assert.That(Ask("device rename rxe0 rxe1"), Is.EqualTo("error EEXIST device rxe1 is already registered\n"));
        Assert.That(Ask("device rename rxe0 rxe0"), Is.EqualTo("ok\n"), "the same name: nothing to do (ib_device_rename)");
        Assert.That(Ask("device rename rxe0 rxe9", 1001), Does.StartWith("error EPERM "));
        Assert.That(Ask("device rename rxe0 rxe9"), Is.EqualTo("ok\n"));
        Assert.That(Ask("device list"), Is.EqualTo("rxe9\nrxe1\nok\n"), "the renamed device keeps its place");
        Assert.That(Ask("device remove rxe1"), Is.EqualTo("ok\n"));
        Assert.That(Ask("device rename rxe9 rxe0"), Is.EqualTo("ok\n"));
        Assert.That(Ask("misc capacity ioasid 4 follow"), Is.EqualTo("ok\n"));
        Assert.That(Ask("status"), Is.EqualTo(
            "version 1\nmount /mnt/cg\ndevice rxe0 hca_handle=0 hca_object=0\n" +
            "misc sev capacity=0 current=0\nmisc sev_es capacity=0 current=0\nmisc tdx capacity=0 current=0\nmisc ioasid capacity=4 current=0 follow\nok\n"));
        Assert.That(Ask("misc remove nope"), Is.EqualTo("error EINVAL no misc type nope\n"));
        Assert.That(Ask("bogus"), Does.StartWith("error EINVAL cannot parse \"bogus\""));
    }

    [Test]
    public void ChargesAreHeldByTheContextUntilItCloses()
    {
        Ask("device add rxe0");
        Ask("misc capacity sev 2");
        var context = new ChargeContext(_stack.Engine, _stack.Membership, Environment.ProcessId);
        Assert.That(Ask("charge rdma rxe0 hca_object 3", 1001, context), Is.EqualTo("ok 1\n"), "anyone charges as itself");
        Assert.That(Ask("charge misc sev 3", 1001, context), Is.EqualTo("error EBUSY misc sev over its max or capacity\n"));
        Assert.That(Ask("charge misc sev 2", 1001, context), Is.EqualTo("ok 2\n"));
        Assert.That(Ask("status"), Does.Contain("device rxe0 hca_handle=0 hca_object=3\n").And.Contain("misc sev capacity=2 current=2\n"));
        Assert.That(Ask("device remove rxe0"), Is.EqualTo("error EBUSY device rxe0 has charges held; release them first\n"));
        Assert.That(Ask("uncharge 1", 1001, context), Is.EqualTo("ok\n"));
        Assert.That(Ask("uncharge 1", 1001, context), Is.EqualTo("error EINVAL no charge 1 in this context\n"));
        context.Dispose();
        Assert.That(Ask("status"), Does.Contain("misc sev capacity=2 current=0\n"), "closing the context released the rest");
    }

    [TestCase("device add mlx5_0")]
    [TestCase("device remove mlx5_0")]
    [TestCase("device list")]
    [TestCase("device rename mlx5_0 mlx5_9")]
    [TestCase("misc capacity sev 509")]
    [TestCase("misc capacity ioasid 3 follow")]
    [TestCase("misc capacity ioasid 3 nofollow")]
    [TestCase("misc remove tdx")]
    [TestCase("status")]
    [TestCase("memory")]
    [TestCase("metrics")]
    [TestCase("charge rdma mlx5_0 hca_handle 2")]
    [TestCase("charge misc sev 18446744073709551615")]
    [TestCase("uncharge 7")]
    public void EveryRequestFormatsAsTheLineItParsesFrom(string line)
    {
        var parsed = ControlGrammar.Line(line);
        Assert.That(parsed.Ok, Is.True);
        Assert.That(parsed.Value.Format(), Is.EqualTo(line));
    }
}
