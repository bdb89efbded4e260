using CgFs.Host;

namespace CgFs.Tests.Host;

/// <summary>procfs parsing on fixture text (proc(5)), without a live process.</summary>
public sealed class ProcFsTests
{
    private const string Stat =
        "4242 (a (weird) comm) S 4200 4242 4200 34816 4242 4194304 120 0 0 0 0 0 0 0 20 0 1 0 987654 9216000 400 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    [Test]
    public void StatFieldsStartAfterTheLastParenthesisOfComm()
    {
        var s = ProcFs.ParseStat(Stat);
        Assert.That(s, Is.EqualTo(new ProcFs.Stat('S', 4200, 4194304, 987654)));
    }

    [TestCase("")]
    [TestCase("4242 (cut")]
    [TestCase("4242 (x) S 1")]
    [TestCase("4242 (x) S notanumber 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1")]
    public void AnythingElseIsNotAStat(string text) => Assert.That(ProcFs.ParseStat(text), Is.Null);

    private const string Status = "Name:\tbash\nTgid:\t4242\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 1000 \nCapEff:\t0000000000000002\n";

    [Test]
    public void CredentialsComeFromGroupsAndCapEff()
    {
        var c = ProcFs.ParseCredentials(1000, 1000, Status);
        Assert.Multiple(() =>
        {
            Assert.That(c.Groups, Is.EqualTo(new uint[] { 4, 24, 1000 }));
            Assert.That(c.DacOverride, Is.True, "CAP_DAC_OVERRIDE is bit 1");
            Assert.That(c.InGroup(24) && !c.InGroup(25), Is.True);
            Assert.That(ProcFs.StatusField(Status, "Tgid:"), Is.EqualTo("4242"));
        });
    }

    [Test]
    public void AGoneThreadHasNoGroupsAndNoCapabilities()
    {
        var c = ProcFs.ParseCredentials(1000, 1000, "");
        Assert.That((c.Groups.Length, c.DacOverride), Is.EqualTo((0, false)));
        Assert.That(ProcFs.ParseCredentials(1, 1, "CapEff:\tzz\n").DacOverride, Is.False, "garbage is no capability");
    }

    [Test]
    public void ThisProcessIsAliveUnderItsOwnStartTime()
    {
        var me = ProcFs.Process(Environment.ProcessId);
        Assert.That(me, Is.Not.Null);
        Assert.That(ProcFs.Alive(me!.Value), Is.True);
        Assert.That(ProcFs.Alive(me.Value with { StartTime = me.Value.StartTime + 1 }), Is.False, "a recycled pid is another process");
    }
}
