using Sprache;
using CgFs.Parsing;

namespace CgFs.Cli;

/// <summary>What `cgfs mount` was asked to do. With no --rdma-device, --misc or --config, the
/// embedded default: rdma devices mlx5_0, mlx5_1; misc sev=509, sev_es=16.</summary>
public sealed record MountOptions(string MountPoint, bool Foreground, List<string> FuseOptions, List<ConfigEntry> Entries,
    int Threads, string? Log, string Control, string? State, bool RdmaLegacy, Fuse.TransportMode Transport = Fuse.TransportMode.IoUring,
    string? Metrics = null, bool Overlay = false, string? OverlayDir = null)
{
    /// <summary>-o options that are cgfs's, not the kernel's: the transport.</summary>
    private static readonly Dictionary<string, Fuse.TransportMode> TransportOptions = new()
    {
        ["io_uring"] = Fuse.TransportMode.IoUring,
        ["no_io_uring"] = Fuse.TransportMode.DevFuse,
    };

    private static readonly ConfigEntry[] EmbeddedDefault =
        [new RdmaDeviceEntry("mlx5_0"), new RdmaDeviceEntry("mlx5_1"), new MiscEntry("sev", 509, false), new MiscEntry("sev_es", 16, false)];

    /// <summary>The options, each with what it does to the options being built; <c>value</c> takes the next argument.</summary>
    private static readonly Dictionary<string, Action<Builder, Func<string>>> Table = new()
    {
        ["-f"] = (b, _) => b.Foreground = true,
        ["-o"] = (b, value) => b.Options(value().Split(',', StringSplitOptions.RemoveEmptyEntries)),
        ["--rdma-device"] = (b, value) => b.Configure([new RdmaDeviceEntry(value())]),
        ["--misc"] = (b, value) => b.Configure([ConfigGrammar.MiscOption(value()) is { Ok: true } m ? m.Value
            : throw new CliException("--misc expects NAME=CAPACITY[,follow]")]),
        ["--config"] = (b, value) => b.Configure(ConfigFile(value())),
        ["--threads"] = (b, value) => b.Threads = int.TryParse(value(), out int t) && t is > 0 and <= 64 ? t : throw new CliException("--threads expects 1..64"),
        ["--log"] = (b, value) => b.Log = value(),
        ["--control"] = (b, value) => b.Control = Path.GetFullPath(value()),
        ["--state"] = (b, value) => b.State = Path.GetFullPath(value()),
        ["--rdma-legacy"] = (b, _) => b.RdmaLegacy = true,
        ["--metrics"] = (b, value) => b.Metrics = CheckMetricsAddress(value()),
        ["--rdma-resource"] = (b, value) => b.Resources.Add(RdmaResources.VendorName.End().TryParse(value()) is { WasSuccessful: true } n
            ? n.Value : throw new CliException("--rdma-resource expects a name: [a-z][a-z0-9_]*")),
    };

    /// <summary>Parses `cgfs mount` arguments; a usage error is a <see cref="CliException"/>.</summary>
    public static MountOptions Parse(string[] args)
    {
        var b = new Builder();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new CliException($"{args[i]} needs a value");
            if (args[i] == "--overlay")
            {
                // An optional CGROUP2_DIR: the next argument once the mount point is known.
                b.Overlay = true;
                if (b.MountPoint is not null && i + 1 < args.Length && !args[i + 1].StartsWith('-'))
                    b.OverlayDir = Path.GetFullPath(args[++i]);
            }
            else if (Table.TryGetValue(args[i], out var apply))
                apply(b, Value);
            else if (args[i].StartsWith('-') || b.MountPoint is not null)
                throw new CliException($"unexpected argument '{args[i]}'\n\n{MountCommand.Usage}");
            else
                b.MountPoint = args[i];
        }
        if (b.MountPoint is null)
            throw new CliException($"missing MOUNTPOINT\n\n{MountCommand.Usage}");
        var entries = b.Entries ?? [.. EmbeddedDefault];
        if (b.Resources.Count > 0)
        {
            if (RdmaResources.Invalid(b.Resources) is { } why)
                throw new CliException($"--rdma-resource: {why}");
            // Every device without resources of its own (a config file's resources= line) gets them.
            entries = entries.Select(e => e is RdmaDeviceEntry { Resources: null } d ? d with { Resources = string.Join(',', b.Resources) } : e).ToList();
        }
        return new MountOptions(Path.GetFullPath(b.MountPoint), b.Foreground, b.FuseOptions, entries,
            b.Threads, b.Log, b.Control ?? CgFs.Control.ControlPaths.Default(b.MountPoint), b.State, b.RdmaLegacy, b.Transport, b.Metrics,
            b.Overlay, b.OverlayDir);
    }

    private static string CheckMetricsAddress(string address)
    {
        try
        {
            CgFs.Metrics.MetricsServer.Parse(address);
            return address;
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
    }

    private static List<ConfigEntry> ConfigFile(string path)
    {
        if (!File.Exists(path))
            throw new CliException($"config file {path} not found");
        var (parsed, error) = ConfigGrammar.File(File.ReadAllText(path));
        return error is null ? parsed : throw new CliException($"{path}: {error}");
    }

    private sealed class Builder
    {
        public string? MountPoint, Log, Control, State, Metrics, OverlayDir;
        public bool Foreground, RdmaLegacy, Overlay;
        public int Threads = 2;
        public Fuse.TransportMode Transport = Fuse.TransportMode.IoUring;
        public readonly List<string> FuseOptions = new();
        /// <summary>--rdma-resource: vendor-defined resources of every device.</summary>
        public readonly List<string> Resources = new();
        /// <summary>Devices and types given explicitly; null: the embedded default.</summary>
        public List<ConfigEntry>? Entries;

        /// <summary>-o: the transport options are cgfs's; the rest go to the kernel.</summary>
        public void Options(IEnumerable<string> options)
        {
            foreach (var option in options)
                if (TransportOptions.TryGetValue(option, out var mode))
                    Transport = mode;
                else
                    FuseOptions.Add(option);
        }

        public void Configure(IEnumerable<ConfigEntry> entries) => (Entries ??= new List<ConfigEntry>()).AddRange(entries);
    }
}
