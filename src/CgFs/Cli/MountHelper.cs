namespace CgFs.Cli;

/// <summary>
/// The mount-helper form, so cgfs mounts like any FUSE filesystem from /etc/fstab, systemd mount
/// units and `mount -t fuse.cgfs`: mount(8) runs mount.fuse3, which runs
/// <c>cgfs SOURCE MOUNTPOINT -o OPTIONS</c> (the sshfs convention) and waits for it to return.
/// SOURCE is free text (by convention "cgfs"; /proc/mounts shows "cgfs" either way). Options that
/// name a `cgfs mount` option (<c>config=FILE</c>, <c>state=FILE</c>, <c>rdma-device=NAME</c>, …) become
/// that option; mount-level options (<c>defaults</c>, <c>noauto</c>, <c>nofail</c>, <c>_netdev</c>,
/// <c>x-systemd.*</c>, …) are dropped; the rest are mount options for the kernel, as with -o.
/// </summary>
public static class MountHelper
{
    /// <summary>-o keys that stand for a `cgfs mount` option taking a value.</summary>
    private static readonly Dictionary<string, string> Valued = new()
    {
        ["config"] = "--config", ["state"] = "--state", ["control"] = "--control", ["rdma-device"] = "--rdma-device",
        ["misc"] = "--misc", ["threads"] = "--threads", ["log"] = "--log", ["metrics"] = "--metrics", ["rdma-resource"] = "--rdma-resource",
        ["overlay"] = "--overlay",
    };

    /// <summary>-o flags that stand for a `cgfs mount` flag.</summary>
    private static readonly Dictionary<string, string> Flags = new() { ["rdma-legacy"] = "--rdma-legacy", ["overlay"] = "--overlay" };

    /// <summary>Options for mount(8), systemd or the helper itself, never for the kernel.</summary>
    private static readonly HashSet<string> MountLevel = ["defaults", "auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", "owner", "group"];

    /// <summary><c>SOURCE MOUNTPOINT [-o OPTIONS]...</c>: two words that are not options, then only -o pairs.</summary>
    public static bool Recognises(string[] args)
    {
        if (args.Length < 2 || args[0].StartsWith('-') || args[1].StartsWith('-'))
            return false;
        for (int i = 2; i < args.Length; i += 2)
            if (args[i] != "-o" || i + 1 >= args.Length)
                return false;
        return true;
    }

    /// <summary>The `cgfs mount` arguments the helper form stands for (daemonizing, as a helper must return).</summary>
    public static string[] Translate(string[] args)
    {
        var result = new List<string> { args[1] };
        var kernel = new List<string>();
        for (int i = 3; i < args.Length; i += 2)
            foreach (var option in args[i].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = option.IndexOf('=');
                string key = eq < 0 ? option : option[..eq];
                if (eq > 0 && Valued.TryGetValue(key, out var longOption))
                    result.AddRange([longOption, option[(eq + 1)..]]);
                else if (eq < 0 && Flags.TryGetValue(key, out var flag))
                    result.Add(flag);
                else if (MountLevel.Contains(option) || option.StartsWith("x-", StringComparison.Ordinal) || key == "comment")
                    continue;
                else
                    kernel.Add(option);
            }
        if (kernel.Count > 0)
            result.AddRange(["-o", string.Join(',', kernel)]);
        return [.. result];
    }
}
