namespace CgFs.Tests.Integration;

/// <summary>Bounded waits for what happens asynchronously (exits, released connections, unmounts).</summary>
public static class Wait
{
    public static bool Until(Func<bool> condition, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
                return true;
            Thread.Sleep(25);
        }
        return condition();
    }
}
