using CgFs.Host;

namespace CgFs.Tests.Host;

/// <summary>The host side of overlay mode: refusing what cannot carry an overlay, and mapping
/// /proc/PID/cgroup paths onto the mirrored directory.</summary>
public sealed class RealCgroupsTests
{
    private static string? Cgroup2 => new[] { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" }.FirstOrDefault(RealCgroups.IsCgroup2);

    [Test]
    public void RefusesWhatIsNotAWritableCgroup2()
    {
        Assert.That(() => RealCgroups.Open("/tmp"), Throws.TypeOf<OverlayUnavailableException>().With.Message.Contains("/tmp is not a cgroup2 directory"));
        Assert.That(() => RealCgroups.Open("/no/such/dir"), Throws.TypeOf<OverlayUnavailableException>().With.Message.Contains("no such directory"));
    }

    [Test]
    public void MapsProcPathsOntoTheMirroredDirectory()
    {
        if (Cgroup2 is not { } root)
        {
            Assert.Ignore("no cgroup2 mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified");
            return;
        }
        var dir = Path.Combine(root, $"cgfs-map-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var real = RealCgroups.Open(dir);
            var name = Path.GetFileName(dir);
            Assert.That(real.Relative($"/{name}"), Is.EqualTo(""));
            Assert.That(real.Relative($"/{name}/job/a"), Is.EqualTo("job/a"));
            Assert.That(real.Relative($"/{name}/job (deleted)"), Is.EqualTo("job"));
            Assert.That(real.Relative($"/{name}x/job"), Is.Null, "a sibling whose name starts the same is outside");
            Assert.That(real.Relative("/"), Is.Null);
            Assert.That(real.ProcPath("job"), Is.EqualTo($"/{name}/job"));
            Assert.That(real.CgroupOf(Environment.ProcessId), Is.Null, "this test runs outside the directory");
        }
        finally
        {
            Directory.Delete(dir);
        }
    }
}
