using System.Runtime.InteropServices;

namespace CgFs.Fuse;

/// <summary>
/// One FUSE io_uring queue: the ring for one CPU, its entries, and the one thread — pinned to that
/// CPU — that alone submits to and waits on the ring. The kernel hands a request made on CPU n to
/// queue n and runs the task work that copies it into an entry on the thread that submitted the
/// entry's command, so request, service and reply stay on the caller's CPU.
///
/// An entry is a header page (struct fuse_uring_req_header) and a payload buffer of the
/// negotiated size, registered once with FUSE_IO_URING_CMD_REGISTER; from then on each reply is
/// committed with FUSE_IO_URING_CMD_COMMIT_AND_FETCH, which also asks for the next request. The
/// kernel completes an entry's command when it holds a request (res 0) or when the connection
/// goes away (-ENOTCONN).
/// </summary>
internal sealed unsafe class UringQueue : IDisposable
{
    private const int EINTR = 4, EAGAIN = 11, ENOTCONN = 107, EIO = 5;
    private const ulong StopTag = ulong.MaxValue;
    private const int PageSize = 4096;
    /// <summary>The entry's iovec pair lives in its header page, after the 288 bytes the kernel uses.</summary>
    private const int IovOffset = 512;

    private sealed class Entry
    {
        public int Index;
        public byte* Header;
        public byte* Payload;
        public uint LastCommand;
        public ulong CommitId;
    }

    public readonly int Id;
    private readonly IoUring _ring;
    private readonly Entry[] _entries;
    private readonly nuint _payloadSize;
    private readonly int _eventFd;
    private readonly int _fuseFd;
    private readonly Dispatcher _dispatcher;
    private readonly Action<string> _log;
    private readonly byte[] _body;
    private long _requests;
    /// <summary>Entries the kernel still holds a command of; the thread ends when none is left.</summary>
    private int _live;

    /// <summary>Requests served on this queue so far.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    private UringQueue(int id, IoUring ring, int eventFd, int fuseFd, int depth, nuint payloadSize, Dispatcher dispatcher, Action<string> log)
    {
        (Id, _ring, _eventFd, _fuseFd, _payloadSize, _dispatcher, _log) = (id, ring, eventFd, fuseFd, payloadSize, dispatcher, log);
        _entries = new Entry[depth];
        _live = depth;
        _body = GC.AllocateUninitializedArray<byte>(FuseUring.OpInSize + (int)payloadSize, pinned: true);
    }

    /// <summary>Sets up queue <paramref name="id"/>: its ring (with the FUSE device as fixed file 0),
    /// its entries' buffers and the eventfd that stops it. Nothing is submitted yet.</summary>
    public static UringQueue? Create(int id, int fuseFd, int depth, nuint payloadSize, Dispatcher dispatcher,
        Action<string> log, out string? why)
    {
        var ring = IoUring.Create((uint)depth + 1, out int errno);
        if (ring is null)
        {
            why = $"io_uring_setup: {Errnos.Describe(errno)}";
            return null;
        }
        int eventFd = Interop.Uring.EventFd(0, Interop.Uring.EfdCloexec);
        var queue = new UringQueue(id, ring, eventFd, fuseFd, depth, payloadSize, dispatcher, log);
        why = eventFd < 0 ? $"eventfd: {Errnos.Last()}" : queue.AllocateEntries();
        if (why is null)
            return queue;
        queue.Dispose();
        return null;
    }

    private string? AllocateEntries()
    {
        for (int i = 0; i < _entries.Length; i++)
        {
            byte* header = Map(PageSize), payload = Map(_payloadSize);
            _entries[i] = new Entry { Index = i, Header = header, Payload = payload };
            if (header is null || payload is null)
                return $"mmap: {Errnos.Last()}";
            var iov = (nuint*)(header + IovOffset);
            (iov[0], iov[1], iov[2], iov[3]) = ((nuint)header, FuseUring.HeaderSize, (nuint)payload, _payloadSize);
        }
        return null;
    }

    /// <summary>Anonymous memory, populated lazily: an idle entry costs address space, not RSS.</summary>
    private static byte* Map(nuint size)
    {
        void* p = Interop.Uring.MMap(null, size, Interop.Uring.ProtRead | Interop.Uring.ProtWrite,
            Interop.Uring.MapPrivate | Interop.Uring.MapAnonymous, -1, 0);
        return p == Interop.Uring.MapFailed ? null : (byte*)p;
    }

    /// <summary>The queue thread's first step: registers every entry and the stop poll. Returns
    /// null, or why the kernel refused (then the mount cannot be served: the kernel waits for
    /// every queue before it routes any request).</summary>
    public string? Register()
    {
        foreach (var e in _entries)
            if (!Submit(e, FuseUring.CmdRegister))
                return "no free SQE for a registration";
        byte* poll = _ring.NextSqe();
        if (poll is null)
            return "no free SQE for the stop poll";
        poll[0] = Interop.Uring.OpPollAdd;
        *(int*)(poll + 4) = _eventFd;
        *(uint*)(poll + 28) = 1; // POLLIN
        *(ulong*)(poll + 32) = StopTag;
        if (_ring.SubmitAndWait(0) is var errno and not 0)
            return $"io_uring_enter: {Errnos.Describe(errno)}";
        // A refused registration completes at once (an accepted one only when a request comes);
        // the completions are left for the loop, which also retries EAGAIN and EINTR.
        for (uint i = 0; i < _ring.Completions; i++)
        {
            var c = _ring.PeekAt(i);
            if (c.UserData != StopTag && c.Res < 0 && c.Res is not (-EAGAIN or -EINTR))
                return $"FUSE_IO_URING_CMD_REGISTER: {Errnos.Describe(-c.Res)}";
        }
        return null;
    }

