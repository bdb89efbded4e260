using System.Net.Sockets;
using System.Text;
using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Membership;

namespace CgFs.Control;

/// <summary>
/// The control socket: a Unix stream socket speaking <see cref="ControlGrammar"/> (version 1),
/// served by <see cref="ControlRequests"/>. Any local process may charge as itself (identified by
/// SO_PEERCRED); only root or the mount's owner may change devices and capacities. Each
/// connection is one <see cref="ChargeContext"/>: when it closes, everything charged through it
/// is released.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly Hierarchy _engine;
    private readonly IMembership _membership;
    private readonly ControlRequests _requests;
    private readonly Action<string> _log;
    private readonly Socket _listener;
    private volatile bool _stopped;

    /// <summary>Longest request line accepted; a longer one is answered with EINVAL and the client dropped.
    /// It bounds what one client can make the daemon buffer (the longest valid request is ~300 bytes).</summary>
    public const int MaxLine = 4096;
    /// <summary>Connections served at once; more are told EAGAIN and closed. Every `cgfs hold` is one.</summary>
    public const int MaxConnections = 4096;
    /// <summary>A client that does not take its replies for this long is dropped.</summary>
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);

    private int _connections;

    public ControlServer(string path, ControlRequests requests, Hierarchy engine, IMembership membership, Action<string> log)
    {
        Path = path;
        _requests = requests;
        _engine = engine;
        _membership = membership;
        _log = log;
        requests.Connections = () => Connections;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        _listener = UnixSocket.Listen(path, 512, () => File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110));
        _ = AcceptLoop();
    }

    public string Path { get; }

    /// <summary>Where `cgfs exec` listeners go (null: this mount refuses `supervise`).</summary>
    public Exec.ExecSupervisor? Supervisor
    {
        get => _supervisor;
        init
        {
            _supervisor = value;
            _requests.Supervised = () => value?.Listeners ?? 0;
        }
    }

    private readonly Exec.ExecSupervisor? _supervisor;

    /// <summary>Connections open now (for `memory` and tests).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Accepts without a thread per client: an idle holder costs a socket and a buffer, nothing more.</summary>
    private async Task AcceptLoop()
    {
        bool loggedExhaustion = false;
        while (!_stopped)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync();
            }
            catch (Exception) when (_stopped)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE/ENFILE: descriptors are exhausted; back off instead of spinning.
                if (!loggedExhaustion)
                    _log($"control accept: {e.Message} (logged once)");
                loggedExhaustion = true;
                await Task.Delay(50);
                continue;
            }
            loggedExhaustion = false;
            _ = Serve(client);
        }
    }

    private unsafe Interop.Sys.UCred PeerOf(Socket s)
    {
        Interop.Sys.UCred cred;
        int len = sizeof(Interop.Sys.UCred);
        if (Interop.Sys.GetSockOpt(s.Handle, Interop.Sys.SOL_SOCKET, Interop.Sys.SO_PEERCRED, &cred, &len) != 0)
            return new Interop.Sys.UCred { Pid = 0, Uid = uint.MaxValue, Gid = uint.MaxValue };
        return cred;
    }

    /// <summary>One connection: a fixed buffer of <see cref="MaxLine"/> bytes, one reply per line. When it
    /// ends — the peer closed, died, sent a line too long, or stopped reading — the context is released,
    /// like a closed uverbs fd.</summary>
    private async Task Serve(Socket socket)
    {
        using var owned = socket;
        if (Interlocked.Increment(ref _connections) > MaxConnections)
        {
            Interlocked.Decrement(ref _connections);
            await Send(socket, $"error {Errno.EAGAIN} more than {MaxConnections} control connections\n");
            return;
        }
        var peer = PeerOf(socket);
        using var context = new ChargeContext(_engine, _membership, peer.Pid);
        try
        {
            await ServeLines(socket, peer, context);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer went away or stopped reading.
        }
        catch (Exception e)
        {
            _log($"bug: control request from pid {peer.Pid} threw {e}");
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
        }
    }

    private async Task ServeLines(Socket socket, Interop.Sys.UCred peer, ChargeContext context)
    {
        if (!await Send(socket, ControlGrammar.Greeting + "\n"))
            return;
        var buffer = new byte[MaxLine + 1];
        int filled = 0;
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            if (n == 0)
                return;
            filled += n;
            int start = 0;
            for (int nl; (nl = Array.IndexOf(buffer, (byte)'\n', start, filled - start)) >= 0; start = nl + 1)
            {
                var line = Encoding.Latin1.GetString(buffer, start, nl - start);
                string reply;
                if (ControlGrammar.Line(line) is { Ok: true, Value: Supervise } && nl + 1 == filled)
                    reply = await TakeListener(socket, peer);
                else
                {
                    var o = new StringBuilder();
                    _requests.Execute(line, peer.Uid, context, o);
                    reply = o.ToString();
                }
                if (!await Send(socket, reply))
                    return;
            }
            Buffer.BlockCopy(buffer, start, buffer, 0, filled - start);
            filled -= start;
            if (filled == buffer.Length)
            {
                if (await Send(socket, $"error {Errno.EINVAL} request line longer than {MaxLine} bytes\n"))
                    await HangUp(socket);
                return;
            }
        }
    }

    /// <summary>Hangs up on a client that is still sending: the reply is out, our side shut, then
    /// what it sends is read and dropped (bounded: 16 MiB, 1 s) — closing with its bytes unread
    /// would reset the connection, and the reset can reach the client before the reply does.</summary>
    private static async Task HangUp(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            var sink = new byte[64 * 1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            for (long total = 0; total < 16 << 20;)
            {
                int n = await socket.ReceiveAsync(sink, SocketFlags.None, timeout.Token);
                if (n == 0)
                    break;
                total += n;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Gone or still sending after a second: closed now either way.
        }
    }

    /// <summary>`supervise` (from `cgfs exec`, root or the owner): "send", then the seccomp listener
    /// arrives with SCM_RIGHTS (read raw: .NET's receive would drop it), then "ok" once supervised.</summary>
    private async Task<string> TakeListener(Socket socket, Interop.Sys.UCred peer)
    {
        if (!_requests.IsAdmin(peer.Uid))
            return $"error {Errno.EPERM} only root or the mount's owner may run cgfs exec on this mount\n";
        if (Supervisor is null || Host.ProcFs.Process(peer.Pid) is not { } root)
            return $"error {Errno.ENOSYS} this mount does not supervise cgfs exec\n";
        if (!await Send(socket, "send\n"))
            return "";
        int fd = await Task.Run(() => ReceiveFd((int)socket.Handle, 10_000));
        if (fd < 0)
            return $"error {Errno.EINVAL} no descriptor came\n";
        Supervisor.Add(fd, root);
        return "ok\n";
    }

    private static unsafe int ReceiveFd(int socket, int timeoutMs)
    {
        var pfd = new Interop.Sys.PollFd { Fd = socket, Events = Interop.Sys.POLLIN };
        return Interop.Sys.Poll(&pfd, 1, timeoutMs) == 1 ? Interop.Sys.ReceiveFd(socket) : -1;
    }

    /// <summary>Sends a reply; false if the peer is gone or did not take it within <see cref="SendTimeout"/>.</summary>
    private static async Task<bool> Send(Socket socket, string text)
    {
        using var timeout = new CancellationTokenSource(SendTimeout);
        var bytes = Encoding.Latin1.GetBytes(text);
        try
        {
            for (int sent = 0; sent < bytes.Length;)
                sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _stopped = true;
        _listener.Dispose();
        try
        {
            File.Delete(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"control socket {Path} not removed: {e.Message}"); // a later mount replaces it
        }
    }
}
