using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>A request on the control socket (protocol version 1, one line each). <see cref="Format"/>
/// writes the line <see cref="ControlGrammar.Line"/> parses back (clients and the journal use it).</summary>
public abstract record ControlCommand
{
    public abstract string Format();
}

/// <summary>Registers a device; <see cref="Resources"/>: its vendor-defined resources, comma-separated
/// (an extension; null: the kernel's two only).</summary>
public sealed record DeviceAdd(string Name, string? Resources = null) : ControlCommand
{
    public override string Format() => $"device add {Name}" + (Resources is null ? "" : $" resources={Resources}");

    public IReadOnlyList<string> ExtraResources => Resources?.Split(',') ?? [];
}

public sealed record DeviceRemove(string Name) : ControlCommand
{
    public override string Format() => $"device remove {Name}";
}

/// <summary>The RDMA core renamed a device (`rdma dev set OLD name NEW`, ib_device_rename): its line
/// keeps its place and its state, and shows the new name.</summary>
public sealed record DeviceRename(string Old, string New) : ControlCommand
{
    public override string Format() => $"device rename {Old} {New}";
}

public sealed record DeviceList : ControlCommand
{
    public override string Format() => "device list";
}

public sealed record MiscCapacity(string Name, ulong Capacity, bool? Follow) : ControlCommand
{
    public override string Format() => $"misc capacity {Name} {Capacity}" + Follow switch { true => " follow", false => " nofollow", null => "" };
}

public sealed record MiscRemove(string Name) : ControlCommand
{
    public override string Format() => $"misc remove {Name}";
}

public sealed record Status : ControlCommand
{
    public override string Format() => "status";
}

public sealed record Memory : ControlCommand
{
    public override string Format() => "memory";
}

/// <summary>The Prometheus text exposition, as `/metrics` serves it (`cgfs metrics`).</summary>
public sealed record MetricsText : ControlCommand
{
    public override string Format() => "metrics";
}

/// <summary>`cgfs exec` hands over its seccomp listener: the server answers "send", the client passes
/// the descriptor (SCM_RIGHTS), the server answers ok once it supervises it.</summary>
public sealed record Supervise : ControlCommand
{
    public override string Format() => "supervise";
}

/// <summary>A charge of a resource by name: hca_handle, hca_object or one the device declared.</summary>
public sealed record ChargeRdma(string Device, string Resource, int Amount) : ControlCommand
{
    public override string Format() => $"charge rdma {Device} {Resource} {Amount}";
}

public sealed record ChargeMisc(string Name, ulong Amount) : ControlCommand
{
    public override string Format() => $"charge misc {Name} {Amount}";
}

public sealed record Uncharge(long Id) : ControlCommand
{
    public override string Format() => $"uncharge {Id}";
}

/// <summary>
/// The control protocol, version 1. The server greets with <c>cgfs-control 1</c>; each request is
/// one line; each reply is zero or more data lines, then <c>ok [VALUE]</c> or
/// <c>error ERRNO MESSAGE</c>.
/// <code>
/// device add NAME [resources=R,R...] | device remove NAME | device rename OLD NEW | device list
/// misc capacity NAME N [follow|nofollow] | misc remove NAME
/// status | memory | metrics | supervise
/// charge rdma DEVICE RESOURCE N | charge misc NAME N | uncharge ID
/// </code>
/// </summary>
public static class ControlGrammar
{
    public const int Version = 1;
    public const string Greeting = "cgfs-control 1";

    private static readonly Parser<string> Sp = Parse.Char(' ').AtLeastOnce().Text();
    private static readonly Parser<string> Name = Parse.Char(c => c > ' ' && c != '\u007f', "name").AtLeastOnce().Text();
    private static readonly Parser<ulong> U64 = Parse.Digit.AtLeastOnce().Text()
        .Where(d => ulong.TryParse(d, out _)).Select(ulong.Parse);

    private static Parser<string> Word(string w) => Parse.String(w).Text().Then(_ => Sp.Return(w));

    /// <summary>"qp,mr,uar": vendor-defined resource names.</summary>
    private static readonly Parser<string> ResourceList =
        RdmaResources.VendorName.DelimitedBy(Parse.Char(',')).Select(names => string.Join(',', names));

    private static readonly Parser<ControlCommand> Device =
        from k in Word("device")
        from c in (from a in Word("add")
                   from n in Name
                   from r in Sp.Then(_ => Parse.String("resources=")).Then(_ => ResourceList).Optional()
                   select (ControlCommand)new DeviceAdd(n, r.GetOrDefault()))
            .Or(Word("remove").Then(_ => Name).Select(n => (ControlCommand)new DeviceRemove(n)))
            .Or(from r in Word("rename")
                from old in Name
                from now in Sp.Then(_ => Name)
                select (ControlCommand)new DeviceRename(old, now))
            .Or(Parse.String("list").Return((ControlCommand)new DeviceList()))
        select c;

    private static readonly Parser<ControlCommand> Misc =
        from k in Word("misc")
        from c in (from cap in Word("capacity")
                   from name in Name
                   from n in Sp.Then(_ => U64)
                   from f in Sp.Then(_ => Parse.String("follow").Return(true).Or(Parse.String("nofollow").Return(false))).Optional()
                   select (ControlCommand)new MiscCapacity(name, n, f.IsDefined ? f.Get() : null))
            .Or(Word("remove").Then(_ => Name).Select(n => (ControlCommand)new MiscRemove(n)))
        select c;

    private static readonly Parser<ControlCommand> Charge =
        from k in Word("charge")
        from c in (from r in Word("rdma")
                   from dev in Name
                   from res in Sp.Then(_ => RdmaResources.VendorName)
                   from n in Sp.Then(_ => U64).Where(n => n is > 0 and <= int.MaxValue)
                   select (ControlCommand)new ChargeRdma(dev, res, (int)n))
            .Or(from m in Word("misc")
                from name in Name
                from n in Sp.Then(_ => U64)
                select (ControlCommand)new ChargeMisc(name, n))
        select c;

    private static readonly Parser<ControlCommand> Command =
        Device.Or(Misc).Or(Charge)
            .Or(Word("uncharge").Then(_ => U64).Select(id => (ControlCommand)new Uncharge((long)id)))
            .Or(Parse.String("status").Return((ControlCommand)new Status()))
            .Or(Parse.String("memory").Return((ControlCommand)new Memory()))
            .Or(Parse.String("metrics").Return((ControlCommand)new MetricsText()))
            .Or(Parse.String("supervise").Return((ControlCommand)new Supervise()));

    /// <summary>One request line (without its newline); trailing spaces are tolerated.</summary>
    public static Parsed<ControlCommand> Line(string line)
    {
        var r = Command.End().TryParse(line.TrimEnd(' ', '\r'));
        return r.WasSuccessful ? Parsed<ControlCommand>.Of(r.Value) : Parsed<ControlCommand>.Fail(Errno.EINVAL);
    }

    /// <summary>A reply's last line: "ok [value]" or "error ERRNO message".</summary>
    public static (bool Final, Errno Error, string Text) Reply(string line)
    {
        if (line == "ok" || line.StartsWith("ok ", StringComparison.Ordinal))
            return (true, Errno.Ok, line.Length > 3 ? line[3..] : "");
        if (line.StartsWith("error ", StringComparison.Ordinal))
        {
            var parts = line.Split(' ', 3);
            var e = Enum.TryParse<Errno>(parts.ElementAtOrDefault(1), out var errno) ? errno : Errno.EIO;
            return (true, e, parts.ElementAtOrDefault(2) ?? "");
        }
        return (false, Errno.Ok, line);
    }
}
