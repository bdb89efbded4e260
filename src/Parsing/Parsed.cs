using CgFs.Accounting;

namespace CgFs.Parsing;

/// <summary>A grammar's result: a typed command, or the errno the kernel gives for that input.</summary>
public readonly record struct Parsed<T>(Errno Error, T Value)
{
    public bool Ok => Error == Errno.Ok;

    public static Parsed<T> Fail(Errno e) => new(e, default!);
    public static Parsed<T> Of(T value) => new(Errno.Ok, value);
}
