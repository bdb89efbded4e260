using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace CgFs.Fuse;

/// <summary>
/// A FUSE session on an open /dev/fuse descriptor. Several reader threads read the same fd;
/// each serves the request it read and writes the reply itself — a hand-off to another thread
/// costs a cross-CPU wake-up, which costs more than serving the request does. When INIT
/// negotiates FUSE over io_uring, a <see cref="UringTransport"/> serves the requests instead
/// and the readers are left with FORGET and INTERRUPT.
///
/// Hazards: the kernel answers read(2) with ENOENT when the request was interrupted (retry) and
/// ENODEV once the filesystem is unmounted (stop). A filesystem callback must never block on
/// another FUSE request to this mount (that would deadlock the reader serving it).
/// </summary>
public sealed unsafe class Session : IFuseNotifier
{
    private const int ENOENT = 2, EINTR = 4, EAGAIN = 11, ENODEV = 19;
    private readonly int _fd;
    private readonly Dispatcher _dispatcher;
    private readonly Action<string> _log;
    private readonly object _notifyLock = new();
    private readonly BlockingCollection<(IReadOnlyList<(ulong Parent, string Name)> Entries, ManualResetEventSlim Done)> _invalidations = new();
    private readonly TransportMode _mode;
    /// <summary>Rings set up while INIT is answered, started once its reply is written.</summary>
    private UringTransport? _starting;
    private volatile UringTransport? _uring;
    private string _transport = "/dev/fuse (no INIT yet)";
    /// <summary>FORGET/BATCH_FORGET and INTERRUPT requests read from /dev/fuse (they never travel on a ring).</summary>
    private long _forgets, _interrupts;

    /// <summary>Told of every request served, on either transport (metrics).</summary>
    public IRequestObserver? Observer { get => _dispatcher.Observer; set => _dispatcher.Observer = value; }

    public Session(int fd, IFuseFileSystem fs, Action<string> log, TransportMode mode = TransportMode.DevFuse)
    {
        _fd = fd;
        _log = log;
        _mode = mode;
        _dispatcher = new Dispatcher(fs, log) { NegotiateTransport = Negotiate };
        new Thread(SendInvalidations) { IsBackground = true, Name = "fuse-invalidate" }.Start();
    }

    /// <summary>What serves requests, for `cgfs ctl status`: "transport io_uring" and a line per
    /// queue with its request count, or "transport /dev/fuse" and why not io_uring.</summary>
    public IEnumerable<string> TransportStatus()
    {
        yield return "transport " + _transport;
        if (_uring is { } u)
            foreach (var (count, q) in u.Requests.Select((c, i) => (c, i)))
                yield return $"io_uring queue {q} requests {count}";
        yield return $"fuse forgets {Interlocked.Read(ref _forgets)} interrupts {Interlocked.Read(ref _interrupts)}";
    }

    /// <summary>INIT: take FUSE over io_uring when it is offered, wanted and the rings can be set up.</summary>
    private uint Negotiate(InitIn init)
    {
        if (_mode == TransportMode.DevFuse)
            return ServeDevFuse("-o no_io_uring", "-o no_io_uring");
        bool offered = (init.Flags & Fuse.InitExt) != 0 && (init.Flags2 & Fuse.OverIoUring2) != 0;
        string? why = offered ? null
            : "the kernel does not offer FUSE over io_uring (Linux 6.14+, CONFIG_FUSE_IO_URING, Y in /sys/module/fuse/parameters/enable_uring)";
        if (why is null && UringTransport.TryCreate(_fd, _dispatcher, _log, out why) is { } rings)
        {
            _starting = rings;
            // Until every queue has registered, the kernel still sends requests on /dev/fuse.
            _transport = "/dev/fuse (io_uring: queues registering)";
            return Fuse.OverIoUring2;
        }
        return ServeDevFuse(why!, "io_uring unavailable: " + why);
    }

    /// <summary>Stays on /dev/fuse, saying why in the status and in one log line.</summary>
    private uint ServeDevFuse(string why, string logged)
    {
        _transport = $"/dev/fuse (io_uring: {why})";
        _log($"serving on /dev/fuse: {logged}");
        return 0;
    }

