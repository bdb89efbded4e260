using System.Text;
using Sprache;

namespace CgFs.Parsing;

/// <summary>
/// The kernel's text primitives. Strings here carry bytes one-to-one (Latin-1), so what the
/// user wrote is what the grammar sees, byte for byte.
/// </summary>
public static class KernelText
{
    public static readonly Encoding Bytes = Encoding.Latin1;

    /// <summary>The kernel's isspace: space, \t, \n, \v, \f, \r and 0xA0.</summary>
    public static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r' or '\u00a0';

    /// <summary>STRIP (kernel strstrip): leading and trailing isspace bytes removed.</summary>
    public static string Strip(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsSpace(s[start]))
            start++;
        while (end > start && IsSpace(s[end - 1]))
            end--;
        return s[start..end];
    }

    /// <summary>A parsed kernel integer before range checks: sign, magnitude, whether the digits
    /// overflowed 64 bits, and the unconsumed rest.</summary>
    public readonly record struct RawNumber(bool Negative, ulong Magnitude, bool Overflow, string Rest);

    /// <summary>A run of characters accepted by <paramref name="accept"/> (at least <paramref name="min"/>),
    /// taken in one step: Sprache's per-character Many() allocates a list node per character.</summary>
    internal static Parser<string> Run(Func<char, bool> accept, int min) => input =>
    {
        string s = input.Source;
        int start = input.Position, end = start;
        while (end < s.Length && accept(s[end]))
            end++;
        return end - start >= min
            ? Result.Success(s[start..end], (IInput)new At(s, end, input.Line, input.Column + end - start))
            : Result.Failure<string>(input, "digits", ["digit"]);
    };

    /// <summary>A position in the input (Sprache's own Input cannot be created at a position).</summary>
    private sealed class At(string source, int position, int line, int column) : IInput
    {
        private IDictionary<object, object>? _memos;

        public IInput Advance() => AtEnd ? throw new InvalidOperationException("at the end of the input")
            : Current == '\n' ? new At(source, position + 1, line + 1, 1) : new At(source, position + 1, line, column + 1);

        public string Source => source;
        public char Current => source[position];
        public bool AtEnd => position == source.Length;
        public int Position => position;
        public int Line => line;
        public int Column => column;
        public IDictionary<object, object> Memos => _memos ??= new Dictionary<object, object>();
        public bool Equals(IInput? other) => other is not null && other.Source == source && other.Position == position;
        public override bool Equals(object? obj) => obj is IInput i && Equals(i);
        public override int GetHashCode() => HashCode.Combine(source, position);
    }

    /// <summary>The rest of the input, whatever it is.</summary>
    internal static readonly Parser<string> Rest = Run(_ => true, 0);

    private static bool IsHex(char c) => c is >= '0' and <= '9' or >= 'a' and <= 'f' or >= 'A' and <= 'F';

    /// <summary>Base 0 digits (kernel _parse_integer_fixup_radix): 0x + hex digit → hex, leading 0 → octal, else decimal.</summary>
    internal static readonly Parser<(int Radix, string Digits)> Digits =
        (from prefix in Parse.Char('0').Then(_ => Parse.Chars('x', 'X'))
         from d in Run(IsHex, 1)
         select (16, d))
        .Or(from zero in Parse.Char('0')
            from d in Run(c => c is >= '0' and <= '7', 0)
            select (8, "0" + d))
        .Or(from d in Run(char.IsAsciiDigit, 1)
            select (10, d));

    private static readonly Parser<RawNumber> Signed =
        from sign in Parse.Chars('+', '-').Optional()
        from n in Digits
        from rest in Rest
        let v = Accumulate(n.Radix, n.Digits)
        select new RawNumber(sign.IsDefined && sign.Get() == '-', v.Value, v.Overflow, rest);

    /// <summary>Digits to a value; <c>Overflow</c> when it does not fit in 64 bits (kernel KSTRTOX_OVERFLOW).</summary>
    internal static (ulong Value, bool Overflow) Accumulate(int radix, string digits)
    {
        ulong acc = 0;
        bool overflow = false;
        foreach (char ch in digits)
        {
            uint d = (uint)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
            if (acc > (ulong.MaxValue - d) / (ulong)radix)
                overflow = true;
            acc = unchecked(acc * (ulong)radix + d);
        }
        return (acc, overflow);
    }

    /// <summary>The number's own errors in the kernel's order: no digits → EINVAL, overflow →
    /// ERANGE (even before trailing junk), junk other than one final \n → EINVAL.</summary>
    private static Parsed<RawNumber> Number(string s, bool allowMinus)
    {
        var r = Signed.TryParse(s);
        if (!r.WasSuccessful)
            return Parsed<RawNumber>.Fail(Accounting.Errno.EINVAL);
        var n = r.Value;
        if (n.Negative && !allowMinus)
            return Parsed<RawNumber>.Fail(Accounting.Errno.EINVAL);
        if (n.Overflow)
            return Parsed<RawNumber>.Fail(Accounting.Errno.ERANGE);
        if (n.Rest is not ("" or "\n"))
            return Parsed<RawNumber>.Fail(Accounting.Errno.EINVAL);
        return Parsed<RawNumber>.Of(n);
    }

    /// <summary>KINT: kstrtoint(s, 0).</summary>
    public static Parsed<int> KInt(string s)
    {
        var n = Number(s, allowMinus: true);
        if (!n.Ok)
            return Parsed<int>.Fail(n.Error);
        var (neg, mag, _, _) = n.Value;
        if (neg ? mag > 1UL << 31 : mag > int.MaxValue)
            return Parsed<int>.Fail(Accounting.Errno.ERANGE);
        return Parsed<int>.Of(neg ? (int)-(long)mag : (int)mag);
    }

    /// <summary>KU64: kstrtou64(s, 0); a minus sign is a syntax error.</summary>
    public static Parsed<ulong> KU64(string s)
    {
        var n = Number(s, allowMinus: false);
        return n.Ok ? Parsed<ulong>.Of(n.Value.Magnitude) : Parsed<ulong>.Fail(n.Error);
    }
}
