using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Benchmarks;

/// <summary>
/// Hierarchical rdma charge + uncharge under the engine lock, from a cgroup at depth 1, 8 and 32,
/// with 1 and 64 registered devices. Depth 1 is the baseline: the Ratio column is the cost of depth.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class RdmaChargeBenchmarks
{
    private Hierarchy _h = null!;
    private RdmaController _rdma = null!;
    private RdmaDevice _device = null!;
    private RdmaState _d1 = null!, _d8 = null!, _d32 = null!;

    [Params(1, 64)]
    public int Devices;

    [GlobalSetup]
    public void Setup()
    {
        _rdma = new RdmaController();
        _h = new Hierarchy([_rdma, new MiscController()]);
        lock (_h.Sync)
        {
            for (int i = 0; i < Devices; i++)
                _device = _rdma.RegisterLocked($"mlx5_{i}");
            var c = _h.Root;
            _h.WriteSubtreeControlLocked(c, _rdma.Mask, ControllerMask.None);
            for (int level = 1; level <= 32; level++)
            {
                _h.MkdirLocked(c, $"l{level}", out var child);
                c = child!;
                _h.WriteSubtreeControlLocked(c, _rdma.Mask, ControllerMask.None);
                var state = (RdmaState)_h.StateLocked(c, _rdma)!;
                if (level == 1) _d1 = state;
                if (level == 8) _d8 = state;
                if (level == 32) _d32 = state;
            }
        }
    }

    private void ChargeUncharge(RdmaState s)
    {
        lock (_h.Sync)
        {
            _rdma.TryChargeLocked(s, _device, RdmaResource.HcaObject, 1, out var charge);
            charge!.UnchargeLocked();
        }
    }

    [Benchmark(Baseline = true)]
    public void Depth1() => ChargeUncharge(_d1);

    [Benchmark]
    public void Depth8() => ChargeUncharge(_d8);

    [Benchmark]
    public void Depth32() => ChargeUncharge(_d32);
}

/// <summary>Parsing and rendering a limit line: the per-write and per-read CPU cost of the text layer.
/// The misc.max parse is the baseline.</summary>
[ShortRunJob]
[MemoryDiagnoser]
public class GrammarBenchmarks
{
    private static readonly Controller[] Registered = new Hierarchy([new RdmaController(), new MiscController()]).Controllers.ToArray();

    private static readonly RdmaRow[] Rows = Enumerable.Range(0, 4).Select(i =>
        new RdmaRow($"mlx5_{i}", [int.MaxValue, 10], [1, 2], [3, 4], [0, 0], [0, 0], [0, 0], [0, 0])).ToArray();

    [Benchmark(Baseline = true)]
    public Parsed<MiscMaxCommand> MiscMax() => MiscGrammar.Max("sev 23\n", n => n == "sev");

    [Benchmark]
    public Parsed<RdmaMaxCommand> RdmaMax() => RdmaGrammar.Max("mlx5_0 hca_handle=2 hca_object=max\n");

    [Benchmark]
    public Parsed<SubtreeControlCommand> SubtreeControl() => CoreGrammar.SubtreeControl("+rdma -misc\n", Registered);

    [Benchmark]
    public string RenderRdmaMax() => RdmaRender.Max(Rows);
}

public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
