namespace CgFs.Cli;

/// <summary>The cgfs command line: one subcommand per verb, each with --help.</summary>
public static class Program
{
    public const string Usage = """
        cgfs — a user-space cgroup v2 filesystem with the rdma and misc controllers

        Usage:
          cgfs mount MOUNTPOINT [-f] [-o OPTIONS] [--rdma-device NAME]... [--misc NAME=CAP[,follow]]...
                     [--config FILE] [--log FILE]
          cgfs unmount MOUNTPOINT
          cgfs ctl (--control SOCKET | --mount MOUNTPOINT) COMMAND
          cgfs hold (--control SOCKET | --mount MOUNTPOINT) [--rdma DEV:hca_handle=N,...] [--misc NAME=N] -- CMD
          cgfs exec (--control SOCKET | --mount MOUNTPOINT) [--at DIR] [--] CMD [ARG...]
          cgfs poll FILE [--timeout MS]
          cgfs metrics (--control SOCKET | --mount MOUNTPOINT)
          cgfs tree [DIR] | cgfs top [DIR]
          cgfs SOURCE MOUNTPOINT [-o config=FILE,state=FILE,rdma-device=NAME,misc=NAME=CAP,...]
                     (the mount-helper form: /etc/fstab, systemd .mount units, mount -t fuse.cgfs)
          cgfs COMMAND --help

        Commands:
          mount     mount a cgfs at MOUNTPOINT (daemonizes unless -f)
          unmount   unmount a cgfs (same as fusermount3 -u)
          ctl       hot-plug RDMA devices, set misc capacities, show status (control socket)
          hold      charge resources as this process and run CMD while holding them
          exec      run CMD with cgfs as THE cgroup v2 filesystem at /sys/fs/cgroup
          poll      wait until a notifying file (cgroup.events, *.events) changes
          metrics   print the Prometheus metrics once (what `mount --metrics` serves)
          tree      the hierarchy with processes and rdma/misc usage against limits (top: live)
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return args[0] switch
            {
                "mount" => MountCommand.Run(args[1..]),
                "unmount" or "umount" => UnmountCommand.Run(args[1..]),
                "poll" => PollCommand.Run(args[1..]),
                "ctl" => CtlCommand.Run(args[1..]),
                "hold" => HoldCommand.Run(args[1..]),
                "exec" => ExecCommand.Run(args[1..]),
                "tree" => TreeCommand.Run(args[1..], live: false),
                "top" => TreeCommand.Run(args[1..], live: true),
                "metrics" when args.Skip(1).Any(a => a is "-h" or "--help") => Help(MetricsUsage),
                "metrics" => CtlCommand.Run([.. args[1..], "metrics"]),
                _ when MountHelper.Recognises(args) => MountCommand.Run(MountHelper.Translate(args)),
                _ => Fail($"unknown command '{args[0]}'\n\n{Usage}"),
            };
        }
        catch (CliException e)
        {
            return Fail(e.Message);
        }
    }

    public const string MetricsUsage = """
        Usage: cgfs metrics (--control SOCKET | --mount MOUNTPOINT)

        Prints the mount's metrics once in the Prometheus text format, as `cgfs mount --metrics
        ADDRESS` serves them at /metrics: per cgroup rdma and misc usage, limits, peaks and events;
        per mount cgroups, dying cgroups, processes and devices; the daemon's FUSE requests, errors,
        control connections and journal.
        """;

    private static int Help(string usage)
    {
        Console.WriteLine(usage);
        return 0;
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"cgfs: {message}");
        return 2;
    }
}

/// <summary>A usage or configuration error, reported as one line and exit status 2.</summary>
public sealed class CliException(string message) : Exception(message);

public static class UnmountCommand
{
    public const string Usage = """
        Usage: cgfs unmount MOUNTPOINT

        Detach-unmounts a cgfs mount; its daemon then exits.
        """;

    public static int Run(string[] args)
    {
        if (args.Length != 1 || args[0] is "-h" or "--help")
        {
            Console.WriteLine(Usage);
            return args.Length == 1 ? 0 : 2;
        }
        return Fuse.Mounter.Unmount(args[0]) ? 0 : Program.Fail($"cannot unmount {args[0]}");
    }
}
