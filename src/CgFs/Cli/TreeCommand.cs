using Spectre.Console;
using Spectre.Console.Rendering;

namespace CgFs.Cli;

/// <summary>
/// cgfs tree / cgfs top: the hierarchy under a cgroup2 directory (a cgfs mount, or the kernel's
/// own) as a tree, with per cgroup its processes and every rdma and misc resource that is limited
/// or in use as a bar against its limit. Read from the files, as any tool would (so it needs no
/// control socket and works on the kernel's cgroup2 too). Rendered with Spectre.Console: colour
/// and box-drawing on a terminal, plain ASCII when piped; `top` redraws every second until q or Ctrl-C.
/// </summary>
public static class TreeCommand
{
    public const string Usage = """
        Usage: cgfs tree [DIR]      print the hierarchy under DIR (default: the current directory)
               cgfs top [DIR]       the same, redrawn every second until q or Ctrl-C

        Per cgroup: its processes (cgroup.procs) and each rdma device/resource and misc type that
        has a limit or usage, as a bar of usage against the limit ("max": no bar). Colour on a
        terminal (green, yellow from 70 %, red from 90 %); plain text when piped.
        """;

    public static int Run(string[] args, bool live)
    {
        if (args.Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (args.Length > 1)
            throw new CliException($"unexpected argument '{args[1]}'\n\n{Usage}");
        var dir = Path.GetFullPath(args.Length == 1 ? args[0] : ".");
        if (!File.Exists(Path.Combine(dir, "cgroup.procs")))
            throw new CliException($"{dir} is not a cgroup v2 directory (no cgroup.procs)");
        var console = MakeConsole();
        if (!live)
        {
            console.Write(Render(dir, console, clock: false));
            return 0;
        }
        if (Console.IsInputRedirected || Console.IsOutputRedirected)
            throw new CliException("cgfs top needs a terminal (use cgfs tree when piping)");
        return Top(dir, console);
    }

    /// <summary>Piped: no colour, ASCII guides, no wrapping (lines as long as they are).</summary>
    private static IAnsiConsole MakeConsole()
    {
        bool piped = Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = piped ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = piped ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (piped)
            console.Profile.Width = 4096;
        return console;
    }

    private static int Top(string dir, IAnsiConsole console)
    {
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        console.Live(Render(dir, console, clock: true)).Start(ctx =>
        {
            while (!stop.IsCancellationRequested)
            {
                for (int i = 0; i < 10 && !stop.IsCancellationRequested; i++)
                {
                    if (Console.KeyAvailable && Console.ReadKey(intercept: true).KeyChar is 'q' or 'Q')
                        stop.Cancel();
                    else
                        Thread.Sleep(100);
                }
                if (!stop.IsCancellationRequested)
                {
                    ctx.UpdateTarget(Render(dir, console, clock: true));
                    ctx.Refresh();
                }
            }
        });
        return 0;
    }

    private static IRenderable Render(string dir, IAnsiConsole console, bool clock)
    {
        var root = CgroupUsage.Read(dir, "/");
        var tree = new Spectre.Console.Tree(Label(root)) { Guide = console.Profile.Capabilities.Unicode && !Console.IsOutputRedirected ? TreeGuide.Line : TreeGuide.Ascii };
        Add(tree, root);
        return clock ? new Rows(tree, new Text($"{DateTime.Now:HH:mm:ss}  {dir}  (q quits)")) : tree;
    }

    private static void Add(IHasTreeNodes parent, CgroupUsage c)
    {
        foreach (var r in c.Resources)
            parent.AddNode(Bar(r));
        foreach (var child in c.Children)
            Add(parent.AddNode(Label(child)), child);
    }

    private static string Label(CgroupUsage c) =>
        $"[bold]{Markup.Escape(c.Name)}[/] [grey]{c.Processes} {(c.Processes == 1 ? "process" : "processes")}[/]";

    private const int BarCells = 20;

    private static Markup Bar(ResourceUsage r)
    {
        string name = Markup.Escape($"{r.Controller} {r.Name}").PadRight(28);
        if (r.Limit is not { } limit)
            return new Markup($"{name} {"".PadRight(BarCells + 2)} {r.Usage}/max");
        double ratio = limit == 0 ? (r.Usage > 0 ? 1 : 0) : Math.Min(1.0, r.Usage / (double)limit);
        int filled = (int)Math.Round(ratio * BarCells);
        string colour = ratio >= 0.9 ? "red" : ratio >= 0.7 ? "yellow" : "green";
        return new Markup($"{name} [[[{colour}]{new string('#', filled)}[/]{new string('.', BarCells - filled)}]] {r.Usage}/{limit}");
    }
}
