using System.Runtime.InteropServices;
using System.Text;

namespace CgFs.Exec;

/// <summary>
/// The thread a seccomp notification came from, seen from the daemon: its memory
/// (process_vm_readv/writev) and how it resolves paths (its root, cwd and descriptors through
/// /proc/TID, which lead into its mount namespace).
/// </summary>
internal readonly unsafe struct TargetProcess(int tid)
{
    public const int PathMax = 4096;

    public int Tid => tid;

    /// <summary>A NUL-terminated string at <paramref name="address"/>, read a page at most at a time
    /// (the string may end just before unmapped memory); null if unreadable or longer than PATH_MAX.</summary>
    public string? ReadString(ulong address)
    {
        if (address == 0)
            return null;
        var bytes = new List<byte>();
        var chunk = new byte[256];
        while (bytes.Count < PathMax)
        {
            int len = (int)Math.Min((ulong)chunk.Length, 4096 - (address % 4096));
            if (Read(address, chunk.AsSpan(0, len)) != len)
                return null;
            int nul = Array.IndexOf(chunk, (byte)0, 0, len);
            if (nul >= 0)
            {
                bytes.AddRange(chunk.AsSpan(0, nul));
                return Encoding.Latin1.GetString(bytes.ToArray());
            }
            bytes.AddRange(chunk.AsSpan(0, len));
            address += (ulong)len;
        }
        return null;
    }

    public int Read(ulong address, Span<byte> into)
    {
        fixed (byte* p = into)
        {
            var local = new Interop.Sys.IoVec { Base = p, Len = (nuint)into.Length };
            var remote = new Interop.Sys.IoVec { Base = (void*)address, Len = (nuint)into.Length };
            return (int)Interop.Sys.ProcessVmReadv(tid, &local, 1, &remote, 1, 0);
        }
    }

    public T? Read<T>(ulong address) where T : unmanaged
    {
        Span<byte> buffer = stackalloc byte[sizeof(T)];
        return Read(address, buffer) == sizeof(T) ? MemoryMarshal.Read<T>(buffer) : null;
    }

    public bool Write<T>(ulong address, in T value) where T : unmanaged
    {
        fixed (T* p = &value)
        {
            var local = new Interop.Sys.IoVec { Base = p, Len = (nuint)sizeof(T) };
            var remote = new Interop.Sys.IoVec { Base = (void*)address, Len = (nuint)sizeof(T) };
            return Interop.Sys.ProcessVmWritev(tid, &local, 1, &remote, 1, 0) == sizeof(T);
        }
    }

    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var local = new Interop.Sys.IoVec { Base = p, Len = (nuint)data.Length };
            var remote = new Interop.Sys.IoVec { Base = (void*)address, Len = (nuint)data.Length };
            return Interop.Sys.ProcessVmWritev(tid, &local, 1, &remote, 1, 0) == data.Length;
        }
    }

    /// <summary>A path the daemon can use to reach what <paramref name="path"/> names for this thread:
    /// through its root for an absolute path, its cwd or the directory descriptor otherwise.</summary>
    public string Reach(string path, int dirfd = AtFdCwd) =>
        path.StartsWith('/') ? Own(path) ?? $"/proc/{tid}/root{path}"
        : dirfd == AtFdCwd ? $"/proc/{tid}/cwd/{path}"
        : $"/proc/{tid}/fd/{dirfd}/{path}";

    /// <summary>Absolute paths that mean "this process" (/proc/self, /proc/thread-self, /dev/fd, the
    /// std streams) name the daemon when the daemon walks them: they are rewritten to this thread's.</summary>
    private string? Own(string path)
    {
        foreach (var prefix in OwnPrefixes)
            if (path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal))
                return OwnPath(prefix) + path[prefix.Length..];
        return null; // most paths: no procfs read at all
    }

    private static readonly string[] OwnPrefixes = ["/proc/self", "/proc/thread-self", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"];

    private string OwnPath(string prefix) => prefix switch
    {
        "/proc/self" => $"/proc/{Host.ProcFs.Tgid(tid) ?? tid}",
        "/proc/thread-self" => $"/proc/{Host.ProcFs.Tgid(tid) ?? tid}/task/{tid}",
        "/dev/fd" => $"/proc/{tid}/fd",
        "/dev/stdin" => $"/proc/{tid}/fd/0",
        "/dev/stdout" => $"/proc/{tid}/fd/1",
        _ => $"/proc/{tid}/fd/2",
    };

    /// <summary>The object behind one of its descriptors.</summary>
    public string ReachFd(int fd) => $"/proc/{tid}/fd/{fd}";

    /// <summary>Where <paramref name="path"/> leads as an absolute path in the thread's own view
    /// (the link text of its cwd or dirfd joined with the path, "." and ".." folded); null if unknown.</summary>
    public string? Absolute(string path, int dirfd = AtFdCwd)
    {
        string? dir = path.StartsWith('/') ? "/" : Host.ProcFs.ReadLink(dirfd == AtFdCwd ? $"/proc/{tid}/cwd" : $"/proc/{tid}/fd/{dirfd}");
        if (dir is null || !dir.StartsWith('/'))
            return null;
        var parts = new List<string>();
        foreach (var part in (dir + "/" + path).Split('/'))
        {
            if (part is "" or ".")
                continue;
            if (part == "..")
            {
                if (parts.Count > 0)
                    parts.RemoveAt(parts.Count - 1);
            }
            else
                parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    public const int AtFdCwd = -100;
}
