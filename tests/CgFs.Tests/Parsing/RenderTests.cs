using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Tests.Parsing;

/// <summary>The renderers' exact bytes (spec core.md 3, rdma.md 2, misc.md 2).</summary>
public sealed class RenderTests
{
    [Test]
    public void CoreFiles()
    {
        Assert.Multiple(() =>
        {
            Assert.That(CoreRender.ControllerList([]), Is.EqualTo(""));
            Assert.That(CoreRender.ControllerList(["rdma", "misc"]), Is.EqualTo("rdma misc\n"));
            Assert.That(CoreRender.Type(CgroupType.DomainThreaded), Is.EqualTo("domain threaded\n"));
            Assert.That(CoreRender.Events(true, false), Is.EqualTo("populated 1\nfrozen 0\n"));
            Assert.That(CoreRender.Limit(int.MaxValue), Is.EqualTo("max\n"));
            Assert.That(CoreRender.Limit(0), Is.EqualTo("0\n"));
            Assert.That(CoreRender.Ids([]), Is.EqualTo(""));
            Assert.That(CoreRender.Ids([1, 42]), Is.EqualTo("1\n42\n"));
            Assert.That(CoreRender.Stat(new CoreSnapshot(new(3), ControllerMask.None, CgroupType.Domain, false, false, false,
                    int.MaxValue, int.MaxValue, 3, 1, [("rdma", 2), ("misc", 1)], [("rdma", 1), ("misc", 0)], 0)),
                Is.EqualTo("nr_descendants 3\nnr_subsys_rdma 2\nnr_subsys_misc 1\nnr_dying_descendants 1\nnr_dying_subsys_rdma 1\nnr_dying_subsys_misc 0\n"));
        });
    }

    private static RdmaRow Row(string dev, int h, int o) =>
        new(dev, [h, o], [h, o], [h, o], [1, 2], [3, 4], [5, 6], [7, 8]);

    [Test]
    public void RdmaFilesEndLinesLikeTheKernel()
    {
        var rows = new[] { Row("mlx5_0", int.MaxValue, 10), Row("rxe0", 0, int.MaxValue) };
        Assert.Multiple(() =>
        {
            Assert.That(RdmaRender.Max(rows), Is.EqualTo("mlx5_0 hca_handle=max hca_object=10 \nrxe0 hca_handle=0 hca_object=max \n"));
            Assert.That(RdmaRender.Events(rows), Is.EqualTo(
                "mlx5_0 hca_handle.max=1 hca_handle.alloc_fail=3 hca_object.max=2 hca_object.alloc_fail=4\n" +
                "rxe0 hca_handle.max=1 hca_handle.alloc_fail=3 hca_object.max=2 hca_object.alloc_fail=4\n"));
            Assert.That(RdmaRender.EventsLocal(rows[..1]), Is.EqualTo("mlx5_0 hca_handle.max=5 hca_handle.alloc_fail=7 hca_object.max=6 hca_object.alloc_fail=8\n"));
            Assert.That(RdmaRender.Current([]), Is.EqualTo(""), "no devices: 0 bytes");
        });
    }

    [Test]
    public void MiscListingRules()
    {
        var rows = new[]
        {
            new MiscRow("sev", 10, ulong.MaxValue, 3, 4, 0, 0),
            new MiscRow("sev_es", 0, 5, 0, 2, 1, 0),   // capacity 0: only non-zero values are listed
            new MiscRow("tdx", 4, 7, 0, 0, 0, 0),
        };
        Assert.Multiple(() =>
        {
            Assert.That(MiscRender.Capacity(rows), Is.EqualTo("sev 10\ntdx 4\n"));
            Assert.That(MiscRender.Max(rows), Is.EqualTo("sev max\ntdx 7\n"));
            Assert.That(MiscRender.Current(rows), Is.EqualTo("sev 3\ntdx 0\n"));
            Assert.That(MiscRender.Peak(rows), Is.EqualTo("sev 4\nsev_es 2\ntdx 0\n"));
            Assert.That(MiscRender.Events(rows), Is.EqualTo("sev.max 0\nsev_es.max 1\ntdx.max 0\n"));
            Assert.That(MiscRender.EventsLocal(rows), Is.EqualTo("sev.max 0\ntdx.max 0\n"));
            Assert.That(MiscRender.Current([new MiscRow("sev", 0, ulong.MaxValue, 0, 0, 0, 0)]), Is.EqualTo(""));
        });
    }
}
