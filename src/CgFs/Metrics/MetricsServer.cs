using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CgFs.Metrics;

/// <summary>
/// Serves <c>GET /metrics</c> over HTTP/1.1 on a TCP address (<c>127.0.0.1:9464</c>, <c>[::1]:9464</c>,
/// <c>:9464</c> for every address) or a unix socket path (anything with a '/'), one scrape at a
/// time on one thread, each connection closed after its answer. A scraper that does not send its
/// request within 5 s is dropped. The engine lock is taken once per scrape, for the snapshot only.
/// </summary>
public sealed class MetricsServer : IDisposable
{
    private const int MaxRequestBytes = 8192;
    private readonly Socket _listener;
    private readonly MetricsExporter _exporter;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private readonly string? _unixPath;
    private volatile bool _stopping;

    public MetricsServer(string address, MetricsExporter exporter, Action<string> log)
    {
        _exporter = exporter;
        _log = log;
        (_listener, _unixPath) = Listen(address);
        _thread = new Thread(Loop) { IsBackground = true, Name = "metrics" };
        _thread.Start();
    }

    /// <summary>Where it listens, for logs and tests ("127.0.0.1:9464" or the socket path).</summary>
    public string Address => _unixPath ?? _listener.LocalEndPoint!.ToString()!;

    /// <summary>The endpoint an address names: a unix socket (a path: it has a '/') or HOST:PORT.</summary>
    public static EndPoint Parse(string address)
    {
        if (address.Contains('/'))
            return new UnixDomainSocketEndPoint(Path.GetFullPath(address));
        int colon = address.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is < 0 or > 65535)
            throw new ArgumentException($"--metrics expects HOST:PORT or a socket path, not '{address}'");
        string host = address[..colon].Trim('[', ']');
        var ip = host.Length == 0 ? IPAddress.IPv6Any : IPAddress.TryParse(host, out var a) ? a
            : throw new ArgumentException($"--metrics: '{host}' is not an IP address");
        return new IPEndPoint(ip, port);
    }

    private static (Socket, string?) Listen(string address)
    {
        var endPoint = Parse(address);
        if (endPoint is UnixDomainSocketEndPoint)
        {
            var path = Path.GetFullPath(address);
            return (Control.UnixSocket.Listen(path, 16), path);
        }
        var ip = ((IPEndPoint)endPoint).Address;
        var tcp = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (ip.Equals(IPAddress.IPv6Any))
            tcp.DualMode = true;
        tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        tcp.Bind(endPoint);
        tcp.Listen(16);
        return (tcp, null);
    }

    private void Loop()
    {
        while (!_stopping)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!_stopping)
                    _log($"metrics: accept failed: {e.Message}");
                return;
            }
            using (client)
            {
                try
                {
                    Answer(client);
                }
                catch (Exception e) when (e is SocketException or IOException)
                {
                    _log($"metrics: a scrape failed: {e.Message}");
                }
            }
        }
    }

    private void Answer(Socket client)
    {
        client.ReceiveTimeout = 5000;
        client.SendTimeout = 5000;
        string head = ReadHead(client);
        var parts = head.Split('\n', 2)[0].TrimEnd('\r').Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            Send(client, "400 Bad Request", "text/plain", "bad request\n"u8.ToArray());
        else if (parts[0] is not ("GET" or "HEAD"))
            Send(client, "405 Method Not Allowed", "text/plain", "GET /metrics\n"u8.ToArray());
        else if (parts[1].Split('?')[0] != "/metrics")
            Send(client, "404 Not Found", "text/plain", "GET /metrics\n"u8.ToArray());
        else
        {
            using var body = new MemoryStream();
            _exporter.ExportTo(body);
            Send(client, "200 OK", "text/plain; version=0.0.4; charset=utf-8", parts[0] == "HEAD" ? [] : body.ToArray(), body.Length);
        }
    }

    /// <summary>The request line and headers (up to the blank line), bounded.</summary>
    private static string ReadHead(Socket client)
    {
        var buffer = new byte[MaxRequestBytes];
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n = client.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None);
            if (n == 0)
                break;
            filled += n;
            var text = Encoding.Latin1.GetString(buffer, 0, filled);
            if (text.Contains("\r\n\r\n") || text.Contains("\n\n"))
                return text;
        }
        return Encoding.Latin1.GetString(buffer, 0, filled);
    }

    private static void Send(Socket client, string status, string type, byte[] body, long? length = null)
    {
        var head = $"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {length ?? body.Length}\r\nConnection: close\r\n\r\n";
        client.Send(Encoding.ASCII.GetBytes(head));
        for (int sent = 0; sent < body.Length;)
            sent += client.Send(body, sent, body.Length - sent, SocketFlags.None);
    }

    public void Dispose()
    {
        _stopping = true;
        _listener.Close();
        _thread.Join(TimeSpan.FromSeconds(5));
        if (_unixPath is not null)
            File.Delete(_unixPath);
    }
}
