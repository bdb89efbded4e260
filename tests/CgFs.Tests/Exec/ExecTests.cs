using CgFs.Accounting;
using CgFs.Tests.Integration;

namespace CgFs.Tests.Exec;

/// <summary>
/// `cgfs exec`, A/B: the same unmodified program outside it does not take the FUSE mount for
/// cgroup v2, under it does — statfs, mount tables, /proc/PID/cgroup, mount(2), clone3 — and the
/// caller's own mount namespace is untouched. Outside runs get their own mount namespace
/// (unshare -m) so the probe's mount(2) cannot touch the host.
/// </summary>
[NonParallelizable]
[TestFixture(MountMode.Emulated)]
[TestFixture(MountMode.Overlay)]
public sealed class ExecTests(MountMode mode)
{
    private Mount _m = null!;
    private string _probe = null!;

    [OneTimeSetUp]
    public void BuildProbe()
    {
        _probe = Path.Combine(Directory.CreateTempSubdirectory("cgfs-probe-").FullName, "probe");
        var r = Shell.Run($"gcc -O2 -o {_probe} {Mount.RepoRoot}/tests/CgFs.Tests/Exec/probe.c");
        Assert.That(r.Code, Is.Zero, r.ToString());
    }

    [OneTimeTearDown]
    public void RemoveProbe() => Directory.Delete(Path.GetDirectoryName(_probe)!, recursive: true);

    [SetUp]
    public void SetUp() => _m = Mount.Create(mode, "--rdma-device", "mlx5_0", "--misc", "sev=4");

    [TearDown]
    public void TearDown() => _m.Dispose();

    private string Exec(string command) => $"{Mount.Binary} exec --control {_m.Control} -- {command}";

