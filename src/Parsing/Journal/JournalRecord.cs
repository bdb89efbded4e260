using System.Text;
using CgFs.Accounting;
using Sprache;

namespace CgFs.Parsing;

/// <summary>
/// A --state journal record: one acknowledged change, as plain data. Each kind has one format
/// (<see cref="Format"/>) and one parse (<see cref="JournalGrammar.Record"/>):
/// <code>
/// mkdir ID PARENT MODE UID GID NAME [INO] rmdir ID            (INO: overlay mode, the real directory's inode)
/// write ID FILE UID GID TEXT            (limits, subtree_control, freeze, type, pressure, *.current shortcuts)
/// meta ID TARGET MODE UID GID           xattr ID TARGET NAME HEX | rmxattr ID TARGET NAME
/// member PID START ID                   thread PID START TID ID
/// CONTROL-LINE                          device add|remove NAME, device rename OLD NEW, misc capacity|remove …: a control-protocol request
/// </code>
/// ID is a cgroup's id when the record was written (the root is 1); TARGET is "." for the
/// directory or a file name; free text is %-escaped (<see cref="JournalText"/>).
/// </summary>
public abstract record JournalRecord
{
    public abstract string Format();
}

/// <summary>A cgroup made (emulated mode) or a real directory mirrored (overlay mode: <see cref="Ino"/>
/// tells a directory made again under the same name while cgfs was down from the one recorded).</summary>
public sealed record MkdirRecord(long Id, long Parent, uint Mode, uint Uid, uint Gid, string Name, ulong? Ino = null) : JournalRecord
{
    public override string Format() => $"mkdir {Id} {Parent} {Mode} {Uid} {Gid} {JournalText.Esc(Name)}" + (Ino is { } i ? $" {i}" : "");
}

public sealed record RmdirRecord(long Id) : JournalRecord
{
    public override string Format() => $"rmdir {Id}";
}

/// <summary>A write to an interface file, replayed through that file's own grammar and handler.</summary>
public sealed record WriteRecord(long Id, string File, uint Uid, uint Gid, string Text) : JournalRecord
{
    public override string Format() => $"write {Id} {File} {Uid} {Gid} {JournalText.Esc(Text)}";
}

public sealed record MetaRecord(long Id, string Target, uint Mode, uint Uid, uint Gid) : JournalRecord
{
    public override string Format() => $"meta {Id} {JournalText.Esc(Target)} {Mode} {Uid} {Gid}";
}

/// <summary>An extended attribute set, or removed when <see cref="Value"/> is null.</summary>
public sealed record XattrRecord(long Id, string Target, string Name, byte[]? Value) : JournalRecord
{
    public override string Format() => Value is null
        ? $"rmxattr {Id} {JournalText.Esc(Target)} {JournalText.Esc(Name)}"
        : $"xattr {Id} {JournalText.Esc(Target)} {JournalText.Esc(Name)} {Convert.ToHexString(Value)}";
}

public sealed record MemberRecord(int Pid, ulong Start, long Id) : JournalRecord
{
    public override string Format() => $"member {Pid} {Start} {Id}";
}

public sealed record ThreadRecord(int Pid, ulong Start, int Tid, long Id) : JournalRecord
{
    public override string Format() => $"thread {Pid} {Start} {Tid} {Id}";
}

/// <summary>A device or misc type change: the control-protocol request that made it.</summary>
public sealed record ControlRecord(ControlCommand Command) : JournalRecord
{
    public override string Format() => Command.Format();
}

/// <summary>The journal's escaping of free text: '%', blanks and control characters as %XX.</summary>
public static class JournalText
{
    public static string Esc(string s)
    {
        if (s.Length == 0)
            return "%";
        var sb = new StringBuilder();
        foreach (char ch in s)
            sb.Append(ch is '%' or ' ' || ch < ' ' ? $"%{(int)ch:x2}" : ch.ToString());
        return sb.ToString();
    }

    /// <summary>Undoes <see cref="Esc"/>; null if <paramref name="s"/> is not escaped text.</summary>
    public static string? Unesc(string s)
    {
        if (s == "%")
            return "";
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '%')
                sb.Append(s[i]);
            else if (i + 2 < s.Length && byte.TryParse(s.AsSpan(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
            {
                sb.Append((char)b);
                i += 2;
            }
            else
                return null;
        }
        return sb.ToString();
    }
}

/// <summary>Parses journal records (<see cref="JournalRecord"/>).</summary>
public static class JournalGrammar
{
    private static readonly Parser<char> Sp = Parse.Char(' ');
    private static readonly Parser<string> Field = Parse.Char(c => c != ' ', "field").AtLeastOnce().Text();
    private static readonly Parser<string> Text = Field.Select(JournalText.Unesc).Where(t => t is not null).Select(t => t!);

