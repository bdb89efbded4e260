using CgFs.Tests.Integration;
using NUnit.Framework;

/// <summary>
/// The transport matrix: `make test` runs the tests that mount cgfs once per FUSE transport,
/// choosing it with CGFS_TEST_TRANSPORT (io_uring or dev_fuse). Mounts use the default (auto),
/// as users do; this fixture sets the kernel's switch (/sys/module/fuse/parameters/enable_uring)
/// to match for the run and puts the old value back afterwards, and every <see cref="Mount"/>
/// checks with `cgfs ctl status` that the transport the switch and its options call for serves.
/// </summary>
[SetUpFixture]
public sealed class TransportSetup
{
    public const string EnableUring = "/sys/module/fuse/parameters/enable_uring";

    /// <summary>"io_uring", "dev_fuse", or null: whatever the machine gives.</summary>
    public static string? Wanted => Environment.GetEnvironmentVariable("CGFS_TEST_TRANSPORT") is { Length: > 0 } t ? t : null;

    private string? _before;

    [OneTimeSetUp]
    public void SetTransport()
    {
        if (Wanted is null)
            return;
        if (Wanted is not ("io_uring" or "dev_fuse"))
            throw new InvalidOperationException($"CGFS_TEST_TRANSPORT={Wanted}: expected io_uring or dev_fuse");
        if (!File.Exists(EnableUring))
        {
            if (Wanted == "io_uring")
                throw new InvalidOperationException($"CGFS_TEST_TRANSPORT=io_uring, but this kernel has no {EnableUring}");
            return;
        }
        _before = File.ReadAllText(EnableUring).Trim();
        File.WriteAllText(EnableUring, Wanted == "io_uring" ? "Y" : "N");
    }

    [OneTimeTearDown]
    public void Restore()
    {
        if (_before is not null)
            File.WriteAllText(EnableUring, _before);
    }

    /// <summary>The status line a mount with <paramref name="args"/> must show while the matrix runs
    /// (null outside it): the default (auto) takes io_uring exactly when the kernel switch is on.</summary>
    public static string? ExpectedStatusLine(IEnumerable<string> args)
    {
        if (Wanted is null)
            return null;
        bool refused = args.Any(a => a.Split(',').Contains("no_io_uring"));
        bool offered = File.Exists(EnableUring) && File.ReadAllText(EnableUring).Trim() == "Y";
        return offered && !refused ? "transport io_uring\n" : "transport /dev/fuse";
    }
}
