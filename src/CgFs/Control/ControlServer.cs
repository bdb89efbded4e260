using System.Net.Sockets;
using System.Text;
using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Tree;

namespace CgFs.Control;

/// <summary>
/// The control socket: a Unix stream socket speaking <see cref="ControlGrammar"/> (version 1).
/// Any local process may charge as itself (identified by SO_PEERCRED); only root or the mount's
/// owner may change devices and capacities. Each connection is one <see cref="ChargeContext"/>:
/// when it closes, everything charged through it is released.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly Hierarchy _engine;
    private readonly Processes _processes;
    private readonly uint _ownerUid;
    private readonly string _mountPoint;
    private readonly Action<string> _log;
    private readonly Socket _listener;
    private volatile bool _stopped;

    /// <summary>Where device and capacity changes are recorded for a restart (--state), if anywhere.</summary>
    public State.StateJournal? Journal { get; set; }

    /// <summary>Longest request line accepted; a longer one is answered with EINVAL and the client dropped.
    /// It bounds what one client can make the daemon buffer (the longest valid request is ~300 bytes).</summary>
    public const int MaxLine = 4096;
    /// <summary>Connections served at once; more are told EAGAIN and closed. Every `cgfs hold` is one.</summary>
    public const int MaxConnections = 4096;
    /// <summary>A client that does not take its replies for this long is dropped.</summary>
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);

    private int _connections;

    public ControlServer(string path, string mountPoint, Hierarchy engine, Processes processes, uint ownerUid, Action<string> log)
    {
        Path = path;
        _mountPoint = mountPoint;
        _engine = engine;
        _processes = processes;
        _ownerUid = ownerUid;
        _log = log;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        if (File.Exists(path))
            File.Delete(path); // a socket left by a killed daemon
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
        _listener.Listen(512);
        _ = AcceptLoop();
    }

    public string Path { get; }

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
        using var context = new ChargeContext(_engine, _processes, peer.Pid);
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
                var reply = new StringBuilder();
                Execute(Encoding.Latin1.GetString(buffer, start, nl - start), peer, context, reply);
                if (!await Send(socket, reply.ToString()))
                    return;
            }
            Buffer.BlockCopy(buffer, start, buffer, 0, filled - start);
            filled -= start;
            if (filled == buffer.Length)
            {
                await Send(socket, $"error {Errno.EINVAL} request line longer than {MaxLine} bytes\n");
                return;
            }
        }
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

    private void Execute(string line, Interop.Sys.UCred peer, ChargeContext context, StringBuilder o)
    {
        var parsed = ControlGrammar.Line(line);
        if (!parsed.Ok)
        {
            Error(o, Errno.EINVAL, $"cannot parse \"{line}\" (protocol {ControlGrammar.Version})");
            return;
        }
        var cmd = parsed.Value;
        bool admin = peer.Uid == 0 || peer.Uid == _ownerUid;
        if (cmd is DeviceAdd or DeviceRemove or MiscCapacity or MiscRemove or Memory && !admin)
        {
            Error(o, Errno.EPERM, cmd is Memory ? "only root or the mount's owner may force a full GC"
                : "only root or the mount's owner may change devices and capacities");
            return;
        }
        switch (cmd)
        {
            case DeviceAdd(var name):
                var added = Journaled($"device add {Esc(name)}", () => _engine.Run(() =>
                {
                    if (_engine.Rdma.FindLocked(name) is not null)
                        return Errno.EEXIST;
                    _engine.Rdma.RegisterLocked(name);
                    return Errno.Ok;
                }));
                Done(o, added, added == Errno.EEXIST ? $"device {name} is already registered" : NotRecorded(added));
                break;
            case DeviceRemove(var name):
                var removed = Journaled($"device remove {Esc(name)}",
                    () => _engine.Run(() => _engine.Rdma.FindLocked(name) is { } d ? _engine.Rdma.UnregisterLocked(d) : Errno.ENODEV));
                Done(o, removed, removed switch
                {
                    Errno.EBUSY => $"device {name} has charges held; release them first",
                    Errno.ENODEV => $"no device {name}",
                    _ => NotRecorded(removed),
                });
                break;
            case DeviceList:
                foreach (var d in _engine.Run(() => _engine.Rdma.DevicesLocked.Select(d => d.Name).ToArray()))
                    o.Append(d).Append('\n');
                o.Append("ok\n");
                break;
            case MiscCapacity(var name, var capacity, var follow):
                // The record states the follow mode the type ends up with, so replay needs no history.
                bool follows = follow ?? _engine.Run(() => _engine.Misc.FindLocked(name)?.Follow ?? false);
                var set = Journaled($"misc capacity {Esc(name)} {capacity} {(follows ? "follow" : "nofollow")}",
                    () => _engine.Run(() => { _engine.Misc.SetCapacityLocked(name, capacity, follows); return Errno.Ok; }));
                Done(o, set, NotRecorded(set));
                break;
            case MiscRemove(var name):
                var r = Journaled($"misc remove {Esc(name)}",
                    () => _engine.Run(() => _engine.Misc.FindLocked(name) is { } t ? _engine.Misc.RemoveTypeLocked(t) : Errno.EINVAL));
                Done(o, r, r switch
                {
                    Errno.EBUSY => $"misc type {name} is in use",
                    Errno.EINVAL => $"no misc type {name}",
                    _ => NotRecorded(r),
                });
                break;
            case Status:
                StatusLines(o);
                o.Append("ok\n");
                break;
            case Memory:
                MemoryLines(o);
                o.Append("ok\n");
                break;
            case ChargeRdma(var device, var resource, var amount):
                var (re, rid) = context.ChargeRdma(device, resource, amount);
                Charged(o, re, rid, re == Errno.ENODEV ? $"no device {device}" : $"rdma {device} {Name(resource)} over a limit");
                break;
            case ChargeMisc(var name, var amount):
                var (me, mid) = context.ChargeMisc(name, amount);
                Charged(o, me, mid, me == Errno.EINVAL ? $"misc type {name} is unknown or has capacity 0" : $"misc {name} over its max or capacity");
                break;
            case Uncharge(var id):
                Done(o, context.Uncharge(id), $"no charge {id} in this context");
                break;
        }
    }

    private static string Esc(string s) => State.StateJournal.Esc(s);

    /// <summary>Device and type changes are journaled first (--state): refused, unchanged, if the record cannot be written.</summary>
    private Errno Journaled(string record, Func<Errno> apply) => State.StateJournal.Commit(Journal, () => record, apply);

    private static string NotRecorded(Errno e) => $"the state journal cannot record it: {State.JournalFile.Describe(e)}";

    private static string Name(RdmaResource r) => r == RdmaResource.HcaHandle ? "hca_handle" : "hca_object";

    private void StatusLines(StringBuilder o)
    {
        var (rows, misc, miscRows) = _engine.Run(() => (
            _engine.Rdma.RowsLocked((RdmaState)_engine.StateLocked(_engine.Root, Controllers.Rdma)!),
            _engine.Misc.TypesLocked.Select(t => (t.Name, t.Capacity, t.Follow)).ToArray(),
            _engine.Misc.RowsLocked((MiscState)_engine.StateLocked(_engine.Root, Controllers.Misc)!)));
        o.Append("version ").Append(ControlGrammar.Version).Append('\n');
        o.Append("mount ").Append(_mountPoint).Append('\n');
        foreach (var r in rows)
            o.Append($"device {r.Device} hca_handle={r.Current[0]} hca_object={r.Current[1]}\n");
        foreach (var (name, capacity, follow) in misc)
            o.Append($"misc {name} capacity={capacity} current={miscRows.First(m => m.Name == name).Current}{(follow ? " follow" : "")}\n");
    }

    /// <summary>What a soak test watches: the managed heap after a full, compacting, blocking GC
    /// (what is really alive), the resident set, and the open control connections.</summary>
    private void MemoryLines(StringBuilder o)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        o.Append("heap ").Append(GC.GetTotalMemory(forceFullCollection: false)).Append('\n');
        o.Append("rss ").Append(Environment.WorkingSet).Append('\n');
        o.Append("connections ").Append(Connections).Append('\n');
    }

    private static void Done(StringBuilder o, Errno e, string message)
    {
        if (e == Errno.Ok)
            o.Append("ok\n");
        else
            Error(o, e, message);
    }

    private static void Charged(StringBuilder o, Errno e, long id, string message)
    {
        if (e == Errno.Ok)
            o.Append("ok ").Append(id).Append('\n');
        else
            Error(o, e, message);
    }

    private static void Error(StringBuilder o, Errno e, string message) => o.Append($"error {e} {message}\n");

    public void Dispose()
    {
        _stopped = true;
        _listener.Dispose();
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
