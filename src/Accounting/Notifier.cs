namespace CgFs.Accounting;

/// <summary>A notifying interface file (kernel: a cgroup_file that cgroup_file_notify targets).
/// The engine bumps a per-cgroup generation for it and reports the change after its lock is
/// released; the view turns generations into POLLPRI and wake-ups. Identity is the object:
/// the core owns <see cref="CgroupEvents"/>, each controller its own.</summary>
public sealed class Notifier(string file)
{
    /// <summary>cgroup.events: populated and frozen.</summary>
    public static readonly Notifier CgroupEvents = new("cgroup.events");

    public string File { get; } = file;

    public override string ToString() => File;
}

/// <summary>One notifying file whose content changed.</summary>
public readonly record struct Change(Cgroup Cgroup, Notifier File);
