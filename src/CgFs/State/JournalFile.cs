using System.Runtime.InteropServices;
using System.Text;
using CgFs.Accounting;

namespace CgFs.State;

/// <summary>
/// The on-disk journal: one record per line, <c>CRC32HEX payload\n</c>, payload fields separated
/// by single spaces (free text is %-escaped). A record reaches the kernel with pwrite(2) before its
/// change is applied, so a killed daemon loses nothing it acknowledged; a background flusher
/// fsyncs every 50 ms against power loss. A write that fails leaves the file exactly as it was (a
/// partial record is cut off again) and reports the errno; a record whose change was then refused
/// is retracted the same way. A torn last line or a bad checksum ends the replay: everything before
/// it is intact. Rewrites (compaction) go to FILE.tmp, are fsync'd, then renamed over FILE, so FILE
/// is always either the old or the new complete journal. Lock order: this file's lock is a leaf.
/// </summary>
public sealed class JournalFile : IDisposable
{
    private readonly object _lock = new();
    private readonly Action<string> _log;
    private readonly Timer _flusher;
    private int _fd = -1;
    private long _length;
    private bool _dirty;
    private bool _fsyncFailing;

    /// <summary>Writes <paramref name="snapshot"/> as the new journal; throws <see cref="IOException"/>
    /// naming the errno if it cannot (nothing is mounted then).</summary>
    public JournalFile(string path, IReadOnlyList<string> snapshot, Action<string> log)
    {
        Path = System.IO.Path.GetFullPath(path);
        _log = log;
        if (Compact(snapshot) is var e && e != Errno.Ok)
            throw new IOException($"cannot write the journal: {Errnos.Describe(e)}");
        _flusher = new Timer(_ => Flush(), null, 50, 50);
    }

    public string Path { get; }

    /// <summary>Whether the journal is still where it was opened (its file or directory may have been removed).</summary>
    public bool AtItsPath => File.Exists(Path);

    /// <summary>The file's length after the last record: where the next one goes, and what a retraction returns to.</summary>
    public long Length
    {
        get
        {
            lock (_lock)
                return _length;
        }
    }


    /// <summary>The intact records of a journal file (none if it does not exist).</summary>
    public static List<string> Read(string path, out int dropped)
    {
        var records = new List<string>();
        dropped = 0;
        if (!File.Exists(path))
            return records;
        var lines = File.ReadAllBytes(path).AsSpan();
        while (lines.Length > 0)
        {
            int nl = lines.IndexOf((byte)'\n');
            if (nl < 0 || !TryDecode(lines[..nl], out var payload))
            {
                dropped = Count(lines);
                break;
            }
            records.Add(payload);
            lines = lines[(nl + 1)..];
        }
        return records;
    }

    private static int Count(ReadOnlySpan<byte> rest)
    {
        int n = 1;
        foreach (byte b in rest[..^1])
            if (b == '\n')
                n++;
        return n;
    }

    private static bool TryDecode(ReadOnlySpan<byte> line, out string payload)
    {
        payload = "";
        if (line.Length < 10 || line[8] != ' ')
            return false;
        if (!uint.TryParse(Encoding.ASCII.GetString(line[..8]), System.Globalization.NumberStyles.HexNumber, null, out uint crc))
            return false;
        var body = line[9..];
        if (Crc32.Compute(body) != crc)
            return false;
        payload = Encoding.UTF8.GetString(body);
        return true;
    }

    private static byte[] Encode(string payload)
    {
        var body = Encoding.UTF8.GetBytes(payload);
        var line = new byte[9 + body.Length + 1];
        Encoding.ASCII.GetBytes(Crc32.Compute(body).ToString("x8"), line);
        line[8] = (byte)' ';
        body.CopyTo(line, 9);
        line[^1] = (byte)'\n';
        return line;
    }

    /// <summary>Told of every record's bytes and every fsync's duration (metrics); null: not measured.</summary>
    public IJournalObserver? Observer { get; set; }

    /// <summary>Appends one record: Ok once write(2) took all of it, otherwise the errno with the file as it was.</summary>
    public Errno Append(string payload)
    {
        var line = Encode(payload);
        lock (_lock)
        {
            var e = WriteAll(_fd, line, _length);
            if (e != Errno.Ok)
            {
                Interop.Sys.FTruncate(_fd, _length); // a short write must not leave half a record
                return e;
            }
            _length += line.Length;
            _dirty = true;
            Observer?.Appended(line.Length);
            return Errno.Ok;
        }
    }

