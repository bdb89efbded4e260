using System.Net.Sockets;
using CgFs.Accounting;
using CgFs.Control;

namespace CgFs.Cli;

/// <summary>cgfs ctl: the device side at run time — hot-plug RDMA devices, set misc capacities, status.</summary>
public static class CtlCommand
{
    public const string Usage = """
        Usage: cgfs ctl (--control SOCKET | --mount MOUNTPOINT) COMMAND

          device add NAME          register an RDMA device (appended to the order)
          device remove NAME       unregister it: its line leaves every rdma file, its state is
                                   discarded (refused while charges on it are held)
          device rename OLD NEW    the RDMA core renamed a device: its line keeps its place,
                                   limits and charges; writes must use NEW
          device list              registered devices, in registration order
          misc capacity NAME N     set a capacity (0 hides the type); an unknown NAME registers a
                                   new type at the end; add "follow" for a process-tied type
          misc remove NAME         forget a type (refused while in use)
          status                   devices, types, capacities and root totals
          memory                   the daemon's managed heap after a full GC, its RSS, and
                                   its control connections (for soak tests; root or owner)

        Without --control or --mount, $CGFS_CONTROL is used. Exit status: 0 done, 1 refused
        (the message says why), 2 usage or connection error.
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args.Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var (socket, rest) = SocketOption(args);
        if (rest.Length == 0)
            throw new CliException($"missing COMMAND\n\n{Usage}");
        using var client = Connect(socket);
        var (error, value, lines) = client.Request(string.Join(' ', rest));
        foreach (var l in lines)
            Console.WriteLine(l);
        if (error != Errno.Ok)
        {
            Console.Error.WriteLine($"cgfs ctl: {string.Join(' ', rest)}: {value} ({error})");
            return 1;
        }
        if (value.Length > 0)
            Console.WriteLine(value);
        return 0;
    }

    /// <summary>Reads --control PATH or --mount MOUNTPOINT from the front of the arguments.</summary>
    internal static (string Socket, string[] Remaining) SocketOption(string[] args)
    {
        string? socket = null;
        int i = 0;
        for (; i < args.Length - 1; i += 2)
        {
            if (args[i] == "--control")
                socket = args[i + 1];
            else if (args[i] == "--mount")
                socket = ControlPaths.Default(args[i + 1]);
            else
                break;
        }
        socket ??= Environment.GetEnvironmentVariable("CGFS_CONTROL");
        if (string.IsNullOrEmpty(socket))
            throw new CliException("no control socket: give --control SOCKET or --mount MOUNTPOINT (or set CGFS_CONTROL)");
        return (socket, args[i..]);
    }

    internal static ControlClient Connect(string socket)
    {
        try
        {
            return new ControlClient(socket);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            throw new CliException($"cannot reach the control socket {socket}: {e.Message}");
        }
    }
}