    private static Parser<T> Number<T>(Func<string, (bool, T)> parse) =>
        Parse.Char(c => c is >= '0' and <= '9', "digit").AtLeastOnce().Text().Select(parse).Where(r => r.Item1).Select(r => r.Item2);

    private static readonly Parser<long> Long = Number(s => (long.TryParse(s, out var v), v));
    private static readonly Parser<uint> UInt = Number(s => (uint.TryParse(s, out var v), v));
    private static readonly Parser<int> Int = Number(s => (int.TryParse(s, out var v), v));
    private static readonly Parser<ulong> ULong = Number(s => (ulong.TryParse(s, out var v), v));
    private static readonly Parser<byte[]> Hex = Field.Where(h => h.Length % 2 == 0 && h.All(char.IsAsciiHexDigit)).Select(Convert.FromHexString);

    private static Parser<string> Kind(string k) => Parse.String(k).Then(_ => Sp).Return(k);
    private static Parser<T> Next<T>(Parser<T> p) => Sp.Then(_ => p);

    private static readonly Parser<JournalRecord> Mkdir =
        from k in Kind("mkdir")
        from id in Long
        from parent in Next(Long)
        from mode in Next(UInt)
        from uid in Next(UInt)
        from gid in Next(UInt)
        from name in Next(Text)
        from ino in Next(ULong).Optional()
        select (JournalRecord)new MkdirRecord(id, parent, mode, uid, gid, name, ino.IsDefined ? ino.Get() : null);

    private static readonly Parser<JournalRecord> Rmdir = Kind("rmdir").Then(_ => Long).Select(id => (JournalRecord)new RmdirRecord(id));

    private static readonly Parser<JournalRecord> Write =
        from k in Kind("write")
        from id in Long
        from file in Next(Field)
        from uid in Next(UInt)
        from gid in Next(UInt)
        from text in Next(Text)
        select (JournalRecord)new WriteRecord(id, file, uid, gid, text);

    private static readonly Parser<JournalRecord> Meta =
        from k in Kind("meta")
        from id in Long
        from target in Next(Text)
        from mode in Next(UInt)
        from uid in Next(UInt)
        from gid in Next(UInt)
        select (JournalRecord)new MetaRecord(id, target, mode, uid, gid);

    /// <summary>What xattr and rmxattr records share: the cgroup, the target and the attribute's name.</summary>
    private static Parser<(long Id, string Target, string Name)> XattrKey(string kind) =>
        from k in Kind(kind)
        from id in Long
        from target in Next(Text)
        from name in Next(Text)
        select (id, target, name);

    private static readonly Parser<JournalRecord> Xattr =
        from key in XattrKey("xattr")
        from value in Next(Hex)
        select (JournalRecord)new XattrRecord(key.Id, key.Target, key.Name, value);

    private static readonly Parser<JournalRecord> RmXattr =
        XattrKey("rmxattr").Select(key => (JournalRecord)new XattrRecord(key.Id, key.Target, key.Name, null));

    private static readonly Parser<JournalRecord> Member =
        from k in Kind("member")
        from pid in Int
        from start in Next(ULong)
        from id in Next(Long)
        select (JournalRecord)new MemberRecord(pid, start, id);

    private static readonly Parser<JournalRecord> Thread =
        from k in Kind("thread")
        from pid in Int
        from start in Next(ULong)
        from tid in Next(Int)
        from id in Next(Long)
        select (JournalRecord)new ThreadRecord(pid, start, tid, id);

    private static readonly Parser<JournalRecord> Any = Mkdir.Or(Rmdir).Or(Write).Or(Meta).Or(Xattr).Or(RmXattr).Or(Member).Or(Thread).End();

    /// <summary>One record; device and misc records are control-protocol lines.</summary>
    public static Parsed<JournalRecord> Record(string line)
    {
        var r = Any.TryParse(line);
        if (r.WasSuccessful)
            return Parsed<JournalRecord>.Of(r.Value);
        var control = ControlGrammar.Line(line);
        return control.Ok && control.Value is DeviceAdd or DeviceRemove or DeviceRename or MiscCapacity or MiscRemove
            ? Parsed<JournalRecord>.Of(new ControlRecord(control.Value))
            : Parsed<JournalRecord>.Fail(Errno.EINVAL);
    }
}
