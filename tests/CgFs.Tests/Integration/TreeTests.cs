using System.Text.RegularExpressions;

namespace CgFs.Tests.Integration;

/// <summary>`cgfs tree` piped (plain text, compared as text) and `cgfs top` under a real terminal
/// (tmux: capture-pane for what is drawn, send-keys for q).</summary>
[NonParallelizable]
public sealed class TreeTests
{
    private Mount _m = null!;

    [SetUp]
    public void SetUp()
    {
        _m = new Mount("--rdma-device", "mlx5_0", "--misc", "sev=4");
        Assert.That(_m.Sh("echo '+rdma +misc' > cgroup.subtree_control && mkdir -p job/a job/b && echo '+rdma +misc' > job/cgroup.subtree_control && " +
                          "echo 'mlx5_0 hca_handle=4 hca_object=10' > job/rdma.max && echo 'mlx5_0 hca_object=+9' > job/a/rdma.current && " +
                          "echo 'sev 3' > job/misc.max && echo 'sev +1' > job/b/misc.current").Code, Is.Zero);
    }

    [TearDown]
    public void TearDown() => _m.Dispose();

    [Test]
    public void PipedItIsPlainTextWithBarsAgainstLimits()
    {
        var r = _m.Sh($"{Mount.Binary} tree {_m.MountPoint} | cat");
        Assert.That(r.Code, Is.Zero, r.ToString());
        var lines = r.Out.Split('\n');
        Assert.That(lines[0], Does.Match(@"^/ \d+ process(es)?$"), "the root's own processes (the host's, recorded there)");
        Assert.That(string.Join('\n', lines.Skip(1)), Is.EqualTo(
            "|-- misc sev                                            1/max\n" +
            "`-- job 0 processes\n" +
            "    |-- rdma mlx5_0 hca_handle       [....................] 0/4\n" +
            "    |-- rdma mlx5_0 hca_object       [##################..] 9/10\n" +
            "    |-- misc sev                     [#######.............] 1/3\n" +
            "    |-- a 0 processes\n" +
            "    |   `-- rdma mlx5_0 hca_object                              9/max\n" +
            "    `-- b 0 processes\n" +
            "        `-- misc sev                                            1/max\n"));
        Assert.That(r.Out, Does.Not.Contain("\x1b["), "no escape codes into a pipe");
        Assert.That(_m.Sh($"{Mount.Binary} tree {_m.MountPoint}/job/a | cat").Out, Is.EqualTo("/ 0 processes\n`-- rdma mlx5_0 hca_object                              9/max\n"));
        Assert.That(_m.Sh($"{Mount.Binary} tree /nonexistent").Code, Is.EqualTo(2));
    }

    [Test]
    public void TopRedrawsInATerminalUntilQ()
    {
        string session = $"cgfs-top-{Environment.ProcessId}";
        var start = Shell.Run($"tmux new-session -d -s {session} -x 120 -y 30 '{Mount.Binary} top {_m.MountPoint}'");
        Assert.That(start.Code, Is.Zero, start.ToString());
        try
        {
            string Screen(bool escapes = false) => Shell.Run($"tmux capture-pane -p {(escapes ? "-e " : "")}-t {session}").Out;
            Assert.That(Wait.Until(() => Screen().Contains("[##################..] 9/10")), Is.True, Screen());
            Assert.That(Screen(), Does.Contain("└── job 0 processes"), "box-drawing guides on a terminal");
            Assert.That(Screen(escapes: true), Does.Match(Regex.Escape("\x1b[") + "[0-9;]*m"), "colour on a terminal");
            Assert.That(_m.Write("job/a/rdma.current", "mlx5_0 hca_object=-9"), Is.EqualTo(CgFs.Accounting.Errno.Ok));
            Assert.That(Wait.Until(() => Screen().Contains("[....................] 0/10")), Is.True, "redrawn within a second or so: " + Screen());
            Assert.That(Shell.Run($"tmux send-keys -t {session} q").Code, Is.Zero);
            Assert.That(Wait.Until(() => Shell.Run($"tmux has-session -t {session}").Code != 0), Is.True, "q quits (and the session with it)");
        }
        finally
        {
            Shell.Run($"tmux kill-session -t {session} 2>/dev/null");
        }
    }
}
