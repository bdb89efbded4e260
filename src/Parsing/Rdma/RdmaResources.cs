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

    /// <summary>Exactly one resource name.</summary>
    public static readonly Parser<RdmaResource> Parser =
        Parse.String(Names[0]).Return(RdmaResource.HcaHandle).Or(Parse.String(Names[1]).Return(RdmaResource.HcaObject));
}
