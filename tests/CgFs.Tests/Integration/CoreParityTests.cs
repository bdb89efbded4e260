using CgFs.Accounting;

namespace CgFs.Tests.Integration;

/// <summary>
/// Core cgroup v2 behaviour (spec core.md 9) checked the same way against a fresh cgfs mount
/// and against the kernel's own cgroup2 on this machine, through real tools. Only vectors that
/// do not need the rdma/misc controllers are here (the kernel has neither); the rest are in
/// <see cref="CoreControllerTests"/>.
/// </summary>
[TestFixture("cgfs")]
[TestFixture("kernel")]
[TestFixture("overlay")]
[NonParallelizable]
public sealed class CoreParityTests(string target)
{
    private Tree _t = null!;
    private int _n;

    [OneTimeSetUp]
    public void SetUp()
    {
        if (target is "kernel" or "overlay" && KernelScratch.Hierarchy is null)
            Assert.Ignore($"no writable cgroup2 hierarchy on this machine: {target} parity not checked");
        _t = target switch { "cgfs" => new Mount(), "overlay" => Mount.Create(MountMode.Overlay), _ => new KernelScratch() };
    }

    [OneTimeTearDown]
    public void TearDown() => _t?.Dispose();

    /// <summary>A fresh, unique cgroup directly under the base.</summary>
    private string Fresh(string prefix = "A")
    {
        var name = $"{prefix}{++_n}";
        Assert.That(_t.Mkdir(name), Is.EqualTo(Errno.Ok));
        return name;
    }

    private static readonly string[] NonRootFiles =
    [
        "cgroup.controllers", "cgroup.events", "cgroup.freeze", "cgroup.kill", "cgroup.max.depth",
        "cgroup.max.descendants", "cgroup.pressure", "cgroup.procs", "cgroup.stat", "cgroup.stat.local",
        "cgroup.subtree_control", "cgroup.threads", "cgroup.type", "cpu.pressure", "cpu.stat", "cpu.stat.local",
        "io.pressure", "memory.pressure",
    ];

    [Test]
    public void FreshChildHasTheKernelInventoryModesAndOwners()
    {
        var a = Fresh();
        var listing = _t.Sh($"stat -c '%n %a %U:%G %s %h' {a} {a}/*").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = new Dictionary<string, string> { [a] = $"{a} 755 root:root 0 2" };
        foreach (var f in NonRootFiles)
            expected[$"{a}/{f}"] = $"{a}/{f} {(f == "cgroup.kill" ? "200" : f is "cgroup.controllers" or "cgroup.events" or "cgroup.stat" or "cgroup.stat.local" or "cpu.stat" or "cpu.stat.local" ? "444" : "644")} root:root 0 1";
        Assert.That(listing.OrderBy(x => x, StringComparer.Ordinal), Is.EqualTo(expected.Values.OrderBy(x => x, StringComparer.Ordinal)));
    }

    [TestCase("cgroup.controllers", "")]
    [TestCase("cgroup.subtree_control", "")]
    [TestCase("cgroup.procs", "")]
    [TestCase("cgroup.threads", "")]
    [TestCase("cgroup.type", "domain\n")]
    [TestCase("cgroup.events", "populated 0\nfrozen 0\n")]
    [TestCase("cgroup.max.descendants", "max\n")]
    [TestCase("cgroup.max.depth", "max\n")]
    [TestCase("cgroup.freeze", "0\n")]
    [TestCase("cgroup.stat.local", "frozen_usec 0\n")]
    [TestCase("cgroup.pressure", "1\n")]
    [TestCase("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnice_usec 0\n")]
    [TestCase("cpu.stat.local", "")]
    [TestCase("io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")]
    public void FreshFileReadsExactBytes(string file, string content) =>
        Assert.That(_t.Read($"{Fresh()}/{file}"), Is.EqualTo(content));

