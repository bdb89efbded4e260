using System.Diagnostics;
using System.Text.RegularExpressions;
using CgFs.Fuse;
using CgFs.Tests.Integration;
using NUnit.Framework;

namespace CgFs.Tests.Fuse;

/// <summary>
/// FUSE over io_uring through a real mount: the queue a request lands on, what stays on
/// /dev/fuse, and the daemon's end under load. The kernel switch (enable_uring) is set for each
/// test and restored after it; the rest of the suite runs on both transports (see TransportSetup).
/// </summary>
[TestFixture, NonParallelizable]
public sealed partial class UringTransportTests
{
    private string? _before;
    private readonly List<int> _loadGroups = new();

    [SetUp]
    public void EnableUring()
    {
        if (!File.Exists(TransportSetup.EnableUring))
            Assert.Ignore($"this kernel has no FUSE over io_uring ({TransportSetup.EnableUring})");
        _before = File.ReadAllText(TransportSetup.EnableUring).Trim();
        File.WriteAllText(TransportSetup.EnableUring, "Y");
    }

    [TearDown]
    public void Restore()
    {
        StopLoad();
        if (_before is not null)
            File.WriteAllText(TransportSetup.EnableUring, _before);
    }

    [Test]
    public void EveryQueueServesTheCallersPinnedToItsCpu()
    {
        using var m = new Mount();
        Assert.That(m.Ctl("status").Out, Does.Contain("transport io_uring\n"));
        Assert.That(Queues(m), Has.Count.EqualTo(UringTransport.PossibleCpus()), "one queue per possible CPU");
        for (int cpu = 0; cpu < Environment.ProcessorCount; cpu++)
        {
            var before = Queues(m);
            var r = m.Sh($"taskset -c {cpu} sh -c 'for i in $(seq 200); do cat cgroup.controllers >/dev/null; done'");
            Assert.That(r.Code, Is.Zero, r.ToString());
            var after = Queues(m);
            long served = after[cpu] - before[cpu];
            // Each cat opens, reads (twice: data, then EOF) and closes: at least one request per loop.
            Assert.That(served, Is.GreaterThanOrEqualTo(200), $"queue {cpu} served the callers on CPU {cpu}");
            for (int other = 0; other < after.Count; other++)
                if (other != cpu)
                    Assert.That(after[other] - before[other], Is.LessThan(served), $"queue {other} got less than queue {cpu}");
        }
    }

    [Test]
    public void ForgetsAndInterruptsArriveOnDevFuseWhileTheRingsServe()
    {
        using var m = new Mount();
        Assert.That(m.Write("cgroup.subtree_control", "+rdma +misc"), Is.EqualTo(CgFs.Accounting.Errno.Ok));
        StartLoad(m, "while :; do mkdir -p churn/$$ && cat churn/$$/rdma.max >/dev/null && rmdir churn/$$; done");
        // A reader that catches SIGUSR1 (bash builtins only: every process in the group must
        // survive the signal): each signal that lands while it waits for a reply makes the kernel
        // send INTERRUPT for that request on /dev/fuse, and the request still completes on its ring.
        StartLoad(m, "exec bash -c 'trap : USR1; while :; do read -r x < cgroup.controllers; echo * >/dev/null; done'");
        int reader = _loadGroups[^1];
        Assert.That(Wait.Until(() => Shell.Run($"kill -0 -- -{reader}").Code == 0 && m.Sh("true").Code == 0), Is.True);
        var deadline = Stopwatch.StartNew();
        (long forgets, long interrupts) counts = (0, 0);
        while (deadline.Elapsed < TimeSpan.FromSeconds(20) && (counts.forgets == 0 || counts.interrupts == 0))
        {
            Assert.That(Shell.Run($"for i in $(seq 500); do kill -USR1 -- -{reader} || exit 1; done; echo 2 > /proc/sys/vm/drop_caches").Code,
                Is.Zero, "the reader lives");
            counts = DevFuse(m);
        }
        Assert.That(counts.forgets, Is.Positive, "FORGET came on /dev/fuse");
        Assert.That(counts.interrupts, Is.Positive, "INTERRUPT came on /dev/fuse");
        // The load keeps running: its requests go to the rings, whatever came on /dev/fuse meanwhile.
        Assert.That(Wait.Until(() => Queues(m).Values.Sum() > 1000), Is.True, "the rings served the traffic");
        StopLoad();
        Assert.That(m.Read("cgroup.controllers"), Is.EqualTo("rdma misc\n"));
        Assert.That(m.Log, Does.Not.Contain("bug:").And.Not.Contain("io_uring queue"), m.Log);
    }

