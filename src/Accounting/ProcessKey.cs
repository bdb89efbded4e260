namespace CgFs.Accounting;

/// <summary>A host process identified safely against pid reuse: pid plus the start time the
/// host reports for it (clock ticks since boot, /proc/PID/stat field 22).</summary>
public readonly record struct ProcessKey(int Pid, ulong StartTime);
