using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>misc.max write: one resource type and its new limit (ulong.MaxValue = max).</summary>
public readonly record struct MiscMaxCommand(string Name, ulong Max);

/// <summary>misc.current shortcut write (documented extension): a signed amount.</summary>
public readonly record struct MiscDeltaCommand(string Name, bool Negative, ulong Amount);

/// <summary>The misc.max grammar (spec misc.md 3) and the misc.current shortcut.</summary>
public static class MiscGrammar
{
    private static readonly Parser<ulong> MaxWord = Parse.String("max").End().Return(ulong.MaxValue);

    /// <summary>Split at the first space only; no space → EINVAL; the name must be known before the
    /// value is parsed (EINVAL), then KU64 (EINVAL/ERANGE). The capacity check comes after, in the engine.</summary>
    public static Parsed<MiscMaxCommand> Max(string buffer, Func<string, bool> isKnownType)
    {
        var split = SplitName(buffer, isKnownType);
        if (!split.Ok)
            return Parsed<MiscMaxCommand>.Fail(split.Error);
        var (name, value) = split.Value;
        var max = MaxWord.TryParse(value);
        if (max.WasSuccessful)
            return Parsed<MiscMaxCommand>.Of(new MiscMaxCommand(name, max.Value));
        var n = KernelText.KU64(value);
        return n.Ok ? Parsed<MiscMaxCommand>.Of(new MiscMaxCommand(name, n.Value)) : Parsed<MiscMaxCommand>.Fail(n.Error);
    }

    private static readonly Parser<char> Sign = Parse.Chars('+', '-');

    /// <summary>"NAME +N" or "NAME -N".</summary>
    public static Parsed<MiscDeltaCommand> CurrentDelta(string buffer, Func<string, bool> isKnownType)
    {
        var split = SplitName(buffer, isKnownType);
        if (!split.Ok)
            return Parsed<MiscDeltaCommand>.Fail(split.Error);
        var (name, value) = split.Value;
        var sign = Sign.TryParse(value);
        if (!sign.WasSuccessful)
            return Parsed<MiscDeltaCommand>.Fail(Errno.EINVAL);
        var n = KernelText.KU64(value[1..]);
        if (!n.Ok || value[1..].StartsWith('+'))
            return Parsed<MiscDeltaCommand>.Fail(n.Ok ? Errno.EINVAL : n.Error);
        return Parsed<MiscDeltaCommand>.Of(new MiscDeltaCommand(name, sign.Value == '-', n.Value));
    }

    private static Parsed<(string Name, string Value)> SplitName(string buffer, Func<string, bool> isKnownType)
    {
        var s = KernelText.Strip(buffer);
        int sp = s.IndexOf(' ');
        if (sp < 0)
            return Parsed<(string, string)>.Fail(Errno.EINVAL);
        var name = s[..sp];
        if (!isKnownType(name))
            return Parsed<(string, string)>.Fail(Errno.EINVAL);
        return Parsed<(string, string)>.Of((name, s[(sp + 1)..]));
    }
}