    [TestCase("unmount")]
    [TestCase("TERM")]
    [TestCase("KILL")]
    public void TheDaemonEndsUnderLoadWithoutAHangOrAStaleMount(string how)
    {
        using var m = new Mount();
        for (int cpu = 0; cpu < Environment.ProcessorCount; cpu++)
            StartLoad(m, $"exec taskset -c {cpu} sh -c 'while :; do cat cgroup.controllers rdma.max >/dev/null 2>&1; mkdir d$$ 2>/dev/null; rmdir d$$ 2>/dev/null; done'");
        Thread.Sleep(500);
        Assert.That(Queues(m).Values.Sum(), Is.GreaterThan(100), "under load");
        var r = how == "unmount" ? Shell.Run($"{Mount.Binary} unmount {m.MountPoint}") : Shell.Run($"kill -{how} {m.DaemonPid}");
        Assert.That(r.Code, Is.Zero, r.ToString());
        // Unmounting is lazy: the mount leaves the table at once, and the daemon serves the
        // processes still inside (their cwd) until they are gone; after SIGKILL, auto_unmount
        // removes it.
        Assert.That(Wait.Until(() => !Mounter.IsMounted(m.MountPoint)), Is.True, "no stale mount");
        StopLoad();
        Assert.That(m.Daemon.WaitForExit(15_000), Is.True, $"the daemon ended after {how}\n{m.Log}");
        if (how != "KILL")
            Assert.That(m.Daemon.ExitCode, Is.Zero, m.Log);
        Assert.That(Shell.Run($"ls {m.MountPoint}").Code, Is.Zero, "the mount point is usable again");
        Assert.That(m.Log, Does.Not.Contain("bug:").And.Not.Contain("did not stop"), m.Log);
    }

    [Test]
    public void FallsBackToDevFuseWithOneLineWhenTheKernelDoesNotOffer()
    {
        File.WriteAllText(TransportSetup.EnableUring, "N");
        using var m = new Mount();
        Assert.That(m.Ctl("status").Out, Does.Contain("transport /dev/fuse (io_uring: the kernel does not offer FUSE over io_uring"));
        Assert.That(Regex.Matches(m.Log, "serving on").Count, Is.EqualTo(1), m.Log);
        Assert.That(m.Log, Does.Contain("serving on /dev/fuse: io_uring unavailable: the kernel does not offer"));
        Assert.That(m.Read("cgroup.controllers"), Is.EqualTo("rdma misc\n"));
    }

    [Test]
    public void NoIoUringKeepsDevFuseAndIoUringAsksForTheRings()
    {
        using (var m = new Mount("-o", "no_io_uring"))
        {
            Assert.That(m.Ctl("status").Out, Does.Contain("transport /dev/fuse (io_uring: -o no_io_uring)\n"));
            Assert.That(m.Read("cgroup.controllers"), Is.EqualTo("rdma misc\n"));
        }
        using (var m = new Mount("-o", "io_uring,allow_other"))
        {
            Assert.That(m.Ctl("status").Out, Does.Contain("transport io_uring\n"));
            Assert.That(m.Log, Does.Contain($"serving on io_uring: {UringTransport.PossibleCpus()} queues"));
        }
    }

    /// <summary>Requests served per io_uring queue, from `cgfs ctl status`.</summary>
    private static Dictionary<int, long> Queues(Mount m) =>
        QueueLine().Matches(m.Ctl("status").Out).ToDictionary(x => int.Parse(x.Groups[1].Value), x => long.Parse(x.Groups[2].Value));

    private static (long Forgets, long Interrupts) DevFuse(Mount m)
    {
        var x = DevFuseLine().Match(m.Ctl("status").Out);
        return x.Success ? (long.Parse(x.Groups[1].Value), long.Parse(x.Groups[2].Value)) : (-1, -1);
    }

    /// <summary>Starts <paramref name="script"/> in the mount, in its own process group (killed in teardown).</summary>
    private void StartLoad(Mount m, string script)
    {
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = m.MountPoint, RedirectStandardError = true };
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        p.ErrorDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        _loadGroups.Add(p.Id); // setsid (not a group leader) execs sh as the leader of a new group
    }

    private void StopLoad()
    {
        foreach (int group in _loadGroups)
            Shell.Run($"kill -KILL -- -{group} 2>/dev/null");
        _loadGroups.Clear();
    }

    [GeneratedRegex(@"^io_uring queue (\d+) requests (\d+)$", RegexOptions.Multiline)]
    private static partial Regex QueueLine();

    [GeneratedRegex(@"^fuse forgets (\d+) interrupts (\d+)$", RegexOptions.Multiline)]
    private static partial Regex DevFuseLine();
}