    /// <summary>Serves requests until the connection goes away or <see cref="Stop"/> is called.</summary>
    public void Serve()
    {
        while (true)
        {
            if (_ring.SubmitAndWait(1) is var errno and not 0)
            {
                _log($"io_uring queue {Id}: io_uring_enter: {Errnos.Describe(errno)}");
                return;
            }
            for (uint n = _ring.Completions; n > 0; n--)
            {
                var c = _ring.Peek();
                _ring.Advance();
                if (c.UserData == StopTag)
                    return;
                Complete(_entries[c.UserData], c.Res);
            }
            if (_live == 0)
                return;
        }
    }

    private void Complete(Entry e, int res)
    {
        if (res == 0)
        {
            Answer(e);
            Interlocked.Increment(ref _requests);
            Submit(e, FuseUring.CmdCommitAndFetch);
        }
        else if (res is -EINTR or -EAGAIN)
            Submit(e, e.LastCommand);
        else
        {
            // -ENOTCONN: unmounted or aborted, the entry is torn down. Anything else is a bug.
            if (res != -ENOTCONN)
                _log($"io_uring queue {Id}: command {e.LastCommand} failed: {Errnos.Describe(-res)}");
            _live--;
        }
    }

    /// <summary>Rebuilds the request from its two halves (the opcode's header in op_in, the rest in
    /// the payload), serves it, and leaves the reply in the entry: out header in in_out, payload
    /// in the payload buffer, its size in ent_in_out.</summary>
    private void Answer(Entry e)
    {
        var h = *(InHeader*)(e.Header + FuseUring.InOut);
        e.CommitId = *(ulong*)(e.Header + FuseUring.CommitId);
        uint payloadSize = *(uint*)(e.Header + FuseUring.PayloadSize);
        long opSize = h.Len - (long)sizeof(InHeader) - payloadSize;
        var payload = new Span<byte>(e.Payload, (int)_payloadSize);
        OutHeader reply;
        if (opSize is < 0 or > FuseUring.OpInSize || payloadSize > _payloadSize)
        {
            _log($"io_uring queue {Id}: malformed {h.Opcode} (len {h.Len}, payload {payloadSize})");
            reply = new OutHeader { Len = (uint)sizeof(OutHeader), Error = -EIO, Unique = h.Unique };
        }
        else
        {
            // The body is copied out: the reply is written into the payload buffer it came in.
            new ReadOnlySpan<byte>(e.Header + FuseUring.OpIn, (int)opSize).CopyTo(_body);
            payload[..(int)payloadSize].CopyTo(_body.AsSpan((int)opSize));
            if (!_dispatcher.Serve(h, _body.AsSpan(0, (int)(opSize + payloadSize)), payload, out reply))
                reply = new OutHeader { Len = (uint)sizeof(OutHeader), Error = -EIO, Unique = h.Unique };
        }
        *(OutHeader*)(e.Header + FuseUring.InOut) = reply;
        *(uint*)(e.Header + FuseUring.PayloadSize) = reply.Len - (uint)sizeof(OutHeader);
    }

    private bool Submit(Entry e, uint command)
    {
        byte* sqe = _ring.NextSqe();
        if (sqe is null)
        {
            _log($"io_uring queue {Id}: no free SQE (bug)");
            _live--;
            return false;
        }
        e.LastCommand = command;
        sqe[0] = Interop.Uring.OpUringCmd;
        // The device by its fd, not as a registered (fixed) file: a fixed file is held by the
        // ring until the kernel's asynchronous ring teardown, so after SIGKILL the connection would
        // be aborted only after fusermount3's auto_unmount has looked (and found ECONNABORTED, not
        // the ENOTCONN it unmounts on). A command's own reference ends when exit cancels it.
        *(int*)(sqe + 4) = _fuseFd;
        *(uint*)(sqe + 8) = command;
        *(ulong*)(sqe + 32) = (ulong)e.Index;
        if (command == FuseUring.CmdRegister)
        {
            *(ulong*)(sqe + 16) = (ulong)(e.Header + IovOffset);
            *(uint*)(sqe + 24) = 2;
        }
        else
            *(ulong*)(sqe + FuseUring.SqeCmdCommitId) = e.CommitId;
        *(ushort*)(sqe + FuseUring.SqeCmdQid) = (ushort)Id;
        return true;
    }

    /// <summary>Wakes the queue thread out of its wait for good (eventfd → the stop poll completes).</summary>
    public void Stop()
    {
        ulong one = 1;
        if (_eventFd >= 0)
            Interop.Sys.Write(_eventFd, (byte*)&one, sizeof(ulong));
    }

    public void Dispose()
    {
        _ring.Dispose();
        foreach (var e in _entries)
        {
            if (e?.Header is not null)
                Interop.Uring.MUnmap(e.Header, PageSize);
            if (e?.Payload is not null)
                Interop.Uring.MUnmap(e.Payload, _payloadSize);
        }
        if (_eventFd >= 0)
            Interop.Sys.Close(_eventFd);
    }
}
