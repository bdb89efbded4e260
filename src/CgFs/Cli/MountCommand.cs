using System.Diagnostics;
using System.Runtime.InteropServices;
using CgFs.Accounting;
using CgFs.Fuse;
using CgFs.Host;
using CgFs.Parsing;
using CgFs.Membership;
using CgFs.Tree;

namespace CgFs.Cli;

/// <summary>
/// cgfs mount: builds the engine from options, mounts, serves until unmounted. Without -f it
/// re-executes itself in the background (a .NET process cannot fork safely) and returns 0 only
/// once the mount answers.
/// </summary>
public static class MountCommand
{
    public const string Usage = """
        Usage: cgfs mount MOUNTPOINT [options]

          -f                       stay in the foreground (Ctrl-C or SIGTERM unmounts)
          -o OPT[,OPT...]          extra FUSE mount options (e.g. allow_other), and the transport:
                                   io_uring (FUSE over io_uring when the kernel offers it; the
                                   default) or no_io_uring (/dev/fuse only)
          --rdma-device NAME       register an RDMA device (repeatable; registration order)
          --misc NAME=CAP[,follow] set a misc capacity; unknown names register a new type
                                   (repeatable; "follow": charges move with their process)
          --config FILE            read devices and misc types from FILE (see README)
          --control SOCKET         control socket for `cgfs ctl` and `cgfs hold` (default:
                                   /run/cgfs/<mount point with / as _>.sock for root)
          --state FILE             journal the hierarchy, limits, devices, types, membership and
                                   shortcut charges to FILE; a later mount with it restores them
          --rdma-resource NAME     a vendor-defined rdma resource of every device, after hca_handle
                                   and hca_object (repeatable; the seed design's extension; a
                                   config file's "rdma-device NAME resources=qp,mr" sets them per device)
          --rdma-legacy            behave like kernels 4.11-7.1: their rdma.max parser, and no
                                   rdma.peak, rdma.events, rdma.events.local (default: 7.2)
          --threads N              FUSE reader threads (default 2)
          --log FILE               append diagnostics to FILE (daemon mode; default: none)
          --metrics ADDRESS        serve Prometheus metrics at http://ADDRESS/metrics: HOST:PORT
                                   (127.0.0.1:9464; :9464 for every address) or a unix socket path
          --overlay [CGROUP2_DIR]  overlay mode: mirror the host's real cgroup v2 at CGROUP2_DIR
                                   (default /sys/fs/cgroup, else /sys/fs/cgroup/unified) and add
                                   rdma and misc; real files, directories and processes are the
                                   kernel's (needs root and a writable cgroup2)

        With no --rdma-device, --misc or --config, an embedded default is used:
        rdma devices mlx5_0, mlx5_1; misc sev=509, sev_es=16.
        """;

    private const string DaemonEnv = "CGFS_DAEMONIZED";

    public static int Run(string[] args)
    {
        if (args.Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(Usage);
            return 0;
        }
        var o = MountOptions.Parse(args);
        if (!Directory.Exists(o.MountPoint))
            throw new CliException($"mount point {o.MountPoint} does not exist");
        if (o.Overlay)
            OpenOverlay(o); // refused before anything starts, with the reason
        if (Mounter.IsMounted(o.MountPoint) && Answers(o.MountPoint))
            throw new CliException($"{o.MountPoint} is already a live cgfs mount (unmount it first: cgfs unmount {o.MountPoint})");
        if (o.Foreground)
            return Serve(o);
        return Daemonize(args, o);
    }