    private static Dictionary<string, string> Lines(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");

    [Test]
    public void AProgramTakesTheMountForCgroup2OnlyUnderCgfsExec()
    {
        var outside = Shell.Run($"unshare -m --propagation private {_probe} {_m.MountPoint}");
        var inside = Shell.Run(Exec(_probe));
        Assert.That(outside.Code, Is.Zero, outside.ToString());
        Assert.That(inside.Code, Is.Zero, inside.ToString());
        var a = Lines(outside.Out);
        var b = Lines(inside.Out);
        Assert.Multiple(() =>
        {
            Assert.That(a["statfs"], Is.EqualTo("65735546"), "outside: FUSE_SUPER_MAGIC");
            Assert.That(a["mountinfo"], Is.EqualTo("fuse.cgfs"));
            Assert.That(a["cgroup"], Does.Not.StartWith("0::/").Or.Not.EqualTo("0::/"));
            Assert.That(b["statfs"], Is.EqualTo("63677270"), "inside: CGROUP2_SUPER_MAGIC");
            Assert.That(b["fstatfs"], Is.EqualTo("63677270"));
            Assert.That(b["mountinfo"], Is.EqualTo("cgroup2"), "openat(/proc/self dirfd, \"mountinfo\")");
            Assert.That(b["mounts"], Is.EqualTo("cgroup2"));
            Assert.That(b["cgroup"], Is.EqualTo("0::/"), "cgfs's root: the process was never moved");
            Assert.That(b["mount-cgroup2"], Is.EqualTo("EPERM"), "runc then bind-mounts the tree");
            Assert.That(b["clone3-into-cgroup"], Is.EqualTo("ENOSYS"), "callers fall back to fork + cgroup.procs");
            Assert.That(a["own-listener"], Is.EqualTo("ok"));
            Assert.That(b["own-listener"], Is.EqualTo("EBUSY"), "decided: one listener per filter chain, the kernel's rule");
        });
    }

    [Test]
    public void CoreutilsStatSeesCgroup2FsAndTheHostIsUntouched()
    {
        var before = Shell.Run("stat -f -c %T /sys/fs/cgroup; grep -c . /proc/self/mountinfo").Out;
        var inside = Shell.Run(Exec("sh -c 'stat -f -c %T /sys/fs/cgroup; cd /sys/fs/cgroup && stat -f -c %T .; " +
                                    "exec 3</sys/fs/cgroup/cgroup.procs; stat -f -c %T /dev/fd/3 /proc/self/fd/3; stat -f -c %T /tmp'"));
        Assert.That(inside.Out, Is.EqualTo($"cgroup2fs\ncgroup2fs\ncgroup2fs\ncgroup2fs\n{Shell.Run("stat -f -c %T /tmp").Out}"), inside.ToString());
        Assert.That(Shell.Run($"stat -f -c %T {_m.MountPoint}").Out, Is.EqualTo("fuseblk\n"), "outside, nothing changed");
        Assert.That(Shell.Run("stat -f -c %T /sys/fs/cgroup; grep -c . /proc/self/mountinfo").Out, Is.EqualTo(before),
            "the caller's mount namespace is untouched");
    }

    [Test]
    public void AnotherCgfsMountStaysFuseCgfs()
    {
        using var other = new Mount();
        var r = Shell.Run(Exec("sh -c 'cat /proc/self/mounts; cat /proc/self/mountinfo'"));
        Assert.That(r.Code, Is.Zero, r.ToString());
        string Escaped(string p) => p.Replace(" ", "\\040");
        var ours = r.Out.Split('\n').Where(l => l.Contains(" /sys/fs/cgroup ")).ToArray();
        var theirs = r.Out.Split('\n').Where(l => l.Contains($" {Escaped(other.MountPoint)} ")).ToArray();
        Assert.That(ours, Has.Length.EqualTo(2).And.All.Contains(" cgroup2 "), r.Out);
        Assert.That(theirs, Has.Length.EqualTo(2).And.All.Contains(" fuse.cgfs ").And.None.Contains("cgroup2"),
            "only the tree whose membership /proc/PID/cgroup reports passes for cgroup2");
    }

    [Test]
    public void ProcPidCgroupFollowsMembershipForTheProcessItsChildrenAndOthers()
    {
        // Only the sleep is in the background: a backgrounded chain would be a subshell forked before
        // the move, which the kernel leaves where it was (and so does an overlay).
        var r = Shell.Run(Exec("sh -c 'mkdir /sys/fs/cgroup/job && echo $$ > /sys/fs/cgroup/job/cgroup.procs && " +
                               "cat /proc/self/cgroup && sh -c \"cat /proc/self/cgroup\" && cd /proc/self && cat cgroup && cd / && " +
                               "{ sleep 30 & } && mkdir /sys/fs/cgroup/other && echo $! > /sys/fs/cgroup/other/cgroup.procs && " +
                               "cat /proc/$!/cgroup /proc/$!/task/$!/cgroup; kill $!'"));
        Assert.That(r.Out, Is.EqualTo("0::/job\n0::/job\n0::/job\n0::/other\n0::/other\n"), r.ToString());
        Assert.That(_m.Read("job/cgroup.procs"), Is.EqualTo(""), "the shell exited");
    }

    [Test]
    public void ExitStatusIsTheCommandsAndMissingCommandsAre127()
    {
        Assert.That(Shell.Run(Exec("sh -c 'exit 7'")).Code, Is.EqualTo(7));
        Assert.That(Shell.Run(Exec("sh -c 'kill -TERM $$'")).Code, Is.EqualTo(128 + 15), "killed by a signal: 128+N as the shell reports it");
        var missing = Shell.Run(Exec("/nonexistent/cmd"));
        Assert.That((missing.Code, missing.Err), Is.EqualTo((127, "cgfs exec: /nonexistent/cmd: No such file or directory\n")));
    }

    /// <summary>Decided: with the daemon gone the kernel answers every trapped call ENOSYS — a covered
    /// process can then no longer open files (a dynamically linked program cannot even load libc).</summary>
    [Test]
    public void WithoutTheDaemonTrappedCallsFailWithENOSYS()
    {
        using var holder = new System.Diagnostics.Process();
        holder.StartInfo = new System.Diagnostics.ProcessStartInfo(Mount.Binary,
            ["exec", "--control", _m.Control, "--", "/bin/sh", "-c", "echo ready; read x; cat /proc/self/cgroup; echo status=$?"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        holder.Start();
        Assert.That(holder.StandardOutput.ReadLine(), Is.EqualTo("ready"));
        _m.Kill9();
        holder.StandardInput.WriteLine("go");
        holder.StandardInput.Close();
        Assert.That(holder.WaitForExit(20_000), Is.True);
        var output = holder.StandardOutput.ReadToEnd() + holder.StandardError.ReadToEnd();
        Assert.That(output, Does.Contain("cannot open shared object file: Error 38").And.Contain("status=127"), output); // 38: ENOSYS
    }

    /// <summary>Decided: `cgfs exec` needs CAP_SYS_ADMIN (a mount namespace and a bind mount); an
    /// unprivileged caller is told so and nothing runs.</summary>
    [Test]
    public void AnUnprivilegedCallerIsRefusedClearly()
    {
        var r = Shell.Run($"setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp {Exec("true")}");
        Assert.That(r.Code, Is.EqualTo(2), r.ToString()); // cgfs's own failures exit 2
        Assert.That(r.Err, Does.Contain("unshare(CLONE_NEWNS): EPERM"));
    }

    /// <summary>Never leak: a supervised tree is let go when its last process exits — also when
    /// it left a daemon behind that exits later.</summary>
    [Test]
    public void TheDaemonLetsGoOfATreeWhenItsLastProcessExits()
    {
        for (int i = 0; i < 5; i++)
            Assert.That(Shell.Run(Exec("true")).Code, Is.Zero);
        Assert.That(Wait.Until(() => _m.Supervised() == 0), Is.True, "five short trees, all let go");
        var r = Shell.Run(Exec("sh -c 'sleep 1 </dev/null >/dev/null 2>&1 & exit 0'"));
        Assert.That(r.Code, Is.Zero, r.ToString());
        Assert.That(_m.Supervised(), Is.EqualTo(1), "the backgrounded sleep still carries the filter");
        Assert.That(Wait.Until(() => _m.Supervised() == 0), Is.True, "every listener is closed once its tree is gone");
    }
}
