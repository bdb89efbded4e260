using System.Runtime.InteropServices;
using System.Text;
using CgFs.Accounting;

namespace CgFs.Host;

/// <summary>A file's attributes on the real cgroup2 tree.</summary>
public readonly record struct RealStat(ulong Ino, uint Mode, uint Uid, uint Gid, uint Nlink, long AtimeNs, long MtimeNs, long CtimeNs)
{
    public bool IsDirectory => (Mode & 0xF000) == 0x4000;
    public bool IsRegular => (Mode & 0xF000) == 0x8000;
}

/// <summary>Why overlay mode cannot start on a directory, said so a user can fix it.</summary>
public sealed class OverlayUnavailableException(string message) : Exception(message);

/// <summary>
/// The host's real cgroup v2 tree under one directory (overlay mode): every call goes to the
/// kernel as root and returns the kernel's errno unchanged. Paths are relative to
/// <see cref="Root"/> ("" is the root). Stateless apart from the root; no locks.
/// </summary>
public sealed unsafe class RealCgroups
{
    private readonly string _procPrefix;

    private RealCgroups(string root, string procPrefix)
    {
        Root = root;
        _procPrefix = procPrefix;
    }

    /// <summary>The mirrored directory: a cgroup2 directory.</summary>
    public string Root { get; }

    /// <summary>Opens <paramref name="dir"/> (default: /sys/fs/cgroup when it is cgroup2, else
    /// /sys/fs/cgroup/unified) after checking it can carry an overlay: cgroup2, writable, and
    /// without an rdma or misc controller of its own.</summary>
    public static RealCgroups Open(string? dir)
    {
        dir ??= new[] { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" }.FirstOrDefault(IsCgroup2)
            ?? throw new OverlayUnavailableException("no cgroup2 is mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified; mount one (mount -t cgroup2 none DIR) or name it: --overlay DIR");
        dir = Path.GetFullPath(dir).TrimEnd('/');
        if (dir.Length == 0)
            dir = "/";
        if (!Directory.Exists(dir))
            throw new OverlayUnavailableException($"{dir}: no such directory");
        // From here on paths are bytes as Latin-1 characters, as FUSE gives names.
        static string Bytes(string s) => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(s));
        var root = Bytes(dir);
        if (!IsCgroup2(root))
            throw new OverlayUnavailableException($"{dir} is not a cgroup2 directory (cgroup v1 or another filesystem)");
        if (Interop.Sys.Access(root, Interop.Sys.W_OK) != 0 || Interop.Sys.Access(root + "/cgroup.procs", Interop.Sys.W_OK) != 0)
            throw new OverlayUnavailableException($"{dir} is not writable ({(Errno)Marshal.GetLastPInvokeError()}): overlay mode needs root and a read-write cgroup2");
        var own = (File.ReadAllText(Path.Combine(dir, "cgroup.controllers")).Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
            .Intersect(["rdma", "misc"]).ToArray();
        if (own.Length > 0)
            throw new OverlayUnavailableException($"{dir} already has the kernel's {string.Join(" and ", own)} controller; cgfs adds rdma and misc only where the kernel has none");
        return new RealCgroups(root, Bytes(ProcPrefix(dir)));
    }

    /// <summary>Whether <paramref name="dir"/> (bytes as Latin-1 characters) is on a cgroup2 filesystem.</summary>
    public static bool IsCgroup2(string dir)
    {
        long* buf = stackalloc long[16];
        return Interop.Sys.StatFs(dir, buf) == 0 && buf[0] == Interop.Sys.CGROUP2_SUPER_MAGIC;
    }

    /// <summary>How /proc/PID/cgroup names <paramref name="dir"/>: the cgroup2 mount's root (from
    /// mountinfo; not "/" when it was mounted inside a cgroup namespace) plus the path below it.</summary>
    private static string ProcPrefix(string dir)
    {
        string best = "", bestRoot = "/";
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (dash < 0 || dash + 1 >= f.Length || f[dash + 1] != "cgroup2")
                continue;
            var mp = Unoctal(f[4]);
            if ((dir == mp || dir.StartsWith(mp.TrimEnd('/') + "/", StringComparison.Ordinal)) && mp.Length >= best.Length)
                (best, bestRoot) = (mp, Unoctal(f[3]));
        }
        var below = dir[best.Length..].Trim('/');
        return "/" + string.Join('/', new[] { bestRoot.Trim('/'), below }.Where(s => s.Length > 0));
    }

    private static string Unoctal(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());

    public string PathOf(string relative) => relative.Length == 0 ? Root : Root + "/" + relative;

