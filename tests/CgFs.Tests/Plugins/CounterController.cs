using CgFs.Accounting;
using CgFs.Parsing;
using CgFs.Tree;
using Sprache;

namespace CgFs.Tests.Plugins;

/// <summary>
/// A controller defined only here, to prove the plug-in point: a hierarchical counter with a
/// limit per cgroup (counter.max) and usage (counter.current, charged by writing "+N" or "-N"
/// to it, like cgfs's shortcut files). Nothing in src/ knows it.
/// </summary>
public sealed class CounterController() : Controller("counter")
{
    protected internal override ControllerState NewStateLocked(Cgroup cgroup, ControllerState? parent) => new CounterState(this, cgroup, parent);

    /// <summary>Charges every level up to the root or none: EBUSY where a limit would be exceeded.</summary>
    public Errno ChargeLocked(CounterState s, long n)
    {
        for (ControllerState? l = s; l is not null; l = l.Parent)
            if (((CounterState)l).Usage + n > ((CounterState)l).Max)
                return Errno.EBUSY;
        for (ControllerState? l = s; l is not null; l = l.Parent)
            ((CounterState)l).Usage += n;
        s.Held += n;
        return Errno.Ok;
    }

    public Errno UnchargeLocked(CounterState s, long n)
    {
        if (n > s.Held)
            return Errno.EINVAL;
        s.Held -= n;
        for (ControllerState? l = s; l is not null; l = l.Parent)
        {
            ((CounterState)l).Usage -= n;
            Hierarchy.ReleaseIfDeadLocked(l);
        }
        return Errno.Ok;
    }
}

public sealed class CounterState(CounterController c, Cgroup cgroup, ControllerState? parent) : ControllerState(c, cgroup, parent)
{
    public long Max = long.MaxValue;
    public long Usage;
    /// <summary>Charged here by writes to this very state's counter.current.</summary>
    public long Held;

    protected internal override bool HasUsageLocked => Usage != 0;
    protected internal override void OfflineLocked() => Max = long.MaxValue;
    protected internal override void ReleaseLocked() { }
}

/// <summary>The counter's files, grammar and journal contribution.</summary>
public sealed class CounterPlugin : ControllerPlugin
{
    private readonly CounterController _counter = new();

    private static readonly Parser<long> Limit =
        Parse.String("max").Return(long.MaxValue).Or(Parse.Number.Where(n => long.TryParse(n, out _)).Select(long.Parse)).Token().End();

    private static readonly Parser<long> Delta =
        from sign in Parse.Chars('+', '-')
        from n in Parse.Number.Where(d => long.TryParse(d, out _)).Select(long.Parse)
        from end in Parse.WhiteSpace.Many().End()
        select sign == '+' ? n : -n;

    public CounterPlugin()
    {
        Files =
        [
            new("counter.max", InterfaceFile.ReadWrite, Placement.NotOnRoot, _counter, Render: ReadMax, Write: WriteMax),
            new("counter.current", InterfaceFile.ReadOnly, Placement.Everywhere, _counter, Render: ReadCurrent, Write: WriteCurrent),
        ];
    }

    public override Controller Controller => _counter;
    public override IReadOnlyList<InterfaceFile> Files { get; }

    private static CounterState State(FileContext x) => (CounterState)x.State!;

    private Rendered ReadMax(FileContext x) => x.Engine.Run(() => State(x).Max == long.MaxValue ? "max\n" : $"{State(x).Max}\n");
    private Rendered ReadCurrent(FileContext x) => x.Engine.Run(() => $"{State(x).Usage}\n");

    private Errno WriteMax(FileContext x, string text)
    {
        var p = Limit.TryParse(text);
        if (!p.WasSuccessful)
            return Errno.EINVAL;
        return x.Engine.Run(() => { State(x).Max = p.Value; return Errno.Ok; });
    }

    private Errno WriteCurrent(FileContext x, string text)
    {
        var p = Delta.TryParse(text);
        if (!p.WasSuccessful)
            return Errno.EINVAL;
        return x.Engine.Run(() => p.Value >= 0 ? _counter.ChargeLocked(State(x), p.Value) : _counter.UnchargeLocked(State(x), -p.Value));
    }

    public override IEnumerable<(string File, string Text)> LimitsLocked(ControllerState state) =>
        ((CounterState)state).Max == long.MaxValue ? [] : [("counter.max", $"{((CounterState)state).Max}\n")];

    public override IEnumerable<(string File, string Text)> HoldingsLocked(ControllerState state) =>
        ((CounterState)state).Held == 0 ? [] : [("counter.current", $"+{((CounterState)state).Held}")];

    public override IEnumerable<string> StatusLocked() =>
        [$"counter current={((CounterState)_counter.Hierarchy.StateLocked(_counter.Hierarchy.Root, _counter)!).Usage}"];
}
