using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CgFs.Fuse;

/// <summary>
/// Mounting and unmounting. As root without fusermount3: mount(2) with fd=N. Otherwise (and
/// preferably, because it gives auto_unmount, which cleans up after SIGKILL of the daemon):
/// fusermount3 with a socketpair in _FUSE_COMMFD, receiving the /dev/fuse fd by SCM_RIGHTS.
/// The commfd must stay open for our whole life: fusermount3's auto_unmount watcher unmounts
/// when it closes.
/// </summary>
public static unsafe class Mounter
{
    public const string FsType = "cgfs";

    public sealed record Mounted(int Fd, string MountPoint, int CommFd);

    public static string? FindFusermount() =>
        new[] { "/usr/bin/fusermount3", "/bin/fusermount3", "/usr/local/bin/fusermount3" }.FirstOrDefault(File.Exists);

    /// <summary>Mounts <paramref name="mountPoint"/>; <paramref name="extraOptions"/> are passed through (e.g. allow_other).</summary>
    public static Mounted Mount(string mountPoint, IEnumerable<string> extraOptions)
    {
        mountPoint = Path.GetFullPath(mountPoint);
        ClearStale(mountPoint);
        bool root = Interop.Sys.GetEUid() == 0;
        var options = new List<string> { "default_permissions" };
        if (root)
            options.Add("allow_other");
        options.AddRange(extraOptions.Where(o => o.Length > 0 && !options.Contains(o)));

        var fusermount = FindFusermount();
        if (fusermount is not null)
            return ViaFusermount(fusermount, mountPoint, options);
        if (!root)
            throw new IOException("fusermount3 not found (Debian package fuse3) and not running as root");
        return ViaMountSyscall(mountPoint, options);
    }

    private static Mounted ViaMountSyscall(string mountPoint, List<string> options)
    {
        int fd = Interop.Sys.Open("/dev/fuse", Interop.Sys.O_RDWR | Interop.Sys.O_CLOEXEC);
        if (fd < 0)
            throw new IOException($"open /dev/fuse: errno {Marshal.GetLastPInvokeError()}");
        options.RemoveAll(o => o == "auto_unmount");
        string data = $"fd={fd},rootmode=40000,user_id={Interop.Sys.GetEUid()},group_id={Interop.Sys.GetEGid()}," + string.Join(',', options);
        if (Interop.Sys.Mount(FsType, mountPoint, "fuse." + FsType, Interop.Sys.MS_NOSUID | Interop.Sys.MS_NODEV | Interop.Sys.MS_NOEXEC, data) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Interop.Sys.Close(fd);
            throw new IOException($"mount {mountPoint}: errno {errno}");
        }
        return new Mounted(fd, mountPoint, -1);
    }

    private static Mounted ViaFusermount(string fusermount, string mountPoint, List<string> options)
    {
        int* sv = stackalloc int[2];
        if (Interop.Sys.SocketPair(Interop.Sys.AF_UNIX, Interop.Sys.SOCK_STREAM, 0, sv) != 0)
            throw new IOException($"socketpair: errno {Marshal.GetLastPInvokeError()}");
        int ours = sv[0], theirs = sv[1];
        // Our end must not leak into children (fusermount3 would wait on it for ever).
        Interop.Sys.Fcntl(ours, Interop.Sys.F_SETFD, Interop.Sys.FD_CLOEXEC);
        if (!options.Contains("auto_unmount"))
            options.Add("auto_unmount");
        options.AddRange(["nosuid", "nodev", "noexec", "fsname=" + FsType, "subtype=" + FsType]);
        var psi = new ProcessStartInfo(fusermount) { UseShellExecute = false };
        psi.ArgumentList.Add("-o");
        psi.ArgumentList.Add(string.Join(',', options));
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(mountPoint);
        psi.Environment["_FUSE_COMMFD"] = theirs.ToString();
        using var helper = Process.Start(psi) ?? throw new IOException("cannot start fusermount3");
        Interop.Sys.Close(theirs);
        int fd = Interop.Sys.ReceiveFd(ours);
        if (fd < 0)
        {
            helper.WaitForExit(5000);
            Interop.Sys.Close(ours);
            throw new IOException($"fusermount3 did not mount {mountPoint} (exit {(helper.HasExited ? helper.ExitCode : -1)})");
        }
        Interop.Sys.Fcntl(fd, Interop.Sys.F_SETFD, Interop.Sys.FD_CLOEXEC);
        StartAbortWatcher(ours, mountPoint, fusermount);
        return new Mounted(fd, mountPoint, ours);
    }

