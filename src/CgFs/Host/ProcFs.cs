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

    /// <summary>/proc/PID/stat, or /proc/PID/task/TID/stat; null if the process is gone.</summary>
    public static Stat? ReadStat(int pid, int? tid = null)
    {
        try
        {
            return ParseStat(File.ReadAllText(tid is { } t ? $"/proc/{pid}/task/{t}/stat" : $"/proc/{pid}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // gone (ENOENT, ESRCH while reading)
        }
    }

    /// <summary>Parses the text of a stat file; null if it is not one.</summary>
    public static Stat? ParseStat(string text)
    {
        // comm may contain spaces and parentheses: fields start after the last ')'.
        int close = text.LastIndexOf(')');
        if (close < 0 || close + 2 > text.Length)
            return null;
        var f = text[(close + 2)..].Split(' ');
        if (f.Length < 20 || f[0].Length == 0 || !int.TryParse(f[1], out int ppid) ||
            !ulong.TryParse(f[6], out ulong flags) || !ulong.TryParse(f[19], out ulong start))
            return null;
        return new Stat(f[0][0], ppid, flags, start);
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
            return []; // the process is gone
        }
        return tids;
    }

    /// <summary>The credentials of the thread that sent a request: FUSE's fsuid/fsgid plus groups and CapEff.</summary>
    public static Credentials CredentialsOf(int tid, uint fsuid, uint fsgid)
    {
        if (fsuid == 0)
            return Credentials.Root with { Gid = fsgid };
        return ParseCredentials(fsuid, fsgid, ReadStatus(tid));
    }

    /// <summary>Credentials from a status file's text: supplementary groups, and CAP_DAC_OVERRIDE
    /// (bit 1) in CapEff. A thread that is gone has neither.</summary>
    public static Credentials ParseCredentials(uint fsuid, uint fsgid, string status)
    {
        var groups = StatusField(status, "Groups:")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(g => uint.TryParse(g, out uint v) ? v : uint.MaxValue).ToArray() ?? [];
        bool dacOverride = ulong.TryParse(StatusField(status, "CapEff:"), System.Globalization.NumberStyles.HexNumber, null, out ulong cap)
            && (cap & CapDacOverride) != 0;
        return new Credentials(fsuid, fsgid, groups, dacOverride);
    }

    private const ulong CapDacOverride = 1UL << 1;

    /// <summary>One "Key:\tvalue" field of a status file's text, trimmed; null if absent.</summary>
    public static string? StatusField(string status, string key)
    {
        foreach (var line in status.Split('\n'))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return line[key.Length..].Trim();
        return null;
    }

    private static string? StatusField(int tid, string key) => StatusField(ReadStatus(tid), key);

    /// <summary>/proc/TID/status, empty if the thread is gone.</summary>
    private static string ReadStatus(int tid) => ReadText($"/proc/{tid}/status") ?? "";

    /// <summary>A procfs file's text, or null if its process is gone (or it cannot be read).</summary>
    public static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A procfs link's target (cwd, fd/N, ns/pid), or null if its process is gone.</summary>
    public static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
