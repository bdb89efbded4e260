using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>rdma.max write: one device, new limits for the resources mentioned (null = unchanged);
/// vendor-defined resources by name in <see cref="Extra"/> (null when none was mentioned).</summary>
public readonly record struct RdmaMaxCommand(string Device, int? HcaHandle, int? HcaObject, IReadOnlyDictionary<string, int>? Extra = null);

/// <summary>rdma.current shortcut write (documented extension): signed deltas per resource.</summary>
public readonly record struct RdmaDeltaCommand(string Device, long HcaHandle, long HcaObject, IReadOnlyDictionary<string, long>? Extra = null);

/// <summary>The 7.2 rdma.max grammar (spec rdma.md 4.1, 11.1) and the rdma.current shortcut.</summary>
public static class RdmaGrammar
{
    /// <summary>The kernel copies a value into a 24-byte buffer first; 24 characters or more are EINVAL.</summary>
    private const int MaxValueLength = 23;

    private static readonly Parser<RdmaResource> Key =
        Parse.String(RdmaResources.Names[0] + "=").Return(RdmaResource.HcaHandle)
            .Or(Parse.String(RdmaResources.Names[1] + "=").Return(RdmaResource.HcaObject));

    /// <summary>The kernel's %d token: optional '-', base-0 digits wrapping modulo 2^64, nothing after.
    /// A bare '-' is 0 (quirk kept from the kernel).</summary>
    private static readonly Parser<long?> Number =
        from minus in Parse.Char('-').Optional()
        from digits in KernelText.Digits.Optional()
        from end in Parse.AnyChar.Not()
        select !minus.IsDefined && !digits.IsDefined
            ? null
            : (long?)unchecked((long)(minus.IsDefined ? 0UL - Wrap(digits) : Wrap(digits)));

    private static ulong Wrap(IOption<(int Radix, string Digits)> d) =>
        d.IsDefined ? KernelText.Accumulate(d.Get().Radix, d.Get().Digits).Value : 0;

    private static readonly Parser<int?> Limit =
        Parse.String("max").End().Return((int?)int.MaxValue)
            .Or(Number.Select(n => n is >= 0 and <= int.MaxValue ? (int?)n : null));

    private static readonly Parser<(RdmaResource Key, string Value)> Token =
        from k in Key
        from v in KernelText.Rest
        select (k, v);

    /// <summary>A vendor-defined resource's "name=value" (only names some device declared).</summary>
    private static readonly Parser<(string Key, string Value)> ExtraToken =
        from k in RdmaResources.VendorName
        from eq in Parse.Char('=')
        from v in KernelText.Rest
        select (k, v);

