using Sprache;
using System.Diagnostics;
using System.Runtime.InteropServices;
using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Control;

namespace CgFs.Cli;

/// <summary>
/// cgfs hold: charges resources as this process — to the cgroup cgfs has it in, like a verbs
/// program or a VM would — runs CMD while holding them, and releases them when CMD ends. The
/// charges live as long as the connection: SIGKILL of the whole process group releases them too.
/// </summary>
public static class HoldCommand
{
    public const string Usage = """
        Usage: cgfs hold (--control SOCKET | --mount MOUNTPOINT)
                         [--rdma DEV:hca_handle=N,hca_object=M]... [--misc NAME=N]... -- CMD [ARGS...]

        Charges the resources to the cgroup this process belongs to in cgfs (nearest ancestor
        with the controller), runs CMD, and releases everything when CMD exits or is killed.
        rdma objects are charged one at a time, as a verbs program creates them. If a charge
        fails, prints the resource and errno (EAGAIN for rdma; EBUSY or EINVAL for misc), releases
        what was charged and exits 1 without running CMD. Otherwise exits with CMD's status.
        """;

    private abstract record Want(string Text);
    private sealed record RdmaWant(string Device, string Resource, int Amount, string Text) : Want(Text);
    private sealed record MiscWant(string Name, ulong Amount, string Text) : Want(Text);

    public static int Run(string[] args)
    {
        int dashes = Array.IndexOf(args, "--");
        var options = dashes < 0 ? args : args[..dashes];
        if (options.Any(a => a is "-h" or "--help") || dashes < 0 || dashes == args.Length - 1)
        {
            Console.WriteLine(Usage);
            return options.Any(a => a is "-h" or "--help") ? 0 : 2;
        }
        var command = args[(dashes + 1)..];
        var (socket, rest) = CtlCommand.SocketOption(options);
        var wants = ParseWants(rest);

        using var client = CtlCommand.Connect(socket);
        foreach (var want in wants)
        {
            string request = want switch
            {
                RdmaWant r => new ChargeRdma(r.Device, r.Resource, r.Amount).Format(),
                MiscWant m => new ChargeMisc(m.Name, m.Amount).Format(),
                _ => throw new InvalidOperationException(),
            };
            var (error, value, _) = client.Request(request);
            if (error != Errno.Ok)
            {
                Console.Error.WriteLine($"cgfs hold: {want.Text}: {error} ({Marshal.GetPInvokeErrorMessage((int)error)}): {value}");
                return 1; // closing the connection releases what this context charged
            }
        }
        return RunHolding(command);
    }

    private static List<Want> ParseWants(string[] rest)
    {
        var wants = new List<Want>();
        for (int i = 0; i < rest.Length; i++)
        {
            string Next() => i + 1 < rest.Length ? rest[++i] : throw new CliException($"{rest[i]} needs a value");
            switch (rest[i])
            {
                case "--rdma":
                    var spec = Next();
                    int colon = spec.IndexOf(':');
                    if (colon <= 0)
                        throw new CliException($"--rdma expects DEV:{RdmaResources.Names[0]}=N,{RdmaResources.Names[1]}=M, got '{spec}'");
                    string device = spec[..colon];
                    foreach (var kv in spec[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var parts = kv.Split('=');
                        // hca_handle, hca_object, or a vendor-defined resource the device declared (the daemon checks which)
                        var resource = RdmaResources.VendorName.End().TryParse(parts[0]) is { WasSuccessful: true } ok ? ok.Value
                            : throw new CliException($"--rdma: '{parts[0]}' is not a resource name ({string.Join(", ", RdmaResources.Names)} or a vendor-defined one)");
                        if (parts.Length != 2 || !int.TryParse(parts[1], out int n) || n < 0)
                            throw new CliException($"--rdma: '{kv}' needs a non-negative count");
                        if (n > 0)
                            wants.Add(new RdmaWant(device, resource, n, $"rdma {device} {parts[0]}={n}"));
                    }
                    break;
                case "--misc":
                    var m = Next().Split('=');
                    if (m.Length != 2 || m[0].Length == 0 || !ulong.TryParse(m[1], out ulong amount))
                        throw new CliException($"--misc expects NAME=N, got '{rest[i]}'");
                    wants.Add(new MiscWant(m[0], amount, $"misc {m[0]}={amount}"));
                    break;
                default:
                    throw new CliException($"unexpected argument '{rest[i]}'\n\n{Usage}");
            }
        }
        return wants;
    }

    /// <summary>Runs CMD with our stdio; forwards SIGTERM/SIGINT/SIGHUP to it and waits.</summary>
    private static int RunHolding(string[] command)
    {
        var psi = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var a in command[1..])
            psi.ArgumentList.Add(a);
        Process child;
        try
        {
            child = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"cgfs hold: cannot run {command[0]}: {e.Message}");
            return 127;
        }
        void Forward(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            Interop.Sys.Kill(child.Id, ctx.Signal switch
            {
                PosixSignal.SIGTERM => 15,
                PosixSignal.SIGINT => 2,
                PosixSignal.SIGHUP => 1,
                _ => 15,
            });
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Forward);
        child.WaitForExit();
        return child.ExitCode;
    }
}
