namespace CgFs.Control;

/// <summary>Where a mount's control socket lives when --control is not given: $CGFS_CONTROL if set;
/// else /run/cgfs/ (root) or $XDG_RUNTIME_DIR/cgfs/ (others; /tmp/cgfs-UID/ without it), named
/// after the mount point with '/' replaced by '_'. `cgfs ctl --mount M` finds it the same way.</summary>
public static class ControlPaths
{
    public static string Default(string mountPoint)
    {
        if (Environment.GetEnvironmentVariable("CGFS_CONTROL") is { Length: > 0 } explicitPath)
            return explicitPath;
        uint uid = Interop.Sys.GetEUid();
        string dir = uid == 0 ? "/run/cgfs"
            : Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } xdg ? Path.Combine(xdg, "cgfs")
            : $"/tmp/cgfs-{uid}";
        return Path.Combine(dir, Path.GetFullPath(mountPoint).TrimEnd('/').Replace('/', '_') + ".sock");
    }
}
