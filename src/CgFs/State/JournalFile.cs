using System.Text;

namespace CgFs.State;

/// <summary>
/// The on-disk journal: one record per line, <c>CRC32HEX payload\n</c>, payload fields separated
/// by single spaces (free text is %-escaped). Appends reach the kernel with write(2) before the
/// change is acknowledged, so a killed daemon loses nothing it answered; a background flusher
/// fsyncs every 50 ms against power loss. A torn last line or a bad checksum ends the replay:
/// everything before it is intact. Rewrites (compaction) go to FILE.tmp, are fsync'd, then
/// renamed over FILE, so FILE is always either the old or the new complete journal.
/// </summary>
public sealed class JournalFile : IDisposable
{
    private readonly object _lock = new();
    private FileStream _stream;
    private readonly Timer _flusher;
    private bool _dirty;

    public JournalFile(string path, IEnumerable<string> snapshot, Action<string> log)
    {
        Path = System.IO.Path.GetFullPath(path);
        _stream = Rewrite(snapshot);
        // A timer callback that throws would end the process: an fsync failure is reported instead.
        _flusher = new Timer(_ =>
        {
            try
            {
                Flush();
            }
            catch (IOException e)
            {
                log($"state {Path}: fsync failed: {e.Message}");
            }
        }, null, 50, 50);
    }

    public string Path { get; }

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

    /// <summary>Appends one record (write(2) now, fsync soon).</summary>
    public void Append(string payload)
    {
        var line = Encode(payload);
        lock (_lock)
        {
            _stream.Write(line);
            _stream.Flush(flushToDisk: false);
            _dirty = true;
        }
    }

    /// <summary>Replaces the journal by <paramref name="snapshot"/>, atomically.</summary>
    public void Compact(IEnumerable<string> snapshot)
    {
        lock (_lock)
        {
            _stream.Dispose();
            _stream = Rewrite(snapshot);
        }
    }

    private FileStream Rewrite(IEnumerable<string> snapshot)
    {
        var tmp = Path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            foreach (var record in snapshot)
                f.Write(Encode(record));
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, Path, overwrite: true);
        SyncDirectory();
        return new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    private void SyncDirectory()
    {
        int fd = Interop.Sys.Open(System.IO.Path.GetDirectoryName(Path)!, 0);
        if (fd >= 0)
        {
            Interop.Sys.FSync(fd);
            Interop.Sys.Close(fd);
        }
    }

    private void Flush()
    {
        lock (_lock)
        {
            if (!_dirty)
                return;
            _stream.Flush(flushToDisk: true);
            _dirty = false;
        }
    }

    public void Dispose()
    {
        _flusher.Dispose();
        lock (_lock)
        {
            _stream.Flush(flushToDisk: true);
            _stream.Dispose();
        }
    }
}
