using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>One line of a cgfs configuration file or one --misc/--rdma-device option: the control
/// request it stands for (<see cref="AsCommand"/>), applied like `cgfs ctl` would.</summary>
public abstract record ConfigEntry
{
    /// <param name="name">Converts a name as given (UTF-8 argv or file text) to the kernel's bytes.</param>
    public abstract ControlCommand AsCommand(Func<string, string> name);
}

/// <summary>A device; <see cref="Resources"/>: its vendor-defined resources ("qp,mr"), or null.</summary>
public sealed record RdmaDeviceEntry(string Name, string? Resources = null) : ConfigEntry
{
    public override ControlCommand AsCommand(Func<string, string> name) => new DeviceAdd(name(Name), Resources);
}

/// <summary>A capacity; "follow" makes the type's charges move with their process (not given: unchanged).</summary>
public sealed record MiscEntry(string Name, ulong Capacity, bool Follow) : ConfigEntry
{
    public override ControlCommand AsCommand(Func<string, string> name) => new MiscCapacity(name(Name), Capacity, Follow ? true : null);
}

/// <summary>
/// The configuration file format (documented in the README):
/// <code>
/// # comment
/// rdma-device mlx5_0        (registration order = file order)
/// rdma-device mlx5_1 resources=qp,mr   (vendor-defined resources after hca_handle, hca_object)
/// misc sev 509              (capacity; an unknown name registers a new type)
/// misc ioasid 64 follow     (a process-tied type whose charges move with the process)
/// </code>
/// </summary>
public static class ConfigGrammar
{
    private static readonly Parser<string> Word = Parse.Char(c => !char.IsWhiteSpace(c), "non-space").AtLeastOnce().Text();
    private static readonly Parser<string> Gap = Parse.Chars(' ', '\t').AtLeastOnce().Text();
    /// <summary>A capacity: decimal digits that fit in 64 bits (more is a parse error, never an exception).</summary>
    private static readonly Parser<ulong> Capacity = Parse.Digit.AtLeastOnce().Text()
        .Where(d => ulong.TryParse(d, out _)).Select(ulong.Parse);

    private static readonly Parser<ConfigEntry> Device =
        from k in Parse.String("rdma-device").Then(_ => Gap)
        from name in Word
        from resources in Gap.Then(_ => Parse.String("resources=")).Then(_ =>
            RdmaResources.VendorName.DelimitedBy(Parse.Char(',')).Select(n => string.Join(',', n))).Optional()
        select (ConfigEntry)new RdmaDeviceEntry(name, resources.GetOrDefault());

    private static readonly Parser<ConfigEntry> Misc =
        from k in Parse.String("misc").Then(_ => Gap)
        from name in Word
        from g in Gap
        from cap in Capacity
        from follow in Gap.Then(_ => Parse.String("follow")).Optional()
        select (ConfigEntry)new MiscEntry(name, cap, follow.IsDefined);

    private static readonly Parser<ConfigEntry?> Line =
        from lead in Parse.Chars(' ', '\t').Many()
        from entry in Device.Or(Misc).Optional()
        from trail in Parse.Chars(' ', '\t').Many()
        from comment in Parse.Char('#').Then(_ => Parse.AnyChar.Many()).Optional()
        from end in Parse.LineEnd.Or(Parse.Return("").End())
        select entry.GetOrDefault();

    /// <summary>Parses a whole file; the error names the first bad line.</summary>
    public static (List<ConfigEntry> Entries, string? Error) File(string text)
    {
        var entries = new List<ConfigEntry>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var r = Line.End().TryParse(lines[i].TrimEnd('\r'));
            if (!r.WasSuccessful)
                return (entries, $"line {i + 1}: cannot parse \"{lines[i]}\"");
            if (r.Value is { } e)
                entries.Add(e);
        }
        return (entries, null);
    }

    /// <summary>--misc NAME=CAPACITY[,follow]</summary>
    public static Parsed<MiscEntry> MiscOption(string s)
    {
        var p = from name in Parse.Char(c => c != '=' && !char.IsWhiteSpace(c), "name").AtLeastOnce().Text()
                from eq in Parse.Char('=')
                from cap in Capacity
                from follow in Parse.String(",follow").Optional()
                select new MiscEntry(name, cap, follow.IsDefined);
        var r = p.End().TryParse(s);
        return r.WasSuccessful ? Parsed<MiscEntry>.Of(r.Value) : Parsed<MiscEntry>.Fail(Errno.EINVAL);
    }
}
