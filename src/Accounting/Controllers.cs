namespace CgFs.Accounting;

/// <summary>The controllers cgfs knows, as a bit mask. Bit order is the kernel's subsystem-ID
/// order (rdma before misc), which is the order every listing and check uses.</summary>
[Flags]
public enum Controllers
{
    None = 0,
    Rdma = 1,
    Misc = 2,
    All = Rdma | Misc,
}

public static class ControllerNames
{
    /// <summary>Controllers in subsystem-ID order.</summary>
    public static readonly Controllers[] Ordered = [Controllers.Rdma, Controllers.Misc];

    public static string Name(Controllers c) => c switch
    {
        Controllers.Rdma => "rdma",
        Controllers.Misc => "misc",
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    public static Controllers? FromName(string name) => name switch
    {
        "rdma" => Controllers.Rdma,
        "misc" => Controllers.Misc,
        _ => null,
    };
}
