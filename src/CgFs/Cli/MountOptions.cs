using CgFs.Parsing;

namespace CgFs.Cli;

/// <summary>What `cgfs mount` was asked to do. With no --rdma-device, --misc or --config, the
/// embedded default: rdma devices mlx5_0, mlx5_1; misc sev=509, sev_es=16.</summary>
public sealed record MountOptions(string MountPoint, bool Foreground, List<string> FuseOptions, List<ConfigEntry> Entries,
    int Threads, string? Log, string Control, string? State, bool RdmaLegacy)
{
    /// <summary>Parses `cgfs mount` arguments; a usage error is a <see cref="CliException"/>.</summary>
    public static MountOptions Parse(string[] args)
    {
        string? mountPoint = null, log = null, control = null, state = null;
        bool foreground = false, explicitConfig = false, rdmaLegacy = false;
        int threads = 2;
        var fuseOptions = new List<string>();
        var entries = new List<ConfigEntry>();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new CliException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "-f":
                    foreground = true;
                    break;
                case "-o":
                    fuseOptions.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries));
                    break;
                case "--rdma-device":
                    entries.Add(new RdmaDeviceEntry(Next()));
                    explicitConfig = true;
                    break;
                case "--misc":
                    var m = ConfigGrammar.MiscOption(Next());
                    entries.Add(m.Ok ? m.Value : throw new CliException($"--misc expects NAME=CAPACITY[,follow], got '{args[i]}'"));
                    explicitConfig = true;
                    break;
                case "--config":
                    var path = Next();
                    if (!File.Exists(path))
                        throw new CliException($"config file {path} not found");
                    var (parsed, error) = ConfigGrammar.File(File.ReadAllText(path));
                    if (error is not null)
                        throw new CliException($"{path}: {error}");
                    entries.AddRange(parsed);
                    explicitConfig = true;
                    break;
                case "--threads":
                    threads = int.TryParse(Next(), out int t) && t is > 0 and <= 64 ? t : throw new CliException("--threads expects 1..64");
                    break;
                case "--log":
                    log = Next();
                    break;
                case "--control":
                    control = Path.GetFullPath(Next());
                    break;
                case "--state":
                    state = Path.GetFullPath(Next());
                    break;
                case "--rdma-legacy":
                    rdmaLegacy = true;
                    break;
                default:
                    if (args[i].StartsWith('-') || mountPoint is not null)
                        throw new CliException($"unexpected argument '{args[i]}'\n\n{MountCommand.Usage}");
                    mountPoint = args[i];
                    break;
            }
        }
        if (mountPoint is null)
            throw new CliException($"missing MOUNTPOINT\n\n{MountCommand.Usage}");
        if (!explicitConfig)
            entries.AddRange([new RdmaDeviceEntry("mlx5_0"), new RdmaDeviceEntry("mlx5_1"), new MiscEntry("sev", 509, false), new MiscEntry("sev_es", 16, false)]);
        return new MountOptions(Path.GetFullPath(mountPoint), foreground, fuseOptions, entries, threads, log,
            control ?? CgFs.Control.ControlPaths.Default(mountPoint), state, rdmaLegacy);
    }

}