    /// <summary>
    /// fusermount3's auto_unmount unmounts once the commfd closes *and* opening the mount point
    /// then fails with ENOTCONN. After SIGKILL the kernel aborts the connection when the last
    /// reference to the /dev/fuse file goes; under FUSE over io_uring the rings' commands hold
    /// references the kernel drops asynchronously, after the fds are closed, and a request caught
    /// in that window fails ECONNABORTED — which fusermount3 takes for "still alive", leaving a
    /// stale mount (seen in 2 of ~50 kill cycles under load). So a watcher shell shares the
    /// commfd and does the job itself: `cat` returns when the daemon is gone (its stdin is a pipe
    /// only the daemon writes to); if the mount point then fails to list (ENOTCONN or
    /// ECONNABORTED: a dead connection) it is still ours, dead, and is detached (no stat-based
    /// "is it a mount point" check first: stat of a dead FUSE mount fails too, so such a check
    /// took every dead mount for no mount — 2 of 5 runs of 30 kill cycles left one). A mount point
    /// that lists is unmounted already (clean exit) or someone else's live mount: left alone; one
    /// that is no mount at all makes fusermount3 fail harmlessly.
    /// </summary>
    private static void StartAbortWatcher(int commFd, string mountPoint, string fusermount)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("cat >/dev/null; ls -- \"$1\" >/dev/null 2>&1 || \"$2\" -u -z -- \"$1\" 2>/dev/null; exit 0");
        psi.ArgumentList.Add("cgfs-abort-watcher");
        psi.ArgumentList.Add(mountPoint);
        psi.ArgumentList.Add(fusermount);
        Interop.Sys.Fcntl(commFd, Interop.Sys.F_SETFD, 0);
        try
        {
            // Kept for the daemon's life: the pipe to its stdin is the daemon's life line.
            Watcher = Process.Start(psi);
        }
        finally
        {
            Interop.Sys.Fcntl(commFd, Interop.Sys.F_SETFD, Interop.Sys.FD_CLOEXEC);
        }
    }

    private static Process? Watcher;


    /// <summary>Lazily unmounts; the session's reader threads then see ENODEV and return.</summary>
    public static bool Unmount(string mountPoint)
    {
        if (Interop.Sys.GetEUid() == 0 && Interop.Sys.Umount2(mountPoint, Interop.Sys.MNT_DETACH) == 0)
            return true;
        var fusermount = FindFusermount();
        if (fusermount is null)
            return false;
        using var p = Process.Start(new ProcessStartInfo(fusermount, ["-u", "-z", "--", mountPoint])
        {
            UseShellExecute = false, RedirectStandardError = true,
        });
        if (p is null)
            return false;
        p.WaitForExit(10_000);
        return p.HasExited && p.ExitCode == 0;
    }

    /// <summary>Whether <paramref name="mountPoint"/> is a mount point of ours (per /proc/self/mountinfo).</summary>
    public static bool IsMounted(string mountPoint)
    {
        mountPoint = Path.GetFullPath(mountPoint).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            int sep = Array.IndexOf(f, "-");
            if (f.Length > 4 && sep > 0 && sep + 1 < f.Length && Unescape(f[4]) == mountPoint && f[sep + 1] == "fuse." + FsType)
                return true;
        }
        return false;
    }

    private static string Unescape(string s) => s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");

    /// <summary>A daemon killed with SIGKILL without auto_unmount leaves "Transport endpoint is not
    /// connected"; detach such a stale mount so the mount point is usable again.</summary>
    private static void ClearStale(string mountPoint)
    {
        try
        {
            Directory.GetFileSystemEntries(mountPoint);
        }
        catch (IOException) when (IsMounted(mountPoint))
        {
            Unmount(mountPoint);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Missing or unreadable but not ours: mount(2) reports the real error.
        }
    }
}
