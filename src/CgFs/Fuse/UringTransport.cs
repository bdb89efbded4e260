namespace CgFs.Fuse;

/// <summary>Which transport a mount asks for: FUSE over io_uring whenever the kernel offers it
/// (the default, -o io_uring), or /dev/fuse only (-o no_io_uring).</summary>
public enum TransportMode { IoUring, DevFuse }

/// <summary>
/// FUSE over io_uring (kernel ≥ 6.14, fs/fuse/dev_uring.c): one <see cref="UringQueue"/> per
/// possible CPU, because the kernel routes a request to the queue of the CPU it was made on and
/// waits, after an INIT that negotiated io_uring, until every queue has an entry registered —
/// a queue that never registers hangs the mount.
///
/// Life: <see cref="TryCreate"/> while INIT is answered (rings and buffers exist before the kernel
/// is told), <see cref="Start"/> right after the INIT reply (registration needs an initialised
/// connection), <see cref="Stop"/> when the /dev/fuse loop ends. FORGET, INTERRUPT and
/// notifications stay on /dev/fuse.
/// </summary>
public sealed class UringTransport : IDisposable
{
    /// <summary>Entries per queue: one in service, one being delivered while it is answered.</summary>
    public const int Depth = 2;

    private readonly UringQueue[] _queues;
    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim _go = new();
    private readonly CountdownEvent _registered;
    private readonly string?[] _refusals;
    private readonly Action<string> _log;
    private volatile bool _stopping;
    private bool _stopped;

    private UringTransport(UringQueue[] queues, Action<string> log)
    {
        _queues = queues;
        _log = log;
        _refusals = new string?[queues.Length];
        _registered = new CountdownEvent(queues.Length);
        _threads = queues.Select(q => new Thread(() => Run(q)) { IsBackground = true, Name = $"fuse-ring-{q.Id}" }).ToArray();
        foreach (var t in _threads)
            t.Start();
    }

    /// <summary>Queues, one per possible CPU.</summary>
    public int Queues => _queues.Length;

    /// <summary>The queues' request counts, in queue (CPU) order.</summary>
    public IReadOnlyList<long> Requests => _queues.Select(q => q.Requests).ToArray();

    /// <summary>Rings for every possible CPU, or null and why not (io_uring disabled by
    /// kernel.io_uring_disabled or seccomp, memory, …).</summary>
    public static UringTransport? TryCreate(int fuseFd, Dispatcher dispatcher, Action<string> log, out string? why)
    {
        // The kernel's payload buffer size: max(FUSE_MIN_READ_BUFFER, max_write, max_pages × page).
        nuint payload = (nuint)Math.Max(8192, Fuse.MaxWrite);
        var queues = new List<UringQueue>();
        why = null;
        for (int cpu = 0, cpus = PossibleCpus(); cpu < cpus; cpu++)
        {
            var q = UringQueue.Create(cpu, fuseFd, Depth, payload, dispatcher, log, out why);
            if (q is null)
                break;
            queues.Add(q);
        }
        if (why is null)
            return new UringTransport(queues.ToArray(), log);
        queues.ForEach(q => q.Dispose());
        return null;
    }

    /// <summary>Lets every queue register and waits until each has (bounded); null or why not.</summary>
    public string? Start()
    {
        _go.Set();
        if (!_registered.Wait(TimeSpan.FromSeconds(10)))
            return "a queue did not register within 10 s";
        return _refusals.FirstOrDefault(r => r is not null);
    }

    private void Run(UringQueue q)
    {
        if (Interop.Uring.PinToCpu(q.Id) != 0)
            _log($"io_uring queue {q.Id}: cannot pin to CPU {q.Id}: {Errnos.Last()} (served unpinned)");
        _go.Wait();
        if (_stopping)
            return;
        // Registered at the normal policy: every request of the mount waits for all queues, and a
        // SCHED_IDLE thread on a CPU busy with other work may wait long for its turn (a parallel
        // NativeAOT build, the rings of a mount once took over 10 s to come up).
        string? refused = q.Register();
        _refusals[q.Id] = refused is null ? null : $"queue {q.Id}: {refused}";
        _registered.Signal();
        if (refused is not null)
            return;
        // SCHED_IDLE, so the caller stays on its CPU: the reply wakes the caller while this thread
        // still runs there, and the scheduler would place the caller on another, idle CPU — a
        // cross-CPU wake-up of an idle vCPU per request, the very cost the rings exist to avoid
        // (open+read+close p50 120–145 µs instead of 28–38 µs here). A CPU that runs only
        // SCHED_IDLE threads counts as idle, so the caller is woken where it was and preempts us.
        // The thread runs only while its caller is blocked on it; under 4 CPU hogs on 2 CPUs the
        // same loop measured p50 29 µs, p99 92 µs (/dev/fuse: 79 µs, 6.3 ms).
        if (Interop.Uring.SetSchedIdle() != 0)
            _log($"io_uring queue {q.Id}: cannot make the ring thread SCHED_IDLE: {Errnos.Last()}");
        q.Serve();
    }

    /// <summary>Stops every queue thread (bounded wait) and frees the rings.</summary>
    public void Stop()
    {
        _stopping = true;
        foreach (var q in _queues)
            q.Stop();
        _go.Set();
        _stopped = true;
        foreach (var t in _threads)
            if (!t.Join(TimeSpan.FromSeconds(5)))
            {
                _log($"{t.Name} did not stop within 5 s");
                _stopped = false;
            }
    }

    /// <summary>Frees the rings and buffers — only once every queue thread is gone, since the
    /// kernel may still write into an entry a live thread registered.</summary>
    public void Dispose()
    {
        if (!_stopped)
            return;
        foreach (var q in _queues)
            q.Dispose();
        _go.Dispose();
        _registered.Dispose();
    }

    /// <summary>num_possible_cpus(), the kernel's queue count: "0-1" or "0,2-5" in
    /// /sys/devices/system/cpu/possible.</summary>
    public static int PossibleCpus()
    {
        try
        {
            string text = File.ReadAllText("/sys/devices/system/cpu/possible").Trim();
            return text.Split(',').Max(range => int.Parse(range.Split('-')[^1])) + 1;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return Environment.ProcessorCount;
        }
    }
}