    /// <summary>Re-executes with -f in a new session and waits (bounded) until the mount answers.
    /// The shell gives the daemon its final stdio before the runtime starts (a started .NET
    /// runtime keeps duplicates of its original stdout, which would hold the caller's pipes open).</summary>
    private static int Daemonize(string[] args, MountOptions o)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" </dev/null >>\"$CGFS_LOG\" 2>&1");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(Environment.ProcessPath!);
        psi.ArgumentList.Add("mount");
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("-f");
        psi.Environment[DaemonEnv] = "1";
        psi.Environment["CGFS_LOG"] = o.Log is null ? "/dev/null" : Path.GetFullPath(o.Log);
        using var child = Process.Start(psi) ?? throw new CliException("cannot start the daemon");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (child.HasExited)
                return Program.Fail($"daemon exited with status {child.ExitCode} before mounting {o.MountPoint}");
            if (Mounter.IsMounted(o.MountPoint) && Answers(o.MountPoint))
                return 0;
            Thread.Sleep(10);
        }
        return Program.Fail($"mount of {o.MountPoint} did not become ready within 20 s");
    }

    private static bool Answers(string mountPoint)
    {
        try
        {
            return File.Exists(Path.Combine(mountPoint, "cgroup.procs"));
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Builds the mount (engine, journal, control socket), then serves /dev/fuse until unmounted.</summary>
    private static int Serve(MountOptions o)
    {
        Action<string> log = MakeLog(o);
        var real = o.Overlay ? OpenOverlay(o) : null;
        var stack = CgfsStack.Create(options: new ViewOptions(o.RdmaLegacy), log: log, ownerUid: Interop.Sys.GetEUid(), ownerGid: Interop.Sys.GetEGid(), real: real);
        Configure(stack, o, log);
        using var events = ProcessEvents.TryStart(stack.Membership, log);
        if (stack.Recorded is { } recorded)
            recorded.ForkEventsAvailable = events is not null;
        if (real is not null)
            log($"overlay of {real.Root}");
        Control.ControlServer control;
        var requests = stack.ControlRequests(Interop.Sys.GetEUid(), o.MountPoint);
        requests.Overlay = real?.Root;
        try
        {
            control = new Control.ControlServer(o.Control, requests, stack.Engine, stack.Membership, log)
            {
                Supervisor = Exec.Syscalls.Native is null ? null : new Exec.ExecSupervisor(stack.Engine, stack.Membership, o.MountPoint, log),
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            return Program.Fail($"control socket {o.Control}: {e.Message}");
        }
        using var controlScope = control;
        State.StateJournal? journal = null;
        if (o.State is not null)
        {
            try
            {
                journal = stack.OpenJournal(o.State);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Program.Fail($"state {o.State}: {e.Message}");
            }
            // Children of restored processes forked while we were down are born where their parents are.
            stack.Recorded?.InferAllChildren();
        }
        using var journalScope = journal;
        var metrics = new Metrics.MetricsExporter(stack.Engine, stack.Plugins, new Metrics.DaemonMetrics { Connections = () => control.Connections });
        if (journal is not null)
            journal.Observer = metrics.Daemon;
        requests.Metrics = metrics.Text;
        // Listening before mounting: an address that cannot be used fails the mount, not a live one.
        Metrics.MetricsServer? metricsServer = null;
        if (o.Metrics is not null)
        {
            try
            {
                metricsServer = new Metrics.MetricsServer(o.Metrics, metrics, log);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                return Program.Fail(e is ArgumentException ? e.Message : $"--metrics {o.Metrics}: {e.Message}");
            }
            log($"metrics at {metricsServer.Address}/metrics");
        }
        using var metricsScope = metricsServer;
        return ServeMounted(o, stack, requests, metrics, log);
    }

    /// <summary>Devices and misc types from the options, applied as the control requests they stand
    /// for; a non-empty state file is authoritative for them instead (the options only seed a new one).</summary>
    private static void Configure(CgfsStack stack, MountOptions o, Action<string> log)
    {
        if (o.State is not null && State.JournalFile.Read(o.State, out _).Count > 0)
        {
            log($"restoring devices, types and the hierarchy from {o.State}; device and misc options are not applied again");
            return;
        }
        foreach (var entry in o.Entries)
        {
            var command = entry.AsCommand(ToKernel);
            if (stack.Plugins.Apply(command, ControlSource.Configuration) is { Error: not Errno.Ok } refused)
                log($"configuration \"{command.Format()}\" not applied: {refused.Message} ({refused.Error})");
        }
    }

    /// <summary>Mounts, serves requests on <see cref="MountOptions.Threads"/> threads until unmounted
    /// (by a signal or fusermount3 -u), and closes the device.</summary>
    private static int ServeMounted(MountOptions o, CgfsStack stack, Control.ControlRequests requests, Metrics.MetricsExporter metrics, Action<string> log)
    {
        Mounter.Mounted mounted;
        try
        {
            mounted = Mounter.Mount(o.MountPoint, o.FuseOptions);
        }
        catch (IOException e)
        {
            return Program.Fail(e.Message);
        }
        var session = new Session(mounted.Fd, stack.Fs, log, o.Transport) { Observer = metrics.Daemon };
        stack.Fs.Waiters.Kernel = session;
        requests.Transport = session.TransportStatus;

        void Stop(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            Mounter.Unmount(mounted.MountPoint);
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Stop);
        // Exit detection safety net: the connector can drop events (ENOBUFS) or be unavailable.
        using var reaper = new Timer(_ => SafeRefresh(stack.Membership, log), null, 1000, 1000);

        session.Run(o.Threads);
        stack.Fs.StopOverlay();
        Interop.Sys.Close(mounted.Fd);
        if (mounted.CommFd >= 0)
            Interop.Sys.Close(mounted.CommFd);
        return 0;
    }

    private static RealCgroups OpenOverlay(MountOptions o)
    {
        try
        {
            return RealCgroups.Open(o.OverlayDir);
        }
        catch (Exception e) when (e is OverlayUnavailableException or IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--overlay: {e.Message}");
        }
    }

    private static void SafeRefresh(IMembership membership, Action<string> log)
    {
        try
        {
            membership.Refresh();
        }
        catch (Exception e)
        {
            log($"refresh failed: {e.Message}");
        }
    }

    /// <summary>Names from argv are UTF-8; cgfs compares bytes (Latin-1 strings) like the kernel.</summary>
    private static string ToKernel(string s) => KernelText.Bytes.GetString(System.Text.Encoding.UTF8.GetBytes(s));

    /// <summary>In daemon mode: a new session, so the daemon outlives the caller's terminal.</summary>
    private static Action<string> MakeLog(MountOptions o)
    {
        if (Environment.GetEnvironmentVariable(DaemonEnv) == "1")
            Interop.Sys.SetSid();
        var gate = new object();
        return message =>
        {
            lock (gate)
                Console.Error.WriteLine($"{DateTime.UtcNow:O} cgfs[{Environment.ProcessId}]: {message}");
        };
    }
}
