using CgFs.Tree;

namespace CgFs;

/// <summary>
/// The one place a controller plugs in (kernel: include/linux/cgroup_subsys.h). Order is the
/// subsystem-id order every listing and check uses. Adding a controller: its engine folder
/// (src/Accounting/NAME: a Controller and its ControllerState), its grammar and renderers
/// (src/Parsing/NAME), its files and contributions (src/CgFs/Tree/NAME: a ControllerPlugin), and
/// one line here.
/// </summary>
public static class ControllerRegistry
{
    /// <summary>New instances each call: a controller belongs to one hierarchy.</summary>
    public static ControllerPlugin[] Default() =>
    [
        new Tree.Rdma.RdmaPlugin(),
        new Tree.Misc.MiscPlugin(),
    ];
}
