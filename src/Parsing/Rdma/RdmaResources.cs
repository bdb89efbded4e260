using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>The one table of rdma resource names (kernel: rdmacg_resource_names), indexed by
/// <see cref="RdmaResource"/>: used by the rdma.* grammar and renderers, the control protocol,
/// `cgfs hold` and the journal.</summary>
public static class RdmaResources
{
    public static readonly string[] Names = ["hca_handle", "hca_object"];

    public static string Name(RdmaResource r) => Names[(int)r];

    public static RdmaResource? Find(string name) => Array.IndexOf(Names, name) is var i and >= 0 ? (RdmaResource)i : null;

    /// <summary>The names of a device's resources: the kernel's two, then its vendor-defined ones.</summary>
    public static IReadOnlyList<string> Of(IReadOnlyList<string>? extra) => extra is { Count: > 0 } ? [.. Names, .. extra] : Names;

    /// <summary>A vendor-defined resource name: [a-z][a-z0-9_]*.</summary>
    public static readonly Parser<string> VendorName =
        from first in Parse.Char(c => c is >= 'a' and <= 'z', "a-z")
        from rest in Parse.Char(c => c is >= 'a' and <= 'z' or >= '0' and <= '9' or '_', "a-z0-9_").Many().Text()
        select first + rest;

    /// <summary>Why a device's vendor-defined resources cannot be declared, or null: each a valid name,
    /// none the kernel's, no repeats, at most 64 resources per device in all.</summary>
    public static string? Invalid(IReadOnlyList<string> extra)
    {
        foreach (var n in extra)
            if (!VendorName.End().TryParse(n).WasSuccessful)
                return $"'{n}' is not a resource name ([a-z][a-z0-9_]*)";
            else if (Names.Contains(n))
                return $"'{n}' is a resource of every device already";
        if (extra.Distinct().Count() != extra.Count)
            return "a resource is named twice";
        return extra.Count + Names.Length > 64 ? "at most 64 resources per device" : null;
    }

    /// <summary>Exactly one resource name.</summary>
    public static readonly Parser<RdmaResource> Parser =
        Parse.String(Names[0]).Return(RdmaResource.HcaHandle).Or(Parse.String(Names[1]).Return(RdmaResource.HcaObject));
}
