using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace CgFs.Fuse;

/// <summary>
/// A FUSE session on an open /dev/fuse descriptor. Several reader threads read the same fd;
/// each serves the request it read and writes the reply itself — a hand-off to another thread
/// costs a cross-CPU wake-up, which costs more than serving the request does.
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

    public Session(int fd, IFuseFileSystem fs, Action<string> log)
    {
        _fd = fd;
        _log = log;
        _dispatcher = new Dispatcher(fs, log);
        new Thread(SendInvalidations) { IsBackground = true, Name = "fuse-invalidate" }.Start();
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
            }
        }
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