    private static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    public Errno Stat(string path, out RealStat st)
    {
        Interop.Sys.StatxBuf b;
        st = default;
        if (Interop.Sys.Statx(Interop.Sys.AT_FDCWD, path, Interop.Sys.AT_SYMLINK_NOFOLLOW, Interop.Sys.STATX_BASIC_STATS, &b) != 0)
            return LastErrno();
        st = new RealStat(b.Ino, b.Mode, b.Uid, b.Gid, b.Nlink,
            b.ASec * 1_000_000_000 + b.ANsec, b.MSec * 1_000_000_000 + b.MNsec, b.CSec * 1_000_000_000 + b.CNsec);
        return Errno.Ok;
    }

    /// <summary>The entries of a real directory in the kernel's order, from readdir alone (no stat
    /// per entry: a listing of 10k cgroups is one pass): each entry's inode number and file type
    /// only — the rest of its <see cref="RealStat"/> is zero. "." and ".." are left out.</summary>
    public List<(string Name, RealStat Stat)> List(string path)
    {
        var list = new List<(string, RealStat)>();
        nint dir = Interop.Sys.OpenDir(path);
        if (dir == 0)
            return list; // removed meanwhile: nothing in it
        try
        {
            for (byte* e; (e = Interop.Sys.ReadDir64(dir)) != null;)
            {
                var name = Encoding.Latin1.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(e + 19));
                if (name is "." or "..")
                    continue;
                uint type = e[18] switch { Interop.Sys.DT_DIR => 0x4000u, Interop.Sys.DT_REG => 0x8000u, _ => 0u };
                list.Add((name, new RealStat(*(ulong*)e, type, 0, 0, 0, 0, 0, 0)));
            }
        }
        finally
        {
            Interop.Sys.CloseDir(dir);
        }
        return list;
    }

    /// <summary>This process's umask, from /proc/self/status (umask(2) could only read it by setting
    /// it, for every thread at once); 022 if procfs does not say.</summary>
    public static readonly uint ProcessUmask = ReadUmask();

    private static uint ReadUmask()
    {
        var line = ProcFs.ReadText("/proc/self/status")?.Split('\n').FirstOrDefault(l => l.StartsWith("Umask:", StringComparison.Ordinal));
        try
        {
            return line is null ? 0b000_010_010u : Convert.ToUInt32(line[6..].Trim(), 8);
        }
        catch (FormatException)
        {
            return 0b000_010_010;
        }
    }

    public Errno Mkdir(string path, uint mode) => Interop.Sys.MkDir(path, mode) == 0 ? Errno.Ok : LastErrno();
    public Errno Rmdir(string path) => Interop.Sys.RmDir(path) == 0 ? Errno.Ok : LastErrno();
    public Errno Chmod(string path, uint mode) => Interop.Sys.ChMod(path, mode) == 0 ? Errno.Ok : LastErrno();
    public Errno Chown(string path, uint uid, uint gid) => Interop.Sys.LChown(path, uid, gid) == 0 ? Errno.Ok : LastErrno();

    /// <summary>utimensat with UTIME_NOW / UTIME_OMIT as given (null: leave it).</summary>
    public Errno Utimens(string path, long? atimeNs, long? mtimeNs, bool atimeNow, bool mtimeNow)
    {
        var t = stackalloc Interop.Sys.TimeSpec[2];
        static Interop.Sys.TimeSpec Spec(long? ns, bool now) => now ? new() { Nsec = Interop.Sys.UTIME_NOW }
            : ns is { } v ? new() { Sec = v / 1_000_000_000, Nsec = v % 1_000_000_000 } : new() { Nsec = Interop.Sys.UTIME_OMIT };
        t[0] = Spec(atimeNs, atimeNow);
        t[1] = Spec(mtimeNs, mtimeNow);
        return Interop.Sys.UtimensAt(Interop.Sys.AT_FDCWD, path, t, Interop.Sys.AT_SYMLINK_NOFOLLOW) == 0 ? Errno.Ok : LastErrno();
    }

    /// <summary>Extended attributes of a real file or directory (kernfs keeps trusted., security.
    /// and user. ones; systemd marks delegation with them).</summary>
    public (Errno Error, byte[] Value) GetXattr(string path, string name)
    {
        var buf = new byte[65536];
        fixed (byte* p = buf)
        {
            nint n = Interop.Sys.LGetXattr(path, name, p, buf.Length);
            return n < 0 ? (LastErrno(), []) : (Errno.Ok, buf[..(int)n]);
        }
    }

    public Errno SetXattr(string path, string name, ReadOnlySpan<byte> value, int flags)
    {
        fixed (byte* p = value)
            return Interop.Sys.LSetXattr(path, name, p, value.Length, flags) == 0 ? Errno.Ok : LastErrno();
    }

    public (Errno Error, byte[] Names) ListXattr(string path)
    {
        var buf = new byte[65536];
        fixed (byte* p = buf)
        {
            nint n = Interop.Sys.LListXattr(path, p, buf.Length);
            return n < 0 ? (LastErrno(), []) : (Errno.Ok, buf[..(int)n]);
        }
    }

    public Errno RemoveXattr(string path, string name) => Interop.Sys.LRemoveXattr(path, name) == 0 ? Errno.Ok : LastErrno();

    /// <summary>open(2) of a real interface file: the descriptor, or the errno.</summary>
    public (Errno Error, int Fd) OpenFile(string path, int flags)
    {
        int fd = Interop.Sys.OpenBytes(path, (flags & 3) | Interop.Sys.O_CLOEXEC);
        return fd < 0 ? (LastErrno(), -1) : (Errno.Ok, fd);
    }

    public static (Errno Error, int Count) PRead(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
        {
            nint n = Interop.Sys.PRead(fd, p, buffer.Length, offset);
            return n < 0 ? (LastErrno(), 0) : (Errno.Ok, (int)n);
        }
    }

    /// <summary>What poll(2) on a real descriptor reports right now (kernfs: POLLPRI|POLLERR after
    /// an event the descriptor has not read yet).</summary>
    public static uint PollNow(int fd)
    {
        var pfd = new Interop.Sys.PollFd
        {
            Fd = fd,
            Events = Interop.Sys.POLLIN | Interop.Sys.POLLPRI | Interop.Sys.POLLOUT | Interop.Sys.POLLRDNORM | Interop.Sys.POLLWRNORM,
        };
        return Interop.Sys.Poll(&pfd, 1, 0) < 0 ? (uint)Interop.Sys.POLLERR : (uint)(ushort)pfd.REvents;
    }

    /// <summary>One write(2): one command to the kernel, its errno if refused.</summary>
    public static Errno WriteOnce(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
            return Interop.Sys.Write(fd, p, data.Length) < 0 ? LastErrno() : Errno.Ok;
    }

    /// <summary>A whole interface file, read as cat does.</summary>
    public (Errno Error, string Text) Read(string path)
    {
        var (e, fd) = OpenFile(path, 0);
        if (e != Errno.Ok)
            return (e, "");
        try
        {
            var buf = new byte[65536];
            var all = new MemoryStream();
            while (true)
            {
                var (err, n) = PRead(fd, buf, all.Length);
                if (err != Errno.Ok)
                    return (err, "");
                if (n == 0)
                    return (Errno.Ok, Encoding.Latin1.GetString(all.GetBuffer(), 0, (int)all.Length));
                all.Write(buf, 0, n);
            }
        }
        finally
        {
            Interop.Sys.Close(fd);
        }
    }

    /// <summary>One write of <paramref name="text"/> to a real interface file.</summary>
    public Errno Write(string path, string text)
    {
        var (e, fd) = OpenFile(path, Interop.Sys.O_WRONLY);
        if (e != Errno.Ok)
            return e;
        try
        {
            return WriteOnce(fd, Encoding.Latin1.GetBytes(text));
        }
        finally
        {
            Interop.Sys.Close(fd);
        }
    }

    /// <summary>Where the kernel has process <paramref name="pid"/> (its cgroup2 line in
    /// /proc/PID/cgroup), relative to <see cref="Root"/>: "" for the root, null if the process is
    /// gone or outside the mirrored subtree.</summary>
    public string? CgroupOf(int pid, int? tid = null)
    {
        string? text;
        try
        {
            text = Encoding.Latin1.GetString(File.ReadAllBytes(tid is { } t ? $"/proc/{pid}/task/{t}/cgroup" : $"/proc/{pid}/cgroup"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            text = null; // gone
        }
        var line = text?.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal));
        return line is null ? null : Relative(line[3..]);
    }

    /// <summary>A /proc/PID/cgroup path → relative to <see cref="Root"/>, or null outside it.</summary>
    public string? Relative(string procPath)
    {
        procPath = procPath.TrimEnd();
        if (procPath.EndsWith(" (deleted)", StringComparison.Ordinal))
            procPath = procPath[..^" (deleted)".Length];
        if (procPath == _procPrefix)
            return "";
        var prefix = _procPrefix == "/" ? "/" : _procPrefix + "/";
        return procPath.StartsWith(prefix, StringComparison.Ordinal) ? procPath[prefix.Length..] : null;
    }

    /// <summary>How /proc/PID/cgroup names a mirrored cgroup (relative path ""= the root).</summary>
    public string ProcPath(string relative) => relative.Length == 0 ? _procPrefix : (_procPrefix == "/" ? "/" : _procPrefix + "/") + relative;
}
