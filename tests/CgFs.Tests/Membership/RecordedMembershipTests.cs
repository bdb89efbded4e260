using System.Diagnostics;
using CgFs.Accounting;
using CgFs.Host;

namespace CgFs.Tests.Membership;

/// <summary>Parent-chain inference (a fork event not handled yet) against what the kernel does: a
/// child of a process forked before its parent moved stays where that process is.</summary>
[NonParallelizable]
public sealed class RecordedMembershipTests
{
    /// <summary>bash A starts subshell P, which starts sleep C; A then execs sleep. Returns (A, P, C).</summary>
    private static (Process Shell, int P, int C) StartChain()
    {
        var shell = Process.Start(new ProcessStartInfo("/bin/bash", ["-c", "( sleep 30 & wait ) & echo $!; exec sleep 30"])
            { RedirectStandardOutput = true, UseShellExecute = false })!;
        int p = int.Parse(shell.StandardOutput.ReadLine()!);
        int c = 0;
        var sw = Stopwatch.StartNew();
        while (c == 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            c = ProcFs.Pids().FirstOrDefault(pid => ProcFs.ReadStat(pid) is { PPid: var pp } && pp == p);
            Thread.Sleep(10);
        }
        Assert.That(c, Is.Not.Zero, "the subshell's child appeared");
        return (shell, p, c);
    }

    private static void Kill(Process shell, int p, int c)
    {
        foreach (var pid in new[] { c, p, shell.Id })
            Interop.Sys.Kill(pid, Interop.Sys.SIGKILL);
        shell.WaitForExit(5000);
        shell.Dispose();
    }

    [TestCase(true, "/")]      // P's fork event was handled: P is in the root for certain, and so is C
    [TestCase(false, "/job")]  // not yet: the chain is all there is to go by, and A is in job
    public void AChildOfAProcessForkedBeforeItsParentMovedStaysWhereThatProcessIs(bool forkOfPSeen, string expected)
    {
        var stack = CgfsStack.Create();
        var membership = stack.Recorded!;
        membership.ForkEventsAvailable = true;
        var engine = stack.Engine;
        Cgroup? job = null;
        Assert.That(engine.Run(() => engine.MkdirLocked(engine.Root, "job", out job)), Is.EqualTo(Errno.Ok));
        var (shell, p, c) = StartChain();
        try
        {
            if (forkOfPSeen)
                membership.Forked(shell.Id, shell.Id, p);   // A was unrecorded (the root) when it forked P
            Assert.That(membership.MoveProcess(shell.Id, job!, 0, _ => true), Is.EqualTo(Errno.Ok));
            membership.EnsureRecorded(c);                   // C charges before its fork event is handled
            Assert.That(engine.Run(() => engine.CgroupOfLocked(c)).ToString(), Is.EqualTo(expected));
        }
        finally
        {
            Kill(shell, p, c);
        }
    }
}
