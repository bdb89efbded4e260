namespace CgFs.Accounting;

/// <summary>The notifying interface files (kernel: cgroup_file_notify targets). The engine
/// bumps a per-cgroup generation for each and reports the change after its lock is released;
/// the view turns generations into POLLPRI and wake-ups.</summary>
public enum Notifier
{
    CgroupEvents = 0,
    RdmaEvents = 1,
    RdmaEventsLocal = 2,
    MiscEvents = 3,
    MiscEventsLocal = 4,
}

/// <summary>One notifying file whose content changed.</summary>
public readonly record struct Change(Cgroup Cgroup, Notifier File);
