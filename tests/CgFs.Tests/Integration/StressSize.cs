namespace CgFs.Tests.Integration;

/// <summary>Sizes of the reliability suite: reduced in `make test`, full in `make stress` (CGFS_STRESS=full).</summary>
internal static class StressSize
{
    public static readonly bool Full = Environment.GetEnvironmentVariable("CGFS_STRESS") == "full";

    public static int Scale(int reduced, int full) => Full ? full : reduced;
}
