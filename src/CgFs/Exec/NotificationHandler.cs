using System.Collections.Concurrent;
using System.Text;
using CgFs.Accounting;
using CgFs.Host;
using CgFs.Membership;

namespace CgFs.Exec;

/// <summary>
/// Decides each trapped call of a covered process. It looks at the object a path or descriptor
/// leads to (through /proc/TID, in the caller's mount namespace), never at the string alone, and
/// checks that the notification is still pending (SECCOMP_IOCTL_NOTIF_ID_VALID) after reading the
/// caller's memory and before acting, so a recycled thread id is never answered for.
/// </summary>
internal sealed unsafe class NotificationHandler(Syscalls sys, Hierarchy engine, IMembership membership, Lazy<ulong> cgfsDevice, Action<string> log)
{
    public const long Cgroup2SuperMagic = 0x63677270;
    private const int O_ACCMODE = 3;
    private const ulong CloneIntoCgroup = 0x200000000UL;
    private const int CloneArgsCgroupOffset = 80;

    /// <summary>`cgfs exec` processes; their descendants are covered too.</summary>
    private readonly ConcurrentDictionary<ProcessKey, bool> _roots = new();

    public void Cover(ProcessKey root) => _roots[root] = true;

    /// <summary>Its tree is gone (the listener hung up).</summary>
    public void Uncover(ProcessKey root) => _roots.TryRemove(root, out _);

    public Answer Handle(in Interop.Sys.SeccompNotif n, Func<ulong, bool> stillPending)
    {
        var t = new TargetProcess((int)n.Pid);
        int nr = n.Nr;
        ulong id = n.Id;
        ulong a0 = n.Args[0], a1 = n.Args[1], a2 = n.Args[2];
        bool Valid() => stillPending(id);
        Answer answer = nr == sys.StatFs ? StatFs(t, t.ReadString(a0) is { } p ? t.Reach(p) : null, a1, Valid)
            : nr == sys.FStatFs ? StatFs(t, t.ReachFd((int)a0), a1, Valid)
            : nr == sys.Open ? Open(t, TargetProcess.AtFdCwd, a0, (int)a1)
            : nr == sys.OpenAt ? Open(t, (int)a0, a1, (int)a2)
            : nr == sys.OpenAt2 ? Open(t, (int)a0, a1, t.Read<ulong>(a2) is { } flags ? (int)flags : O_ACCMODE)
            : nr == sys.Mount ? Mount(t, a2)
            : nr == sys.Bpf ? Bpf(t, (int)a0, a1, Valid)
            : nr == sys.CloneNr ? CloneParent(t, a0)
            : nr == sys.Clone3 ? Clone3(t, a0)
            : nr == sys.StatMount || nr == sys.ListMount ? Answer.Fail(Errno.ENOSYS)
            : Answer.Continue;
        return answer.Continues || stillPending(id) ? answer : DropFd(answer);
    }

    private static Answer DropFd(Answer a)
    {
        if (a.Fd is { } fd)
            Interop.Sys.Close(fd);
        return Answer.Continue; // moot: the call is gone
    }

    /// <summary>Whether the daemon's view of <paramref name="reach"/> is on the cgfs mount: its device is
    /// the mount's (one stat; the kernel caches cgfs's attributes, so usually no FUSE round trip).</summary>
    private bool OnCgfs(string reach) => cgfsDevice.Value != 0 && Interop.Sys.DeviceOf(reach) == cgfsDevice.Value;

    /// <summary>The statfs reply for the mount, read for real once (f_flags, f_fsid) and kept.</summary>
    private Interop.Sys.KernelStatFs? _statfs;

    /// <summary>statfs/fstatfs: the real reply, f_type CGROUP2_SUPER_MAGIC, for the cgfs mount.</summary>
    private Answer StatFs(TargetProcess t, string? reach, ulong buf, Func<bool> valid)
    {
        if (reach is null || !OnCgfs(reach))
            return Answer.Continue;
        if (_statfs is not { } st)
        {
            Interop.Sys.KernelStatFs real;
            if (Interop.Sys.StatFs(reach, &real) != 0)
                return Answer.Continue;
            real.Type = Cgroup2SuperMagic;
            real.BSize = real.FrSize = 4096;
            real.Blocks = real.BFree = real.BAvail = real.Files = real.FFree = 0;
            real.NameLen = 255;
            _statfs = st = real;
        }
        if (!valid())
            return Answer.Continue;
        return t.Write(buf, st) ? Answer.Return(0) : Answer.Fail(Errno.EFAULT);
    }

    /// <summary>open/openat/openat2 of a mount table or cgroup file under /proc, read-only: a memfd
    /// with what a cgroup2 system would show, installed as the call's result.</summary>
    private Answer Open(TargetProcess t, int dirfd, ulong pathAddress, int flags)
    {
        if ((flags & O_ACCMODE) != 0)
            return Answer.Continue;
        var path = t.ReadString(pathAddress);
        if (path is null || !MayBeProcFile(path))
            return Answer.Continue;
        int pid = ProcFs.Tgid(t.Tid) ?? t.Tid;
        var absolute = t.Absolute(path, dirfd);
        if (absolute is null || ProcViews.Parse(ProcViews.Resolve(absolute, pid, t.Tid), pid) is not { } target)
            return Answer.Continue;
        if (!SameProc(t))
            return Answer.Continue;
        var text = Content(target);
        return text is null ? Answer.Continue : Inject(text, (flags & Interop.Sys.O_CLOEXEC) != 0);
    }

