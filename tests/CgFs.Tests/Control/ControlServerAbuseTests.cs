using System.Net.Sockets;
using System.Text;
using CgFs.Accounting;
using CgFs.Control;
using CgFs.Tests.Integration;

namespace CgFs.Tests.Control;

/// <summary>
/// The control socket under abuse (issue 9): an endless line, binary garbage, clients that connect
/// and never send, thousands at once. Each gets a protocol error or is dropped; none stalls the
/// mount, the other clients or the daemon's memory.
/// </summary>
[NonParallelizable]
public sealed class ControlServerAbuseTests
{
    private Mount _m = null!;

    [SetUp]
    public void SetUp() => _m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=5");

    [TearDown]
    public void TearDown() => _m.Dispose();

    private Socket Connect()
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 10_000 };
        s.Connect(new UnixDomainSocketEndPoint(_m.Control));
        return s;
    }

    /// <summary>Everything the server sends until it closes the connection (bounded by the receive timeout).</summary>
    private static string ReadToClose(Socket s)
    {
        var all = new List<byte>();
        var buf = new byte[4096];
        int n;
        while ((n = s.Receive(buf)) > 0)
            all.AddRange(buf.AsSpan(0, n).ToArray());
        return Encoding.Latin1.GetString(all.ToArray());
    }

    /// <summary>The mount and a well-behaved client still answer at once.</summary>
    private void StillServing()
    {
        Assert.That(_m.Read("cgroup.controllers"), Is.EqualTo("rdma misc\n"));
        using var c = new ControlClient(_m.Control);
        var (error, _, lines) = c.Request("device list");
        Assert.That((error, string.Join(",", lines)), Is.EqualTo((Errno.Ok, "mlx5_0")));
    }

    private long Heap() => _m.Memory().Heap;

    [Test]
    public void AnEndlessLineIsRefusedAndTheClientDropped()
    {
        using var s = Connect();
        var chunk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
        try
        {
            for (int i = 0; i < 64; i++) // 4 MiB without a newline
                s.Send(chunk);
        }
        catch (SocketException)
        {
            // The server hung up first: exactly what it should do.
        }
        var reply = ReadToClose(s);
        Assert.That(reply, Is.EqualTo($"cgfs-control 1\nerror EINVAL request line longer than {ControlServer.MaxLine} bytes\n"));
        StillServing();
    }

    [Test]
    public void BinaryGarbageGetsProtocolErrorsAndChargesNothing()
    {
        using var s = Connect();
        var r = new Random(9);
        var garbage = new byte[3000];
        r.NextBytes(garbage);
        for (int i = 0; i < garbage.Length; i += 97)
            garbage[i] = (byte)'\n';
        s.Send(garbage);
        s.Shutdown(SocketShutdown.Send);
        var reply = ReadToClose(s);
        var lines = reply.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Is.EqualTo("cgfs-control 1"));
        Assert.That(lines.Skip(1), Has.All.StartWith("error EINVAL cannot parse"));
        Assert.That(lines.Length - 1, Is.EqualTo(garbage.Count(b => b == '\n')), "one error per line");
        Assert.That(_m.Ctl("status").Out, Does.Contain("device mlx5_0 hca_handle=0 hca_object=0\n"));
        StillServing();
    }

    [Test]
    public void ThousandsOfSilentClientsStallNothingAndLeaveNothing()
    {
        long before = Heap();
        var silent = new List<Socket>();
        try
        {
            for (int i = 0; i < 3000; i++)
                silent.Add(Connect());
            StillServing();
            Assert.That(_m.Sh($"{Mount.Binary} hold --control {_m.Control} --rdma mlx5_0:hca_object=2 -- cat cgroup.controllers").Out,
                Is.EqualTo("rdma misc\n"), "a holder is served among 3,000 silent clients");
            Assert.That(_m.Memory().Connections, Is.EqualTo(3001));
        }
        finally
        {
            foreach (var s in silent)
                s.Dispose();
        }
        Assert.That(Wait.Until(() => _m.Memory().Connections == 1), Is.True, "every silent client is gone once it closes");
        long after = Heap();
        TestContext.Out.WriteLine($"heap {before / 1024} KiB -> {after / 1024} KiB after 3,000 silent clients came and went");
        Assert.That(after, Is.LessThanOrEqualTo(before * 11 / 10 + (4L << 20)));
    }

    [Test]
    public void AClientThatNeverReadsItsRepliesIsDroppedWithoutStallingOthers()
    {
        using var s = Connect();
        s.SendBufferSize = 4096;
        var flood = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("status\n", 500)));
        var sender = Task.Run(() =>
        {
            try
            {
                for (int i = 0; i < 400; i++)
                    s.Send(flood);
            }
            catch (SocketException)
            {
            }
        });
        Thread.Sleep(500);
        StillServing();
        Assert.That(sender.Wait(60_000), Is.True, "the server stops reading from a client it dropped, so the sender fails or finishes");
        StillServing();
    }
}
