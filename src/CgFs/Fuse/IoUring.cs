using System.Runtime.InteropServices;

namespace CgFs.Fuse;

/// <summary>
/// One io_uring with 128-byte SQEs (IORING_SETUP_SQE128: FUSE puts its command in the 80 bytes
/// after offset 48). Only what a FUSE queue needs: take an SQE, submit and wait in one
/// io_uring_enter, walk the completions. Not thread-safe by design: one thread owns a ring — it
/// alone submits and waits, so the kernel runs the task work that delivers FUSE requests on it.
///
/// Memory ordering is liburing's: the SQ tail and the CQ head are published with a release
/// store, the CQ tail is read with an acquire load (Volatile.Write/Read).
/// </summary>
internal sealed unsafe class IoUring : IDisposable
{
    public const int SqeSize = 128;

    public int Fd { get; private set; } = -1;
    private void* _rings;
    private nuint _ringsSize;
    private byte* _sqes;
    private nuint _sqesSize;
    private uint* _sqHead, _sqTail, _sqArray, _cqHead, _cqTail;
    private uint _sqMask, _sqEntries, _cqMask;
    private Interop.Uring.Cqe* _cqes;
    /// <summary>SQEs filled but not yet submitted.</summary>
    private uint _pending;

    private IoUring() { }

    /// <summary>A ring of <paramref name="entries"/> SQEs and twice as many CQEs; null and the errno
    /// when the kernel refuses (ENOSYS: no io_uring; EPERM: kernel.io_uring_disabled or seccomp).</summary>
    public static IoUring? Create(uint entries, out int errno)
    {
        var ring = new IoUring();
        errno = ring.Setup(entries);
        if (errno == 0)
            return ring;
        ring.Dispose();
        return null;
    }

    private int Setup(uint entries)
    {
        var p = new Interop.Uring.Params
        {
            Flags = Interop.Uring.SetupSqe128 | Interop.Uring.SetupCqSize | Interop.Uring.SetupSubmitAll,
            CqEntries = entries * 2,
        };
        Fd = Interop.Uring.Setup(entries, &p);
        if (Fd < 0)
            return Marshal.GetLastPInvokeError();
        if ((p.Features & Interop.Uring.FeatSingleMmap) == 0)
            return 95; // EOPNOTSUPP: kernels before 5.4; FUSE over io_uring needs 6.14 anyway
        _ringsSize = Math.Max(p.SqOff.Array + p.SqEntries * 4, p.CqOff.Cqes + p.CqEntries * (uint)sizeof(Interop.Uring.Cqe));
        _rings = Interop.Uring.MMap(null, _ringsSize, Interop.Uring.ProtRead | Interop.Uring.ProtWrite,
            Interop.Uring.MapShared | Interop.Uring.MapPopulate, Fd, Interop.Uring.OffSqRing);
        if (_rings == Interop.Uring.MapFailed)
            return Fail(ref _rings);
        _sqesSize = p.SqEntries * (nuint)SqeSize;
        void* sqes = Interop.Uring.MMap(null, _sqesSize, Interop.Uring.ProtRead | Interop.Uring.ProtWrite,
            Interop.Uring.MapShared | Interop.Uring.MapPopulate, Fd, Interop.Uring.OffSqes);
        if (sqes == Interop.Uring.MapFailed)
            return Fail(ref sqes);
        _sqes = (byte*)sqes;
        byte* b = (byte*)_rings;
        _sqHead = (uint*)(b + p.SqOff.Head);
        _sqTail = (uint*)(b + p.SqOff.Tail);
        _sqArray = (uint*)(b + p.SqOff.Array);
        _sqMask = *(uint*)(b + p.SqOff.RingMask);
        _sqEntries = p.SqEntries;
        _cqHead = (uint*)(b + p.CqOff.Head);
        _cqTail = (uint*)(b + p.CqOff.Tail);
        _cqMask = *(uint*)(b + p.CqOff.RingMask);
        _cqes = (Interop.Uring.Cqe*)(b + p.CqOff.Cqes);
        return 0;
    }

    private static int Fail(ref void* mapping)
    {
        mapping = null;
        return Marshal.GetLastPInvokeError();
    }

    /// <summary>The next free SQE, zeroed; null when the submission queue is full (a bug for a
    /// FUSE queue: it never has more commands in flight than SQEs).</summary>
    public byte* NextSqe()
    {
        uint tail = *_sqTail + _pending;
        if (tail - Volatile.Read(ref *_sqHead) >= _sqEntries)
            return null;
        uint index = tail & _sqMask;
        byte* sqe = _sqes + index * SqeSize;
        new Span<byte>(sqe, SqeSize).Clear();
        _sqArray[index] = index;
        _pending++;
        return sqe;
    }

    /// <summary>Submits the SQEs taken since the last call and waits for at least
    /// <paramref name="waitFor"/> completions; 0 or the errno (EINTR: call again).</summary>
    public int SubmitAndWait(uint waitFor)
    {
        Volatile.Write(ref *_sqTail, *_sqTail + _pending);
        _pending = 0;
        while (true)
        {
            // Everything the kernel has not consumed yet: after an EINTR that is what is left.
            uint submit = *_sqTail - Volatile.Read(ref *_sqHead);
            int n = Interop.Uring.Enter(Fd, submit, waitFor, waitFor > 0 ? Interop.Uring.EnterGetEvents : 0);
            if (n >= 0)
                return 0;
            int errno = Marshal.GetLastPInvokeError();
            // EINTR: the runtime's signals (GC suspension) interrupt the wait; wait again.
            if (errno != 4)
                return errno;
            if (Completions > 0)
                return 0;
        }
    }

    /// <summary>Completions ready to be read.</summary>
    public uint Completions => Volatile.Read(ref *_cqTail) - *_cqHead;

    /// <summary>The oldest unread completion; call <see cref="Advance"/> after using it.</summary>
    public Interop.Uring.Cqe Peek() => PeekAt(0);

    /// <summary>The <paramref name="i"/>-th unread completion, without consuming it.</summary>
    public Interop.Uring.Cqe PeekAt(uint i) => _cqes[(*_cqHead + i) & _cqMask];

    public void Advance() => Volatile.Write(ref *_cqHead, *_cqHead + 1);

    public void Dispose()
    {
        if (_sqes is not null)
            Interop.Uring.MUnmap(_sqes, _sqesSize);
        if (_rings is not null && _rings != Interop.Uring.MapFailed)
            Interop.Uring.MUnmap(_rings, _ringsSize);
        _sqes = null;
        _rings = null;
        if (Fd >= 0)
            Interop.Sys.Close(Fd);
        Fd = -1;
    }
}