    /// <summary>Cuts the journal back to <paramref name="length"/>: the record after it is withdrawn.</summary>
    public Errno Retract(long length)
    {
        lock (_lock)
        {
            if (Interop.Sys.FTruncate(_fd, length) != 0)
                return (Errno)Marshal.GetLastPInvokeError();
            _length = length;
            _dirty = true;
            return Errno.Ok;
        }
    }

    /// <summary>Replaces the journal by <paramref name="snapshot"/>, atomically; on failure the old one stays.</summary>
    public Errno Compact(IReadOnlyList<string> snapshot)
    {
        var bytes = new MemoryStream();
        foreach (var record in snapshot)
            bytes.Write(Encode(record));
        var tmp = Path + ".tmp";
        lock (_lock)
        {
            int fd = Interop.Sys.Open(tmp, Interop.Sys.O_WRONLY | Interop.Sys.O_CREAT | Interop.Sys.O_TRUNC | Interop.Sys.O_CLOEXEC, 0b110_100_100);
            if (fd < 0)
                return (Errno)Marshal.GetLastPInvokeError();
            var e = WriteAll(fd, bytes.GetBuffer().AsSpan(0, (int)bytes.Length), 0);
            if (e == Errno.Ok && Interop.Sys.FSync(fd) != 0)
                e = (Errno)Marshal.GetLastPInvokeError();
            Interop.Sys.Close(fd);
            if (e == Errno.Ok && Interop.Sys.Rename(tmp, Path) != 0)
                e = (Errno)Marshal.GetLastPInvokeError();
            if (e != Errno.Ok)
            {
                Interop.Sys.Unlink(tmp);
                return e;
            }
            SyncDirectory();
            fd = Interop.Sys.Open(Path, Interop.Sys.O_WRONLY | Interop.Sys.O_CLOEXEC, 0);
            if (fd < 0)
                return (Errno)Marshal.GetLastPInvokeError();
            if (_fd >= 0)
                Interop.Sys.Close(_fd);
            (_fd, _length, _dirty) = (fd, bytes.Length, false);
            return Errno.Ok;
        }
    }

    private static unsafe Errno WriteAll(int fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* p = data)
        {
            for (int done = 0; done < data.Length;)
            {
                nint n = Interop.Sys.PWrite(fd, p + done, data.Length - done, offset + done);
                if (n < 0)
                {
                    var e = (Errno)Marshal.GetLastPInvokeError();
                    if (e == Errno.EINTR)
                        continue;
                    return e;
                }
                done += (int)n;
            }
        }
        return Errno.Ok;
    }

    private void SyncDirectory()
    {
        int fd = Interop.Sys.Open(System.IO.Path.GetDirectoryName(Path)!, Interop.Sys.O_CLOEXEC);
        if (fd >= 0)
        {
            Interop.Sys.FSync(fd);
            Interop.Sys.Close(fd);
        }
    }

    /// <summary>fsync of what was written since the last one. A failure is logged once (records are
    /// already in the kernel, so a kill loses nothing; a power loss might), never fatal.</summary>
    private void Flush()
    {
        lock (_lock)
        {
            if (!_dirty || _fd < 0)
                return;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            int rc = Interop.Sys.FSync(_fd);
            Observer?.Synced(System.Diagnostics.Stopwatch.GetTimestamp() - start);
            if (rc != 0)
            {
                if (!_fsyncFailing)
                    _log($"state {Path}: fsync failed: {Errnos.Last()} (logged once)");
                _fsyncFailing = true;
                return;
            }
            _fsyncFailing = false;
            _dirty = false;
        }
    }

    public void Dispose()
    {
        _flusher.Dispose();
        lock (_lock)
        {
            if (_fd < 0)
                return;
            Interop.Sys.FSync(_fd);
            Interop.Sys.Close(_fd);
            _fd = -1;
        }
    }
}

/// <summary>What the journal did: bytes appended, fsync durations in Stopwatch ticks.</summary>
public interface IJournalObserver
{
    void Appended(int bytes);
    void Synced(long ticks);
}
