using CgFs.Accounting;

namespace CgFs.Exec;

/// <summary>
/// bpf(BPF_PROG_ATTACH / BPF_PROG_DETACH / BPF_PROG_QUERY) on a cgfs directory, emulated: the
/// programs attached to each cgroup and attach type are recorded (the daemon holds a duplicate of
/// each program's descriptor, as the kernel holds a reference, so its id stays valid for a later
/// query), listed and detached as the kernel would — so runc's device controller works. They do
/// not run: cgfs enforces no device access. Entries of removed cgroups are dropped.
/// </summary>
internal sealed class BpfEmulation(Syscalls sys, Hierarchy engine)
{
    private const int ProgAttach = 8, ProgDetach = 9, ProgQuery = 16;
    private const uint AllowMulti = 1 << 1, Replace = 1 << 2;

    private sealed record Attached(uint ProgId, int HeldFd);

    private readonly object _lock = new();
    private readonly Dictionary<(ulong Ino, uint Type), (uint Flags, List<Attached> Progs)> _attached = new();

    public static bool Handles(int cmd) => cmd is ProgAttach or ProgDetach or ProgQuery;

    /// <summary>Answers one call whose target descriptor is a cgfs directory with inode <paramref name="ino"/>.</summary>
    public Answer Handle(TargetProcess t, int cmd, ulong attr, ulong ino, Func<bool> valid)
    {
        lock (_lock)
        {
            Purge();
            return cmd switch
            {
                ProgQuery => Query(t, attr, ino, valid),
                ProgAttach => Attach(t, attr, ino, valid),
                _ => Detach(t, attr, ino, valid),
            };
        }
    }

    /// <summary>The target descriptor of an attach, detach or query (the first field of each).</summary>
    public static int TargetFd(TargetProcess t, ulong attr) => t.Read<uint>(attr) is { } fd ? (int)fd : -1;

    private Answer Query(TargetProcess t, ulong attr, ulong ino, Func<bool> valid)
    {
        if (t.Read<uint>(attr + 4) is not { } type || t.Read<ulong>(attr + 16) is not { } ids || t.Read<uint>(attr + 24) is not { } room)
            return Answer.Fail(Errno.EFAULT);
        var entry = _attached.GetValueOrDefault((ino, type));
        var progs = entry.Progs ?? [];
        if (!valid())
            return Answer.Continue;
        t.Write(attr + 12, entry.Flags);
        t.Write(attr + 24, (uint)progs.Count);
        if (ids != 0)
            for (int i = 0; i < progs.Count && i < room; i++)
                t.Write(ids + (ulong)(4 * i), progs[i].ProgId);
        return ids != 0 && progs.Count > room ? Answer.Fail(Errno.ENOSPC) : Answer.Return(0);
    }

    private Answer Attach(TargetProcess t, ulong attr, ulong ino, Func<bool> valid)
    {
        if (t.Read<uint>(attr + 4) is not { } progFd || t.Read<uint>(attr + 8) is not { } type ||
            t.Read<uint>(attr + 12) is not { } flags || t.Read<uint>(attr + 16) is not { } replaceFd)
            return Answer.Fail(Errno.EFAULT);
        if (ProgramId(t, (int)progFd) is not { } id)
            return Answer.Fail(Errno.EBADF);
        uint? replaced = (flags & Replace) != 0 ? ProgramId(t, (int)replaceFd) : null;
        if ((flags & Replace) != 0 && replaced is null)
            return Answer.Fail(Errno.EBADF);
        if (!valid())
            return Answer.Continue;
        int held = Interop.Sys.StealFd(sys.PidfdOpen, sys.PidfdGetfd, Host.ProcFs.Tgid(t.Tid) ?? t.Tid, (int)progFd);
        if (held < 0)
            return Answer.Fail(Errno.EBADF);
        if (!_attached.TryGetValue((ino, type), out var entry))
            _attached[(ino, type)] = entry = (flags & AllowMulti, new List<Attached>());
        if (replaced is { } old && entry.Progs.FindIndex(p => p.ProgId == old) is var at and >= 0)
        {
            Interop.Sys.Close(entry.Progs[at].HeldFd);
            entry.Progs[at] = new Attached(id, held);
        }
        else if ((flags & AllowMulti) != 0)
            entry.Progs.Add(new Attached(id, held));
        else
        {
            Release(entry.Progs);
            entry.Progs.Add(new Attached(id, held));
        }
        return Answer.Return(0);
    }

    private Answer Detach(TargetProcess t, ulong attr, ulong ino, Func<bool> valid)
    {
        if (t.Read<uint>(attr + 4) is not { } progFd || t.Read<uint>(attr + 8) is not { } type)
            return Answer.Fail(Errno.EFAULT);
        var id = progFd == 0 ? null : ProgramId(t, (int)progFd);
        if (!_attached.TryGetValue((ino, type), out var entry) || entry.Progs.Count == 0)
            return Answer.Fail(Errno.ENOENT);
        int at = id is { } want ? entry.Progs.FindIndex(p => p.ProgId == want) : 0;
        if (at < 0)
            return Answer.Fail(Errno.ENOENT);
        if (!valid())
            return Answer.Continue;
        Interop.Sys.Close(entry.Progs[at].HeldFd);
        entry.Progs.RemoveAt(at);
        return Answer.Return(0);
    }

    /// <summary>The program id of a BPF program descriptor (its fdinfo "prog_id:" line).</summary>
    private static uint? ProgramId(TargetProcess t, int fd)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{t.Tid}/fdinfo/{fd}"))
                if (line.StartsWith("prog_id:", StringComparison.Ordinal) && uint.TryParse(line[8..].Trim(), out var id))
                    return id;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not a descriptor of that process
        }
        return null;
    }

    /// <summary>A cgroup's directory inode is its id shifted left by 6 (the view's inode scheme).</summary>
    private void Purge()
    {
        if (_attached.Count == 0)
            return;
        var live = engine.Run(() => engine.DescendantsPreOrderLocked(engine.Root).Select(c => (ulong)c.Id).Append((ulong)engine.Root.Id).ToHashSet());
        foreach (var key in _attached.Keys.Where(k => !live.Contains(k.Ino >> 6)).ToArray())
        {
            Release(_attached[key].Progs);
            _attached.Remove(key);
        }
    }

    private static void Release(List<Attached> progs)
    {
        foreach (var p in progs)
            Interop.Sys.Close(p.HeldFd);
        progs.Clear();
    }
}
