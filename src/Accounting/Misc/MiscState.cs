namespace CgFs.Accounting;

/// <summary>A misc resource type. The kernel's are static (sev, sev_es, tdx); cgfs can register
/// more at run time (documented extension, spec misc.md 6). <see cref="Follow"/> types move with
/// their process on migration (extension, the IOASID discussion).</summary>
public sealed class MiscType(string name, ulong capacity, bool follow)
{
    public string Name { get; } = name;
    public ulong Capacity { get; internal set; } = capacity;
    public bool Follow { get; internal set; } = follow;
    public bool Registered { get; internal set; } = true;
}

/// <summary>Per (state, type) values (kernel: struct misc_res), all u64.</summary>
internal sealed class MiscValues
{
    public ulong Max = ulong.MaxValue;
    public ulong Usage;
    public ulong Peak;
    public ulong Events;
    public ulong EventsLocal;
    public ulong ShortcutHeld;
}

/// <summary>misc state of one cgroup (kernel: struct misc_cg).</summary>
public sealed class MiscState(MiscController controller, Cgroup cgroup, ControllerState? parent) : ControllerState(controller, cgroup, parent)
{
    internal readonly Dictionary<MiscType, MiscValues> Values = new();

    protected internal override bool HasUsageLocked
    {
        get
        {
            AssertLocked();
            return Values.Values.Any(v => v.Usage != 0);
        }
    }

    internal MiscValues Of(MiscType t)
    {
        if (!Values.TryGetValue(t, out var v))
            Values.Add(t, v = new MiscValues());
        return v;
    }

    internal MiscValues? Peek(MiscType t) => Values.GetValueOrDefault(t);

    protected internal override void ReleaseLocked()
    {
        AssertLocked();
        Values.Clear();
    }

    /// <summary>Limits configured in an offline state are lost; usage stays until uncharged.</summary>
    protected internal override void OfflineLocked()
    {
        AssertLocked();
        foreach (var v in Values.Values)
            v.Max = ulong.MaxValue;
    }
}

/// <summary>What a misc file can show for one type.</summary>
public readonly record struct MiscRow(string Name, ulong Capacity, ulong Max, ulong Current, ulong Peak, ulong Events, ulong EventsLocal);