    [TestCase("1", "1\n")]            // C1
    [TestCase(" 1 ", "1\n")]          // C2
    [TestCase("0x10", "16\n")]        // C7
    [TestCase("010", "8\n")]
    [TestCase("+3", "3\n")]
    [TestCase("2147483647", "max\n")] // C8
    [TestCase("max", "max\n")]
    [TestCase("1\n", "1\n")]
    public void MaxDepthAccepts(string write, string reads)
    {
        var a = Fresh();
        Assert.That(_t.Write($"{a}/cgroup.max.depth", write), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{a}/cgroup.max.depth"), Is.EqualTo(reads));
    }

    [TestCase("-1", Errno.ERANGE)]          // C3
    [TestCase("abc", Errno.EINVAL)]         // C4
    [TestCase("MAX", Errno.EINVAL)]
    [TestCase("08", Errno.EINVAL)]
    [TestCase("0x", Errno.EINVAL)]
    [TestCase("\n", Errno.EINVAL)]          // C6
    [TestCase("2147483648", Errno.ERANGE)]  // C9
    [TestCase("4294967297", Errno.ERANGE)]
    [TestCase("99999999999999999999x", Errno.ERANGE)]
    [TestCase("1 2", Errno.EINVAL)]
    public void MaxDescendantsRejects(string write, Errno errno)
    {
        var a = Fresh();
        Assert.That(_t.Write($"{a}/cgroup.max.descendants", write), Is.EqualTo(errno));
        Assert.That(_t.Read($"{a}/cgroup.max.descendants"), Is.EqualTo("max\n"));
    }

    [Test]
    public void ZeroLengthWriteChangesNothing()  // C5
    {
        var a = Fresh();
        Assert.That(_t.Sh($": > {a}/cgroup.max.depth").Code, Is.Zero);
        Assert.That(_t.Read($"{a}/cgroup.max.depth"), Is.EqualTo("max\n"));
    }

    [Test]
    public void HierarchyLimitsApplyAtMkdir()  // C10–C13
    {
        var a = Fresh();
        Assert.That(_t.Write($"{a}/cgroup.max.depth", "1"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{a}/B/C"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(_t.Write($"{a}/cgroup.max.depth", "0"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{a}/B2"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(_t.Write($"{a}/cgroup.max.depth", "max"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Write($"{a}/cgroup.max.descendants", "1"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{a}/X"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(_t.Mkdir($"{a}/B/C"), Is.EqualTo(Errno.EAGAIN));
        Assert.That(_t.Write($"{a}/cgroup.max.descendants", "0"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.EEXIST));
    }

    [Test]
    public void NameSpaceOperationsFailLikeTheKernel()  // C14–C20
    {
        var a = Fresh();
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Sh($"mkdir $'{a}/x\\ny'").Errno, Is.EqualTo(Errno.EINVAL));
        Assert.That(_t.Mkdir($"{a}/cgroup.procs"), Is.EqualTo(Errno.EEXIST));
        Assert.That(_t.Rmdir(a), Is.EqualTo(Errno.EBUSY));
        Assert.That(_t.Sh($"mv {a}/B {a}/B2").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Sh($"mv {a}/B/cgroup.procs {a}/B/x").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Sh($"mv -T {a}/B B{_n}").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Sh($"touch {a}/newfile").Errno, Is.EqualTo(Errno.EACCES));
        // The kernel here answers EPERM (kernfs has no mknod op); spec core.md C18 says EACCES.
        Assert.That(_t.Sh($"mknod {a}/n p").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Sh($"rm -f {a}/cgroup.procs").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Sh($"ln -s x {a}/l").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Sh($"ln {a}/cgroup.procs {a}/h").Errno, Is.EqualTo(Errno.EPERM));
        Assert.That(_t.Rmdir($"{a}/cgroup.procs"), Is.EqualTo(Errno.ENOTDIR));
        Assert.That(_t.Rmdir($"{a}/missing"), Is.EqualTo(Errno.ENOENT));
        Assert.That(_t.Sh($"unlink {a}/B").Errno, Is.EqualTo(Errno.EISDIR));
        Assert.That(_t.Rmdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok), "a removed name can be reused at once");
    }

    [Test]
    public void AttributesAndXattrsBehaveLikeKernfs()
    {
        var a = Fresh();
        Assert.That(_t.Mkdir($"{a}/q"), Is.EqualTo(Errno.Ok));
        foreach (var target in new[] { a, $"{a}/cgroup.procs" })
        {
            foreach (var ns in new[] { "user", "trusted", "security" })
                Assert.That(_t.Sh($"setfattr -n {ns}.x -v 1 {target}").Errno, Is.EqualTo(Errno.Ok), $"{ns} on {target}");
            Assert.That(_t.Sh($"setfattr -n other.x -v 1 {target}").Errno, Is.EqualTo(Errno.EOPNOTSUPP));
            Assert.That(_t.Sh($"getfattr --absolute-names -d -m - {target} | grep -v '^#' | sort").Out, Is.EqualTo("\nsecurity.x=\"1\"\ntrusted.x=\"1\"\nuser.x=\"1\"\n"));
        }
        Assert.That(_t.Sh($"truncate -s 0 {a}/cgroup.procs && touch {a}/cgroup.procs && chmod 600 {a}/cgroup.procs && stat -c '%a %s' {a}/cgroup.procs && stat -c %h {a}").Out,
            Is.EqualTo("600 0\n3\n"));
        Assert.That(_t.Sh($"cat {a}").Errno, Is.EqualTo(Errno.EISDIR));
        Assert.That(_t.Sh($"echo 1 > {a}").Errno, Is.EqualTo(Errno.EISDIR));
        Assert.That(_t.Sh($"ls -a {a} | head -2").Out, Is.EqualTo(".\n..\n"));
    }

    [TestCase("cgroup.controllers")]  // C21
    [TestCase("cgroup.stat")]
    [TestCase("cgroup.events")]
    [TestCase("cpu.stat")]
    public void RootWritingAReadOnlyFileGetsEinval(string file) =>
        Assert.That(_t.Write($"{Fresh()}/{file}", "x"), Is.EqualTo(Errno.EINVAL));

    [Test]
    public void WriteOnlyKillIsUnreadable()  // C22
    {
        var a = Fresh();
        Assert.That(_t.ReadErrno($"{a}/cgroup.kill"), Is.EqualTo(Errno.EINVAL));
        Assert.That(_t.Sh($"setpriv --reuid=65534 --regid=65534 --clear-groups cat {a}/cgroup.kill").Errno, Is.EqualTo(Errno.EACCES));
        Assert.That(_t.Sh($"setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'echo 1 > {a}/cgroup.max.depth'").Errno, Is.EqualTo(Errno.EACCES));
    }

    [Test]
    public void WritesOverOnePageAreE2big()  // C23
    {
        var a = Fresh();
        Assert.That(_t.WriteBytes($"{a}/cgroup.subtree_control", 4097, ' '), Is.EqualTo(Errno.E2BIG));
        Assert.That(_t.WriteBytes($"{a}/cgroup.subtree_control", 4096, ' '), Is.EqualTo(Errno.Ok));
        Assert.That(_t.WriteBytes($"{a}/cgroup.procs", 5000), Is.EqualTo(Errno.E2BIG));
    }

    [TestCase("+bogus")]  // C24
    [TestCase("+")]
    [TestCase("bogus")]
    [TestCase("+ bogus")]
    public void SubtreeControlRejectsMalformedTokens(string write) =>
        Assert.That(_t.Write($"{Fresh()}/cgroup.subtree_control", write), Is.EqualTo(Errno.EINVAL));

    [Test]
    public void SubtreeControlOfOnlySpacesIsANoOp() =>
        Assert.That(_t.Write($"{Fresh()}/cgroup.subtree_control", "   "), Is.EqualTo(Errno.Ok));

    [TestCase("2", Errno.ERANGE)]   // C31
    [TestCase("-1", Errno.ERANGE)]
    [TestCase("x", Errno.EINVAL)]
    public void FreezeRejects(string write, Errno errno) =>
        Assert.That(_t.Write($"{Fresh()}/cgroup.freeze", write), Is.EqualTo(errno));

    [Test]
    public void FreezeIsInheritedAtBirth()  // C31, C33
    {
        var a = Fresh();
        Assert.That(_t.Write($"{a}/cgroup.freeze", "0x1"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{a}/cgroup.freeze"), Is.EqualTo("1\n"));
        Assert.That(_t.Mkdir($"{a}/F"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{a}/F/cgroup.events"), Is.EqualTo("populated 0\nfrozen 1\n"));
        Assert.That(_t.Read($"{a}/F/cgroup.freeze"), Is.EqualTo("0\n"));
        Assert.That(_t.Read($"{a}/cgroup.events"), Is.EqualTo("populated 0\nfrozen 1\n"));
        Assert.That(_t.Write($"{a}/cgroup.freeze", "0"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{a}/F/cgroup.events"), Is.EqualTo("populated 0\nfrozen 0\n"));
    }

    [TestCase("0", Errno.ERANGE)]   // C32
    [TestCase("2", Errno.ERANGE)]
    [TestCase("-1", Errno.ERANGE)]
    [TestCase("x", Errno.EINVAL)]
    [TestCase("1", Errno.Ok)]
    [TestCase("01", Errno.Ok)]
    [TestCase("0x1", Errno.Ok)]
    [TestCase("1\n", Errno.Ok)]
    public void KillAcceptsOnlyOne(string write, Errno errno) =>
        Assert.That(_t.Write($"{Fresh()}/cgroup.kill", write), Is.EqualTo(errno));

    [TestCase("abc")]          // C34
    [TestCase("-1")]
    [TestCase("2147483648")]
    [TestCase("1 2")]
    [TestCase("\n")]
    public void ProcsRejectsMalformedPids(string write) =>
        Assert.That(_t.Write($"{Fresh()}/cgroup.procs", write), Is.EqualTo(Errno.EINVAL));

    [Test]
    public void ProcsRejectsMissingPid() =>  // C35
        Assert.That(_t.Write($"{Fresh()}/cgroup.procs", "99999999"), Is.EqualTo(Errno.ESRCH));

    [Test]
    public void ProcsAcceptsEveryIntegerForm()  // C36
    {
        var a = Fresh();
        using var s = _t.StartSleeper();
        foreach (var form in new[] { $" {s.Pid} ", $"{s.Pid}\n", $"+{s.Pid}", $"0x{s.Pid:x}", "0" + Convert.ToString(s.Pid, 8) })
            Assert.That(_t.Write($"{a}/cgroup.procs", form), Is.EqualTo(Errno.Ok), form);
        Assert.That(_t.Read($"{a}/cgroup.procs"), Is.EqualTo($"{s.Pid}\n"));
    }

    [Test]
    public void MembershipDrivesPopulatedAndRmdir()  // C37, C38
    {
        var a = Fresh();
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        using var s = _t.StartSleeper();
        Assert.That(_t.Write($"{a}/B/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{a}/B/cgroup.procs"), Is.EqualTo($"{s.Pid}\n"));
        Assert.That(_t.Read($"{a}/cgroup.procs"), Is.Empty);
        Assert.That(_t.Read($"{a}/cgroup.events"), Is.EqualTo("populated 1\nfrozen 0\n"));
        Assert.That(_t.Read($"{a}/B/cgroup.events"), Is.EqualTo("populated 1\nfrozen 0\n"));
        Assert.That(_t.Rmdir($"{a}/B"), Is.EqualTo(Errno.EBUSY));
        Assert.That(_t.Rmdir(a), Is.EqualTo(Errno.EBUSY));
        s.Kill();
        Assert.That(Wait.Until(() => _t.Read($"{a}/cgroup.events") == "populated 0\nfrozen 0\n"), Is.True, "exit is detected");
        Assert.That(_t.Read($"{a}/B/cgroup.procs"), Is.Empty);
        Assert.That(_t.Rmdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Rmdir(a), Is.EqualTo(Errno.Ok));
    }

    [Test]
    public void WriterIsPidZero()
    {
        var a = Fresh();
        // `read` is a builtin: a forked reader would itself be a member (born in the shell's cgroup).
        var r = _t.Sh($"echo 0 > {a}/cgroup.procs && while read -r p; do echo $p; done < {a}/cgroup.procs; echo $$");
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), r.ToString());
        Assert.That(lines[0], Is.EqualTo(lines[1]), "pid 0 is the writing shell");
        Assert.That(Wait.Until(() => _t.Read($"{a}/cgroup.procs") == ""), Is.True);
    }

    [Test]
    public void ThreadMoveBetweenDomainsIsNotSupported()  // C39
    {
        var a = Fresh();
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        using var s = _t.StartSleeper();
        Assert.That(_t.Write($"{a}/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Write($"{a}/B/cgroup.threads", s.Pid.ToString()), Is.EqualTo(Errno.EOPNOTSUPP));
    }

    [Test]
    public void DescriptorsOfARemovedCgroupAreDead()  // C40
    {
        var a = Fresh();
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        var r = _t.Sh($"exec 3<>{a}/B/cgroup.procs; rmdir {a}/B || exit 9; cat <&3; echo \"read=$?\"; echo 1 >&3; echo \"write=$?\"; stat -L -c %s /dev/fd/3; exec 3>&-");
        Assert.That(r.Out, Does.Contain("read=1").And.Contain("write=1"), r.ToString());
        Assert.That(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Shell.ErrnoOf), Is.EqualTo(new[] { Errno.ENODEV, Errno.ENODEV }), r.Err);
    }

    [Test]
    public void ThreadedSubtreeRules()  // C41–C47
    {
        var t = Fresh("T");
        Assert.That(_t.Mkdir($"{t}/t1"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Write($"{t}/t1/cgroup.type", "domain"), Is.EqualTo(Errno.EINVAL));
        Assert.That(_t.Write($"{t}/t1/cgroup.type", "bogus"), Is.EqualTo(Errno.EINVAL));
        Assert.That(_t.Write($"{t}/t1/cgroup.type", "threaded"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{t}/t1/cgroup.type"), Is.EqualTo("threaded\n"));
        Assert.That(_t.Read($"{t}/cgroup.type"), Is.EqualTo("domain threaded\n"));
        Assert.That(_t.Mkdir($"{t}/t2"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{t}/t2/cgroup.type"), Is.EqualTo("domain invalid\n"));
        Assert.That(_t.Mkdir($"{t}/t1/c"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{t}/t1/c/cgroup.type"), Is.EqualTo("domain invalid\n"));
        Assert.That(_t.ReadErrno($"{t}/t1/cgroup.procs"), Is.EqualTo(Errno.EOPNOTSUPP));
        Assert.That(_t.Read($"{t}/t1/cgroup.threads"), Is.Empty);
        using var s = _t.StartSleeper();
        Assert.That(_t.Write($"{t}/t2/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.EOPNOTSUPP));
        Assert.That(_t.Write($"{t}/cgroup.procs", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Write($"{t}/t1/cgroup.threads", s.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Read($"{t}/cgroup.procs"), Is.EqualTo($"{s.Pid}\n"));
        Assert.That(_t.Read($"{t}/cgroup.threads"), Is.Empty);
        Assert.That(_t.Read($"{t}/t1/cgroup.threads"), Is.EqualTo($"{s.Pid}\n"));
        Assert.That(_t.Write($"{t}/t1/cgroup.kill", "1"), Is.EqualTo(Errno.EOPNOTSUPP));
        Assert.That(_t.Write($"{t}/t2/cgroup.type", "threaded"), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Mkdir($"{t}/t2/p"), Is.EqualTo(Errno.Ok));
        var p = Fresh("P");
        using var s2 = _t.StartSleeper();
        Assert.That(_t.Write($"{p}/cgroup.procs", s2.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Write($"{p}/cgroup.type", "threaded"), Is.EqualTo(Errno.EOPNOTSUPP));
        s.Kill();
        s2.Kill();
    }

    [Test]
    public void DelegationFollowsTheCommonAncestorRule()  // C48–C54
    {
        var d = Fresh("D");
        var other = Fresh("O");
        var env = new Dictionary<string, string> { ["D"] = _t.P(d), ["O"] = _t.P(other), ["BASE"] = _t.Base };
        Assert.That(_t.Sh("chown 65534:65534 \"$D\" \"$D/cgroup.procs\" \"$D/cgroup.threads\" \"$D/cgroup.subtree_control\"", env).Code, Is.Zero);
        const string asU = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
        Assert.That(_t.Sh(asU + "mkdir \"$D/x\" \"$D/y\"", env).Errno, Is.EqualTo(Errno.Ok));
        Assert.That(_t.Sh("stat -c '%U %a' \"$D/x\" \"$D/x/cgroup.procs\" \"$D/x/cgroup.kill\"", env).Out,
            Is.EqualTo("nobody 755\nnobody 644\nnobody 200\n"));
        Assert.That(_t.Sh(asU + "mkdir \"$BASE/N$RANDOM\"", env).Errno, Is.EqualTo(Errno.EACCES));
        Assert.That(_t.Sh(asU + "bash -c 'echo 1 > \"$D/cgroup.max.depth\"'", env).Errno, Is.EqualTo(Errno.EACCES));
        using var r = _t.StartSleeper();
        env["R"] = r.Pid.ToString();
        Assert.That(_t.Write($"{d}/x/cgroup.procs", r.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Sh(asU + "bash -c 'echo $R > \"$D/y/cgroup.procs\"'", env).Errno, Is.EqualTo(Errno.Ok), "no uid check on v2");
        Assert.That(_t.Write($"{other}/cgroup.procs", r.Pid.ToString()), Is.EqualTo(Errno.Ok));
        Assert.That(_t.Sh(asU + "bash -c 'echo $R > \"$D/y/cgroup.procs\"'", env).Errno, Is.EqualTo(Errno.EACCES));
        Assert.That(_t.Sh(asU + "bash -c 'echo $$ > \"$D/y/cgroup.procs\" && echo $$ > \"$O/cgroup.procs\"'", env).Errno, Is.EqualTo(Errno.EACCES));
        Assert.That(_t.Sh(asU + "rmdir \"$D\"", env).Errno, Is.EqualTo(Errno.EACCES));
        Assert.That(_t.Sh(asU + "rmdir \"$D/x\"", env).Errno, Is.EqualTo(Errno.Ok));
        r.Kill();
    }

    [Test]
    public void PollReportsPriorityAfterAChangeUntilReRead()  // C55
    {
        var a = Fresh();
        Assert.That(_t.Mkdir($"{a}/B"), Is.EqualTo(Errno.Ok));
        using var s = _t.StartSleeper();
        var quiet = _t.Sh($"{Mount.Binary} poll {a}/B/cgroup.events --timeout 200");
        Assert.That(quiet.Code, Is.EqualTo(1), quiet.ToString());
        var r = _t.Sh($"exec 3< <({Mount.Binary} poll {a}/B/cgroup.events --timeout 10000 --ready); read -r -u 3 ready; echo {s.Pid} > {a}/B/cgroup.procs; cat <&3");
        Assert.That(r.Code, Is.Zero, r.ToString());
        // poll(2) reports only the requested events plus POLLERR.
        Assert.That(r.Out, Is.EqualTo("POLLPRI POLLERR\npopulated 1\nfrozen 0\n"));
        var exit = _t.Sh($"exec 3< <({Mount.Binary} poll {a}/B/cgroup.events --timeout 10000 --ready); read -r -u 3 ready; kill {s.Pid}; cat <&3");
        Assert.That(exit.Out, Does.EndWith("populated 0\nfrozen 0\n"), "an exit wakes pollers");
    }

}
