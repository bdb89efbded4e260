using CgFs.Cli;
using CgFs.Parsing;

namespace CgFs.Tests.Cli;

/// <summary>`cgfs mount` argument parsing.</summary>
public sealed class MountOptionsTests
{
    [Test]
    public void NoDeviceOptionsMeanTheEmbeddedDefault()
    {
        var o = MountOptions.Parse(["/tmp/m"]);
        Assert.Multiple(() =>
        {
            Assert.That(o.MountPoint, Is.EqualTo("/tmp/m"));
            Assert.That(o.Foreground, Is.False);
            Assert.That(o.Threads, Is.EqualTo(2));
            Assert.That(o.Entries, Is.EqualTo(new ConfigEntry[]
            {
                new RdmaDeviceEntry("mlx5_0"), new RdmaDeviceEntry("mlx5_1"), new MiscEntry("sev", 509, false), new MiscEntry("sev_es", 16, false),
            }));
            Assert.That(o.Control, Does.EndWith(".sock"));
        });
    }

    [Test]
    public void ExplicitDevicesAndTypesReplaceTheDefault()
    {
        var o = MountOptions.Parse(["m", "-f", "--rdma-device", "rxe0", "--misc", "ioasid=9,follow", "-o", "allow_other,ro", "--threads", "4",
            "--state", "s", "--rdma-legacy", "--control", "/run/x.sock"]);
        Assert.Multiple(() =>
        {
            Assert.That(o.Entries, Is.EqualTo(new ConfigEntry[] { new RdmaDeviceEntry("rxe0"), new MiscEntry("ioasid", 9, true) }));
            Assert.That(o.FuseOptions, Is.EqualTo(new[] { "allow_other", "ro" }));
            Assert.That((o.Foreground, o.Threads, o.RdmaLegacy, o.Control), Is.EqualTo((true, 4, true, "/run/x.sock")));
            Assert.That(o.State, Is.EqualTo(Path.GetFullPath("s")));
        });
    }

    [TestCase(new string[0], "missing MOUNTPOINT")]
    [TestCase(new[] { "a", "b" }, "unexpected argument 'b'")]
    [TestCase(new[] { "a", "--bogus" }, "unexpected argument '--bogus'")]
    [TestCase(new[] { "a", "--threads", "0" }, "--threads expects 1..64")]
    [TestCase(new[] { "a", "--threads" }, "--threads needs a value")]
    [TestCase(new[] { "a", "--misc", "sev" }, "--misc expects NAME=CAPACITY")]
    [TestCase(new[] { "a", "--misc", "sev=99999999999999999999" }, "--misc expects NAME=CAPACITY")]
    [TestCase(new[] { "a", "--config", "/nonexistent/cgfs.conf" }, "not found")]
    public void MistakesAreUsageErrors(string[] args, string message) =>
        Assert.That(() => MountOptions.Parse(args), Throws.TypeOf<CliException>().With.Message.Contains(message));
}
