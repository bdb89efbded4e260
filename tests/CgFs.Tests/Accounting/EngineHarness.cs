using CgFs.Accounting;

namespace CgFs.Tests.Accounting;

/// <summary>Small helpers to drive the engine the way the view does (under its lock).</summary>
internal static class EngineHarness
{
    /// <summary>An engine with cgfs's controllers in registry order (rdma, misc).</summary>
    public static Hierarchy New() => new([new RdmaController(), new MiscController()]);

    extension(Hierarchy h)
    {
        public RdmaController Rdma => h.Get<RdmaController>();
        public MiscController Misc => h.Get<MiscController>();
        public ControllerMask RdmaBit => h.Get<RdmaController>().Mask;
        public ControllerMask MiscBit => h.Get<MiscController>().Mask;
    }

    public static T Do<T>(this Hierarchy h, Func<T> f) => h.Run(f);

    public static Cgroup Mkdir(this Hierarchy h, Cgroup parent, string name)
    {
        var e = h.Run(() => h.MkdirLocked(parent, name, out var c) == Errno.Ok ? c : null);
        return e ?? throw new InvalidOperationException($"mkdir {name} failed");
    }

    public static Errno Enable(this Hierarchy h, Cgroup c, ControllerMask ctrl) =>
        h.Run(() => h.WriteSubtreeControlLocked(c, ctrl, ControllerMask.None));

    public static RdmaState RdmaOf(this Hierarchy h, Cgroup c) => (RdmaState)h.Run(() => h.EffectiveStateLocked(c, h.Rdma));

    public static MiscState MiscOf(this Hierarchy h, Cgroup c) => (MiscState)h.Run(() => h.EffectiveStateLocked(c, h.Misc));

    public static RdmaRow Row(this Hierarchy h, RdmaState s, string device) =>
        h.Run(() => h.Rdma.RowsLocked(s)).Single(r => r.Device == device);

    public static MiscRow Row(this Hierarchy h, MiscState s, string type) =>
        h.Run(() => h.Misc.RowsLocked(s)).Single(r => r.Name == type);

    public static bool Yes(Cgroup _) => true;
}