    /// <summary>After the INIT reply: every queue registers, or the mount could never be served
    /// (the kernel holds every request until all queues have) — then the daemon exits, and the
    /// mount with it.</summary>
    private void StartRings()
    {
        if (Interlocked.Exchange(ref _starting, null) is not { } rings)
            return;
        if (rings.Start() is { } refused)
        {
            _log($"io_uring was negotiated but {refused}; the kernel holds every request until all queues register: exiting");
            Environment.Exit(70);
        }
        _uring = rings;
        _transport = "io_uring";
        _log($"serving on io_uring: {rings.Queues} queues (one per CPU), {UringTransport.Depth} entries each");
    }

    /// <summary>Serves requests on <paramref name="threads"/> threads until the mount goes away.</summary>
    public void Run(int threads)
    {
        var workers = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            workers[i] = new Thread(Loop) { IsBackground = true, Name = $"fuse-reader-{i}" };
            workers[i].Start();
        }
        foreach (var t in workers)
            t.Join();
        if (_uring is { } rings)
        {
            rings.Stop();
            rings.Dispose();
        }
    }

    private void Loop()
    {
        var request = GC.AllocateUninitializedArray<byte>(Fuse.RequestBufferSize, pinned: true);
        var reply = GC.AllocateUninitializedArray<byte>(Fuse.RequestBufferSize + 4096, pinned: true);
        fixed (byte* req = request)
        fixed (byte* rep = reply)
        {
            while (true)
            {
                nint n = Interop.Sys.Read(_fd, req, request.Length);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is ENOENT or EINTR or EAGAIN)
                        continue;
                    if (errno != ENODEV)
                        _log($"read /dev/fuse: errno {errno}");
                    return;
                }
                Count(((InHeader*)req)->Opcode);
                int len = _dispatcher.Handle(new ReadOnlySpan<byte>(req, (int)n), new Span<byte>(rep, reply.Length));
                if (len > 0 && Interop.Sys.Write(_fd, rep, len) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == ENODEV)
                        return;
                    // ENOENT: the request was interrupted and the kernel no longer waits for it.
                    if (errno != ENOENT)
                        _log($"write /dev/fuse: errno {errno}");
                }
                if (_starting is not null)
                    StartRings();
            }
        }
    }

    private void Count(Opcode opcode)
    {
        if (opcode is Opcode.Forget or Opcode.BatchForget)
            Interlocked.Increment(ref _forgets);
        else if (opcode == Opcode.Interrupt)
            Interlocked.Increment(ref _interrupts);
    }

    public void NotifyPoll(ulong kh)
    {
        Span<byte> msg = stackalloc byte[sizeof(OutHeader) + sizeof(NotifyPollWakeupOut)];
        var h = new OutHeader { Len = (uint)msg.Length, Error = Fuse.NotifyPoll, Unique = 0 };
        MemoryMarshal.Write(msg, in h);
        MemoryMarshal.Write(msg[sizeof(OutHeader)..], new NotifyPollWakeupOut { Kh = kh });
        Send(msg);
    }

    public void InvalidateEntries(IReadOnlyList<(ulong Parent, string Name)> entries, TimeSpan wait)
    {
        if (entries.Count == 0)
            return;
        var done = new ManualResetEventSlim();
        _invalidations.Add((entries, done));
        done.Wait(wait);
    }

    private void SendInvalidations()
    {
        foreach (var (entries, done) in _invalidations.GetConsumingEnumerable())
        {
            foreach (var (parent, name) in entries)
            {
                int nameLen = Encoding.Latin1.GetByteCount(name);
                var msg = new byte[sizeof(OutHeader) + sizeof(NotifyInvalEntryOut) + nameLen + 1];
                MemoryMarshal.Write(msg, new OutHeader { Len = (uint)msg.Length, Error = Fuse.NotifyInvalEntry });
                MemoryMarshal.Write(msg.AsSpan(sizeof(OutHeader)), new NotifyInvalEntryOut { Parent = parent, NameLen = (uint)nameLen });
                Encoding.Latin1.GetBytes(name, msg.AsSpan(sizeof(OutHeader) + sizeof(NotifyInvalEntryOut)));
                Send(msg);
            }
            done.Set();
        }
    }

    /// <summary>Writes one notification; ENOENT (nothing cached) and ENODEV (unmounted) are expected.</summary>
    private void Send(ReadOnlySpan<byte> msg)
    {
        lock (_notifyLock)
        {
            fixed (byte* p = msg)
                Interop.Sys.Write(_fd, p, msg.Length);
        }
    }
}