    /// <summary>The names worth resolving: the last component is one of the answered files.</summary>
    private static bool MayBeProcFile(string path)
    {
        var name = path.TrimEnd('/');
        name = name[(name.LastIndexOf('/') + 1)..];
        return ProcViews.IsAnsweredName(name);
    }

    /// <summary>The caller's /proc is the daemon's (same pid namespace): pids in its paths mean ours.</summary>
    private static bool SameProc(TargetProcess t)
    {
        var ns = ProcFs.ReadLink($"/proc/{t.Tid}/ns/pid");
        return ns is not null && ns == ProcFs.ReadLink("/proc/self/ns/pid");
    }

    private string? Content(ProcTarget target)
    {
        switch (target.File)
        {
            case ProcFile.MountInfo or ProcFile.Mounts or ProcFile.MountStats:
                string dir = $"/proc/{target.Pid}/{(target.Tid is { } tid ? $"task/{tid}/" : "")}";
                var real = ProcFs.ReadText(dir + ProcViews.NameOf(target.File));
                var mountInfo = target.File == ProcFile.MountInfo ? real : ProcFs.ReadText(dir + "mountinfo");
                return real is null || mountInfo is null ? null : ProcViews.MountTable(target.File, real, mountInfo, cgfsDevice.Value);
            default:
                return CgroupOf(target.Pid, target.Tid);
        }
    }

    /// <summary>0::/PATH for a process cgfs covers or records; null (the kernel's file) for others.</summary>
    private string? CgroupOf(int pid, int? tid)
    {
        if (ProcFs.Process(pid) is not { } key || !Covered(key) && !engine.Run(() => engine.IsMemberLocked(pid)))
            return null;
        membership.EnsureRecorded(pid);
        var c = engine.Run(() => tid is { } t ? engine.CgroupOfThreadLocked(pid, t) : engine.CgroupOfLocked(pid));
        return ProcViews.Cgroup(c.ToString());
    }

    /// <summary>A descendant-or-self of a `cgfs exec` process (by parent chain, start times checked).</summary>
    private bool Covered(ProcessKey p)
    {
        var key = p;
        for (int hops = 0; hops < 256; hops++)
        {
            if (_roots.ContainsKey(key))
                return true;
            if (ProcFs.ReadStat(key.Pid) is not { } stat || stat.PPid <= 1 || ProcFs.Process(stat.PPid) is not { } parent)
                return false;
            key = parent;
        }
        return false;
    }

    private Answer Inject(string text, bool cloexec)
    {
        int fd = Interop.Sys.MemfdCreate("cgfs", Interop.Sys.MFD_CLOEXEC);
        if (fd < 0)
            return Answer.Continue;
        var bytes = Encoding.Latin1.GetBytes(text);
        fixed (byte* p = bytes)
        {
            if (Interop.Sys.Write(fd, p, bytes.Length) != bytes.Length || Interop.Sys.Lseek(fd, 0, 0) != 0)
            {
                log("exec: cannot fill a memfd");
                Interop.Sys.Close(fd);
                return Answer.Continue;
            }
        }
        return Answer.WithFd(fd, cloexec);
    }

    private readonly BpfEmulation _bpf = new(sys, engine);

    /// <summary>Program attach, detach and query on a cgfs directory: emulated (<see cref="BpfEmulation"/>).</summary>
    private Answer Bpf(TargetProcess t, int cmd, ulong attr, Func<bool> valid)
    {
        if (!BpfEmulation.Handles(cmd) || BpfEmulation.TargetFd(t, attr) is var fd && fd < 0)
            return Answer.Continue;
        var reach = t.ReachFd(fd);
        if (!OnCgfs(reach) || Interop.Sys.IdentityOf(reach) is not { } id)
            return Answer.Continue;
        return _bpf.Handle(t, cmd, attr, id.Ino, valid);
    }

    /// <summary>clone(CLONE_PARENT): the child's fork event will name the caller's parent, but the
    /// child is born in the caller's cgroup; membership is told who creates it (runc's nsexec does this).</summary>
    private Answer CloneParent(TargetProcess t, ulong flags)
    {
        const ulong CloneThread = 0x00010000;
        if ((flags & SeccompFilter.CloneParent) != 0 && (flags & CloneThread) == 0 &&
            ProcFs.Tgid(t.Tid) is { } pid && ProcFs.ReadStat(pid) is { } stat)
            membership.Cloning(pid, t.Tid, stat.PPid);
        return Answer.Continue;
    }

    /// <summary>mount(2) of a cgroup2 filesystem: EPERM, so runc bind-mounts the cgfs tree instead.</summary>
    private static Answer Mount(TargetProcess t, ulong fstype) =>
        t.ReadString(fstype) == "cgroup2" ? Answer.Fail(Errno.EPERM) : Answer.Continue;

    /// <summary>clone3 with CLONE_INTO_CGROUP naming a cgfs directory: ENOSYS, so the caller falls back
    /// to fork and cgroup.procs (glibc and Go do).</summary>
    private Answer Clone3(TargetProcess t, ulong args)
    {
        if (t.Read<ulong>(args) is not { } flags || (flags & CloneIntoCgroup) == 0)
            return Answer.Continue;
        return t.Read<ulong>(args + CloneArgsCgroupOffset) is { } fd && OnCgfs(t.ReachFd((int)fd))
            ? Answer.Fail(Errno.ENOSYS) : Answer.Continue;
    }
}
