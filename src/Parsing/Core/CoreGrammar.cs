using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>cgroup.subtree_control write: controllers to enable and to disable (last mention wins).</summary>
public readonly record struct SubtreeControlCommand(ControllerMask Enable, ControllerMask Disable);

/// <summary>Write grammars of the core cgroup.* files (spec core.md 3), in the kernel's check order.</summary>
public static class CoreGrammar
{
    /// <summary>One token: '+' or '-' then the rest, which must be exactly a registered controller's name.</summary>
    private static readonly Parser<(bool Enable, string Name)> SubtreeToken =
        from op in Parse.Chars('+', '-')
        from name in Parse.AnyChar.AtLeastOnce().Text()
        select (op == '+', name);

    /// <summary>Tokens are separated by the space character only; runs of spaces are skipped, so
    /// tabs and newlines inside make a token invalid (spec core.md 3.2). <paramref name="controllers"/>
    /// are the registered ones: an unknown name is EINVAL.</summary>
    public static Parsed<SubtreeControlCommand> SubtreeControl(string buffer, IReadOnlyList<Controller> controllers)
    {
        ControllerMask enable = ControllerMask.None, disable = ControllerMask.None;
        foreach (var token in KernelText.Strip(buffer).Split(' '))
        {
            if (token.Length == 0)
                continue;
            var r = SubtreeToken.End().TryParse(token);
            var c = r.WasSuccessful ? controllers.FirstOrDefault(x => x.Name == r.Value.Name) : null;
            if (c is null)
                return Parsed<SubtreeControlCommand>.Fail(Errno.EINVAL);
            if (r.Value.Enable)
            {
                enable |= c.Mask;
                disable &= ~c.Mask;
            }
            else
            {
                disable |= c.Mask;
                enable &= ~c.Mask;
            }
        }
        return Parsed<SubtreeControlCommand>.Of(new SubtreeControlCommand(enable, disable));
    }

    /// <summary>cgroup.subtree_control tokens by name, for a file whose controllers are partly the host
    /// kernel's (overlay mode): the same token rules; which names are known is decided later.</summary>
    public static Parsed<List<(bool Enable, string Name)>> SubtreeTokens(string buffer)
    {
        var tokens = new List<(bool, string)>();
        foreach (var token in KernelText.Strip(buffer).Split(' '))
        {
            if (token.Length == 0)
                continue;
            var r = SubtreeToken.End().TryParse(token);
            // No controller's name has a blank or control character: such a token is EINVAL whoever owns it.
            if (!r.WasSuccessful || r.Value.Name.Any(ch => ch <= ' '))
                return Parsed<List<(bool, string)>>.Fail(Errno.EINVAL);
            tokens.Add(r.Value);
        }
        return Parsed<List<(bool, string)>>.Of(tokens);
    }

    /// <summary>cgroup.procs / cgroup.threads: every parse failure and negative value is EINVAL.</summary>
    public static Parsed<int> Pid(string buffer)
    {
        var n = KernelText.KInt(KernelText.Strip(buffer));
        return n.Ok && n.Value >= 0 ? n : Parsed<int>.Fail(Errno.EINVAL);
    }

    private static readonly Parser<string> MaxWord = Parse.String("max").Text().End();

    /// <summary>cgroup.max.depth / cgroup.max.descendants: "max" or KINT; negative → ERANGE.</summary>
    public static Parsed<int> HierarchyLimit(string buffer)
    {
        var s = KernelText.Strip(buffer);
        if (MaxWord.TryParse(s).WasSuccessful)
            return Parsed<int>.Of(int.MaxValue);
        var n = KernelText.KInt(s);
        if (!n.Ok)
            return n;
        return n.Value < 0 ? Parsed<int>.Fail(Errno.ERANGE) : n;
    }

    /// <summary>cgroup.freeze: KINT, then anything but 0 or 1 → ERANGE.</summary>
    public static Parsed<bool> Freeze(string buffer)
    {
        var n = KernelText.KInt(KernelText.Strip(buffer));
        if (!n.Ok)
            return Parsed<bool>.Fail(n.Error);
        return n.Value is 0 or 1 ? Parsed<bool>.Of(n.Value == 1) : Parsed<bool>.Fail(Errno.ERANGE);
    }

    /// <summary>cgroup.kill: KINT, then anything but 1 → ERANGE.</summary>
    public static Errno Kill(string buffer)
    {
        var n = KernelText.KInt(KernelText.Strip(buffer));
        if (!n.Ok)
            return n.Error;
        return n.Value == 1 ? Errno.Ok : Errno.ERANGE;
    }

    private static readonly Parser<string> ThreadedWord = Parse.String("threaded").Text().End();

    /// <summary>cgroup.type: only "threaded" is accepted.</summary>
    public static Errno Type(string buffer) =>
        ThreadedWord.TryParse(KernelText.Strip(buffer)).WasSuccessful ? Errno.Ok : Errno.EINVAL;
}
