using CgFs.Accounting;

namespace CgFs.Host;

/// <summary>Credentials of a process, captured when it opens a file (spec core.md 5.1.3):
/// FUSE passes fsuid/fsgid but not supplementary groups or capabilities, so they come from procfs.</summary>
public sealed record Credentials(uint Uid, uint Gid, uint[] Groups, bool DacOverride)
{
    public static readonly Credentials Root = new(0, 0, [], true);

    public bool InGroup(uint gid) => Gid == gid || Groups.Contains(gid);
}

/// <summary>What the host's /proc says about processes and threads. Stateless; every call reads procfs.</summary>
public static class ProcFs
{
    private const ulong PF_NO_SETAFFINITY = 0x04000000;
    private const ulong PF_KTHREAD = 0x00200000;

    /// <summary>Facts from /proc/TID/stat: state, ppid, flags, start time.</summary>
    public readonly record struct Stat(char State, int PPid, ulong Flags, ulong StartTime);

    public static Stat? ReadStat(int pid, int? tid = null)
    {
        try
        {
            var text = File.ReadAllText(tid is { } t ? $"/proc/{pid}/task/{t}/stat" : $"/proc/{pid}/stat");
            // comm may contain spaces and parentheses: fields start after the last ')'.
            var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return new Stat(f[0][0], int.Parse(f[1]), ulong.Parse(f[6]), ulong.Parse(f[19]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>The thread group (process) of a thread id, from /proc/TID/status; null if gone.</summary>
    public static int? Tgid(int tid)
    {
        var v = StatusField(tid, "Tgid:");
        return v is not null && int.TryParse(v, out int tgid) ? tgid : null;
    }

    /// <summary>The live (non-zombie) process identified by pid and start time, or null.</summary>
    public static ProcessKey? Process(int pid)
    {
        var s = ReadStat(pid);
        if (s is null || s.Value.State is 'Z' or 'X')
            return null;
        return new ProcessKey(pid, s.Value.StartTime);
    }

    public static bool Alive(ProcessKey p)
    {
        var s = ReadStat(p.Pid);
        return s is not null && s.Value.State is not ('Z' or 'X') && s.Value.StartTime == p.StartTime;
    }

    public static bool IsZombie(int pid) => ReadStat(pid) is { State: 'Z' or 'X' };

    /// <summary>kthreadd and no-setaffinity kernel threads cannot be migrated (spec core.md 8.6).</summary>
    public static bool IsPinnedKernelThread(int pid)
    {
        if (pid == 2)
            return true;
        var s = ReadStat(pid);
        return s is not null && (s.Value.Flags & PF_KTHREAD) != 0 && (s.Value.Flags & PF_NO_SETAFFINITY) != 0;
    }

    /// <summary>All process ids on the host (numeric entries of /proc).</summary>
    public static List<int> Pids()
    {
        var pids = new List<int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(d), out int pid))
                pids.Add(pid);
        return pids;
    }

    /// <summary>Thread ids of a process (empty if it is gone).</summary>
    public static List<int> Threads(int pid)
    {
        var tids = new List<int>();
        try
        {
            foreach (var d in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                if (int.TryParse(Path.GetFileName(d), out int tid))
                    tids.Add(tid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return tids;
    }

    /// <summary>The credentials of the thread that sent a request: FUSE's fsuid/fsgid plus groups and CapEff.</summary>
    public static Credentials CredentialsOf(int tid, uint fsuid, uint fsgid)
    {
        if (fsuid == 0)
            return Credentials.Root with { Gid = fsgid };
        var groups = StatusField(tid, "Groups:")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(g => uint.TryParse(g, out uint v) ? v : uint.MaxValue).ToArray() ?? [];
        var capEff = StatusField(tid, "CapEff:");
        bool dacOverride = capEff is not null && (Convert.ToUInt64(capEff, 16) & 2) != 0;
        return new Credentials(fsuid, fsgid, groups, dacOverride);
    }

    private static string? StatusField(int tid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{tid}/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return line[key.Length..].Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }
}
