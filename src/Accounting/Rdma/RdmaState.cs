namespace CgFs.Accounting;

/// <summary>The kernel's two rdma resources (index 0, 1); a device's vendor-defined resources
/// follow them (index 2 and up, <see cref="RdmaDevice.ExtraResources"/>).</summary>
public enum RdmaResource { HcaHandle = 0, HcaObject = 1 }

/// <summary>A registered RDMA device. Identity is the object, not the name: re-registering a
/// name creates a new device at the end of the order (spec rdma.md 3). Vendor-defined resources
/// (the rdmacg PATCHv4 design, a documented extension) are accounted like the kernel's two,
/// after them, in declaration order; at most <see cref="MaxResources"/> in all.</summary>
public sealed class RdmaDevice(string name, IReadOnlyList<string>? extra = null)
{
    /// <summary>The seed design's bitmap of resources per device.</summary>
    public const int MaxResources = 64;

    public string Name { get; internal set; } = name;
    /// <summary>Names of the vendor-defined resources, after hca_handle and hca_object.</summary>
    public IReadOnlyList<string> ExtraResources { get; } = extra ?? [];
    public int ResourceCount => 2 + ExtraResources.Count;
    public bool Registered { get; internal set; } = true;
    /// <summary>States that hold a pool for this device, so unregistering is O(pools).</summary>
    internal readonly HashSet<RdmaState> StatesWithPools = new();
}

/// <summary>Per (state, device) values (kernel: struct rdmacg_resource_pool). 32-bit limits and
/// usage as in the kernel; 64-bit event counters (7.2).</summary>
internal sealed class RdmaPool(int resources)
{
    public const int Max = int.MaxValue;
    public readonly int[] Limit = Enumerable.Repeat(Max, resources).ToArray();
    public readonly int[] Usage = new int[resources];
    public readonly int[] Peak = new int[resources];
    public readonly ulong[] EventsMax = new ulong[resources];
    public readonly ulong[] EventsAllocFail = new ulong[resources];
    public readonly ulong[] LocalMax = new ulong[resources];
    public readonly ulong[] LocalAllocFail = new ulong[resources];
    /// <summary>Units charged through the rdma.current shortcut to this very state.</summary>
    public readonly long[] ShortcutHeld = new long[resources];

    /// <summary>Discarding it would change nothing visible (spec rdma.md 1, 7.2 rule).</summary>
    public bool IsDefault
    {
        get
        {
            for (int r = 0; r < Limit.Length; r++)
                if (Limit[r] != Max || Usage[r] != 0 || Peak[r] != 0 || EventsMax[r] != 0 ||
                    EventsAllocFail[r] != 0 || LocalMax[r] != 0 || LocalAllocFail[r] != 0 || ShortcutHeld[r] != 0)
                    return false;
            return true;
        }
    }
}

/// <summary>rdma state of one cgroup (kernel: struct rdma_cgroup): pools created lazily.</summary>
public sealed class RdmaState(RdmaController controller, Cgroup cgroup, ControllerState? parent) : ControllerState(controller, cgroup, parent)
{
    internal readonly Dictionary<RdmaDevice, RdmaPool> Pools = new();

    protected internal override bool HasUsageLocked
    {
        get
        {
            AssertLocked();
            return Pools.Values.Any(p => p.Usage.Any(u => u != 0));
        }
    }

    internal RdmaPool PoolLocked(RdmaDevice d)
    {
        AssertLocked();
        if (!Pools.TryGetValue(d, out var pool))
        {
            pool = new RdmaPool(d.ResourceCount);
            Pools.Add(d, pool);
            d.StatesWithPools.Add(this);
        }
        return pool;
    }

    internal void DiscardIfDefaultLocked(RdmaDevice d)
    {
        AssertLocked();
        if (Pools.TryGetValue(d, out var pool) && pool.IsDefault)
        {
            Pools.Remove(d);
            d.StatesWithPools.Remove(this);
        }
    }

    /// <summary>Every pool goes, peaks and event counters included (kernel: rdmacg_css_free).</summary>
    protected internal override void ReleaseLocked()
    {
        AssertLocked();
        foreach (var d in Pools.Keys)
            d.StatesWithPools.Remove(this);
        Pools.Clear();
    }

    /// <summary>Going offline resets every limit to max (kernel: rdmacg_css_offline).</summary>
    protected internal override void OfflineLocked()
    {
        AssertLocked();
        foreach (var (d, pool) in Pools.ToArray())
        {
            pool.Limit[0] = pool.Limit[1] = RdmaPool.Max;
            DiscardIfDefaultLocked(d);
        }
    }
}

/// <summary>What an rdma file shows for one device: values for hca_handle and hca_object.</summary>
public readonly record struct RdmaRow(
    string Device, int[] Max, int[] Current, int[] Peak, ulong[] EventsMax, ulong[] EventsAllocFail,
    ulong[] LocalMax, ulong[] LocalAllocFail, IReadOnlyList<string>? Extra = null);