    /// <summary>Splits STRIP(buffer) into the device name (up to the first space) and tokens split
    /// on space, tab and newline.</summary>
    private static (string Device, string[] Tokens) Split(string buffer)
    {
        var s = KernelText.Strip(buffer);
        int sp = s.IndexOf(' ');
        if (sp < 0)
            return (s, []);
        return (s[..sp], s[(sp + 1)..].Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>Parses every "key=value" token with <paramref name="value"/>; the last mention of a
    /// key wins. Null when any token is malformed (EINVAL for the whole write).</summary>
    private static T?[]? Tokens<T>(string[] tokens, Parser<T?> value, IReadOnlySet<string>? extraKeys, out Dictionary<string, T>? extra) where T : struct
    {
        var values = new T?[2];
        extra = null;
        foreach (var t in tokens)
        {
            var tok = Token.TryParse(t);
            string raw;
            string? extraKey = null;
            if (tok.WasSuccessful)
                raw = tok.Value.Value;
            else if (extraKeys is { Count: > 0 } && ExtraToken.TryParse(t) is { WasSuccessful: true } x && extraKeys.Contains(x.Value.Key))
                (extraKey, raw) = x.Value;
            else
                return null;
            if (raw.Length > MaxValueLength || value.TryParse(raw) is not { WasSuccessful: true, Value: { } v })
                return null;
            if (extraKey is null)
                values[(int)tok.Value.Key] = v;
            else
                (extra ??= new())[extraKey] = v;
        }
        return values;
    }

    /// <summary>Every token is validated before the device is looked up (the caller does the lookup
    /// and answers ENODEV, also for an empty name).</summary>
    /// <param name="extraKeys">Vendor-defined resource names some device declared (an extension;
    /// without any, exactly the kernel's grammar).</param>
    public static Parsed<RdmaMaxCommand> Max(string buffer, IReadOnlySet<string>? extraKeys = null)
    {
        var (device, tokens) = Split(buffer);
        return Tokens(tokens, Limit, extraKeys, out var extra) is { } limits
            ? Parsed<RdmaMaxCommand>.Of(new RdmaMaxCommand(device, limits[0], limits[1], extra))
            : Parsed<RdmaMaxCommand>.Fail(Errno.EINVAL);
    }

    /// <summary>
    /// The legacy parser (kernels 4.11–7.1, spec rdma.md 4.3): tokens split on single spaces (an
    /// empty token is EINVAL); each splits at its first '='; the value is read like simple_strtol
    /// with trailing characters ignored (24 characters or more: EINVAL); a value without a leading
    /// number is accepted as max when it is a prefix of "max", even empty.
    /// </summary>
    public static Parsed<RdmaMaxCommand> MaxLegacy(string buffer)
    {
        var s = KernelText.Strip(buffer);
        int sp = s.IndexOf(' ');
        string device = sp < 0 ? s : s[..sp];
        int?[] limits = new int?[2];
        if (sp >= 0)
        {
            foreach (var token in s[(sp + 1)..].Split(' '))
            {
                int eq = token.IndexOf('=');
                if (eq < 0)
                    return Parsed<RdmaMaxCommand>.Fail(Errno.EINVAL);
                var key = LegacyKey.TryParse(token[..eq]);
                var value = LegacyValue(token[(eq + 1)..]);
                if (!key.WasSuccessful || value is null)
                    return Parsed<RdmaMaxCommand>.Fail(Errno.EINVAL);
                limits[(int)key.Value] = value;
            }
        }
        return Parsed<RdmaMaxCommand>.Of(new RdmaMaxCommand(device, limits[0], limits[1]));
    }

    private static readonly Parser<RdmaResource> LegacyKey =
        RdmaResources.Parser.End();

    /// <summary>simple_strtol: an optional '-', base-0 digits, the rest ignored; a lone '-' is 0.</summary>
    private static readonly Parser<long?> LegacyNumber =
        from minus in Parse.Char('-').Optional()
        from digits in KernelText.Digits.Optional()
        from rest in KernelText.Rest
        select !minus.IsDefined && !digits.IsDefined
            ? null
            : (long?)unchecked((long)(minus.IsDefined ? 0UL - Wrap(digits) : Wrap(digits)));

    private static int? LegacyValue(string value)
    {
        if (value.Length <= MaxValueLength && LegacyNumber.TryParse(value) is { WasSuccessful: true, Value: { } n })
            return n is >= 0 and <= int.MaxValue ? (int)n : null;
        return "max".StartsWith(value, StringComparison.Ordinal) ? int.MaxValue : null;
    }

    private static readonly Parser<long?> Delta =
        from sign in Parse.Chars('+', '-')
        from digits in KernelText.Digits
        from end in Parse.AnyChar.Not()
        let v = KernelText.Accumulate(digits.Radix, digits.Digits)
        select v.Overflow || v.Value > int.MaxValue ? null : (long?)(sign == '-' ? -(long)v.Value : (long)v.Value);

    /// <summary>"DEV hca_handle=+N hca_object=-M": explicit signs, same layout as rdma.max.</summary>
    public static Parsed<RdmaDeltaCommand> CurrentDelta(string buffer, IReadOnlySet<string>? extraKeys = null)
    {
        var (device, tokens) = Split(buffer);
        return tokens.Length > 0 && Tokens(tokens, Delta, extraKeys, out var extra) is { } deltas
            ? Parsed<RdmaDeltaCommand>.Of(new RdmaDeltaCommand(device, deltas[0] ?? 0, deltas[1] ?? 0, extra))
            : Parsed<RdmaDeltaCommand>.Fail(Errno.EINVAL);
    }
}
