using System.Text.RegularExpressions;

namespace CgFs.Exec;

/// <summary>Which procfs file a covered process opens, if it is one `cgfs exec` answers.</summary>
public enum ProcFile { MountInfo, Mounts, MountStats, Cgroup }

/// <summary>A procfs file of one process (or one of its threads) that `cgfs exec` answers.</summary>
public readonly record struct ProcTarget(ProcFile File, int Pid, int? Tid);

/// <summary>
/// What covered processes read instead of the kernel's text: mount tables that show the cgfs
/// mount as the cgroup2 it stands for, and /proc/PID/cgroup from cgfs's membership. Pure text, no I/O.
/// </summary>
public static partial class ProcViews
{
    /// <summary>cgfs's fs type in mount tables (Mounter.FsType with FUSE's "fuse." prefix).</summary>
    public const string FuseType = "fuse." + Fuse.Mounter.FsType;

    /// <summary>The answered files by name: the one place they are spelled.</summary>
    private static readonly Dictionary<string, ProcFile> Files = new(StringComparer.Ordinal)
    {
        ["mountinfo"] = ProcFile.MountInfo, ["mounts"] = ProcFile.Mounts, ["mountstats"] = ProcFile.MountStats, ["cgroup"] = ProcFile.Cgroup,
    };

    /// <summary>Whether a path's last component names an answered file (cheap: before any resolution).</summary>
    public static bool IsAnsweredName(string name) => Files.ContainsKey(name);

    public static string NameOf(ProcFile file) => Files.First(kv => kv.Value == file).Key;

    /// <summary>A mount table as a cgroup2 system shows it (not for <see cref="ProcFile.Cgroup"/>):
    /// this daemon's mount — the one whose device is <paramref name="device"/> in the process's
    /// <paramref name="mountInfo"/>, at every place it is mounted — reads as cgroup2. Another cgfs
    /// mount on the host (another daemon, another engine) stays what it is: a covered process's
    /// /proc/PID/cgroup comes from this engine, so only this tree may pass for its cgroup2.</summary>
    public static string MountTable(ProcFile file, string text, string mountInfo, ulong device)
    {
        var ours = OurMountPoints(mountInfo, device);
        return file switch
        {
            ProcFile.MountInfo => MountInfo(text, ours),
            ProcFile.Mounts => Mounts(text, ours),
            ProcFile.MountStats => MountStats(text, ours),
            _ => throw new ArgumentOutOfRangeException(nameof(file)),
        };
    }

    /// <summary>Mount points (escaped as the kernel prints them) of the cgfs mounts with this device.</summary>
    public static HashSet<string> OurMountPoints(string mountInfo, ulong device)
    {
        string majorMinor = $"{Major(device)}:{Minor(device)}";
        var points = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in mountInfo.Split('\n'))
        {
            var f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (f.Length > 4 && dash > 0 && dash + 1 < f.Length && f[2] == majorMinor && f[dash + 1] == FuseType)
                points.Add(f[4]);
        }
        return points;
    }

    // The kernel's dev_t encoding (new_encode_dev).
    private static ulong Major(ulong dev) => ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL);
    private static ulong Minor(ulong dev) => (dev & 0xff) | ((dev >> 12) & ~0xffUL);

    [GeneratedRegex(@"^/proc/(?:(?<pid>\d+)(?:/task/(?<tid>\d+))?/)?(?<file>[a-z]+)$")]
    private static partial Regex ProcPath();

    /// <summary>Recognises /proc/PID/{mountinfo,mounts,cgroup}, /proc/PID/task/TID/{…} and
    /// /proc/mounts in an absolute path whose "self" and "thread-self" were already replaced.</summary>
    public static ProcTarget? Parse(string absolute, int selfPid)
    {
        var m = ProcPath().Match(absolute);
        if (!m.Success || !Files.TryGetValue(m.Groups["file"].Value, out var file))
            return null;
        if (!m.Groups["pid"].Success)
            return file == ProcFile.Mounts ? new ProcTarget(file, selfPid, null) : null; // /proc/mounts -> self/mounts
        int? tid = m.Groups["tid"].Success ? int.Parse(m.Groups["tid"].Value) : null;
        return int.TryParse(m.Groups["pid"].Value, out int pid) ? new ProcTarget(file, pid, tid) : null;
    }

    /// <summary>Replaces /proc/self and /proc/thread-self by what they mean for the calling thread.</summary>
    public static string Resolve(string absolute, int pid, int tid)
    {
        if (absolute == "/proc/self" || absolute.StartsWith("/proc/self/", StringComparison.Ordinal))
            return $"/proc/{pid}" + absolute["/proc/self".Length..];
        if (absolute == "/proc/thread-self" || absolute.StartsWith("/proc/thread-self/", StringComparison.Ordinal))
            return $"/proc/{pid}/task/{tid}" + absolute["/proc/thread-self".Length..];
        return absolute;
    }

    /// <summary>/proc/PID/mountinfo with our cgfs mount shown as cgroup2: fs type and source
    /// "cgroup2", super options "rw" (no nsdelegate, no memory_recursiveprot: cgfs has neither).</summary>
    public static string MountInfo(string text, IReadOnlySet<string> ours) => Rewrite(text, line =>
    {
        int dash = line.IndexOf(" - ", StringComparison.Ordinal);
        if (dash < 0)
            return line;
        var head = line[..dash].Split(' ');
        var tail = line[(dash + 3)..].Split(' ');
        return tail.Length >= 3 && tail[0] == FuseType && head.Length > 4 && ours.Contains(head[4])
            ? line[..(dash + 3)] + "cgroup2 cgroup2 rw" : line;
    });

    /// <summary>/proc/PID/mounts with our cgfs mount shown as cgroup2 (its per-mount options kept,
    /// FUSE's user_id/group_id/default_permissions/allow_other dropped).</summary>
    public static string Mounts(string text, IReadOnlySet<string> ours) => Rewrite(text, line =>
    {
        var f = line.Split(' ');
        if (f.Length < 6 || f[2] != FuseType || !ours.Contains(f[1]))
            return line;
        var options = f[3].Split(',').Where(o => !o.StartsWith("user_id=") && !o.StartsWith("group_id=") &&
            o is not ("default_permissions" or "allow_other") && !o.StartsWith("max_read=") && !o.StartsWith("blksize="));
        return $"cgroup2 {f[1]} cgroup2 {string.Join(',', options)} {f[4]} {f[5]}";
    });

    /// <summary>/proc/PID/mountstats: "device cgfs mounted on DIR with fstype fuse.cgfs" reads as cgroup2's line.</summary>
    public static string MountStats(string text, IReadOnlySet<string> ours) => Rewrite(text, line =>
    {
        const string on = " mounted on ";
        string suffix = " with fstype " + FuseType;
        int at = line.IndexOf(on, StringComparison.Ordinal);
        return line.StartsWith("device ", StringComparison.Ordinal) && line.EndsWith(suffix, StringComparison.Ordinal) && at > 0
            && ours.Contains(line[(at + on.Length)..^suffix.Length])
            ? "device cgroup2" + line[at..^FuseType.Length] + "cgroup2"
            : line;
    });

    /// <summary>/proc/PID/cgroup on a cgroup v2-only system: "0::/PATH".</summary>
    public static string Cgroup(string path) => $"0::{path}\n";

    private static string Rewrite(string text, Func<string, string> line)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Length > 0)
                lines[i] = line(lines[i]);
        return string.Join('\n', lines);
    }
}
