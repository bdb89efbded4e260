using System.Net.Sockets;
using System.Text;
using CgFs.Accounting;
using CgFs.Parsing;

namespace CgFs.Control;

/// <summary>A connection to a mount's control socket. Its lifetime is the charging context's.</summary>
public sealed class ControlClient : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;

    public ControlClient(string path)
    {
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _socket.Connect(new UnixDomainSocketEndPoint(path));
        var stream = new NetworkStream(_socket, ownsSocket: true);
        _reader = new StreamReader(stream, Encoding.Latin1);
        _writer = new StreamWriter(stream, Encoding.Latin1) { NewLine = "\n", AutoFlush = true };
        var greeting = _reader.ReadLine();
        if (greeting != ControlGrammar.Greeting)
            throw new IOException($"unexpected greeting \"{greeting}\" from {path} (this cgfs speaks protocol {ControlGrammar.Version})");
    }

    /// <summary>Sends one request; returns its data lines and final status.</summary>
    public (Errno Error, string Value, List<string> Lines) Request(string line)
    {
        _writer.WriteLine(line);
        var lines = new List<string>();
        while (true)
        {
            var (final, error, text) = NextLine();
            if (final)
                return (error, text, lines);
            lines.Add(text);
        }
    }

    /// <summary>One reply line, parsed: a data line's text, or the final status.</summary>
    private (bool Final, Errno Error, string Text) NextLine() =>
        ControlGrammar.Reply(_reader.ReadLine() ?? throw new IOException("the control socket closed during a request"));

    /// <summary>Sends <paramref name="line"/>, waits for the server's "send" line, passes <paramref name="fd"/>
    /// (SCM_RIGHTS) and returns the final status. <paramref name="prepare"/> runs between the two, on
    /// this thread (`cgfs exec` installs its seccomp filter there and returns the listener to pass).</summary>
    public (Errno Error, string Value) HandOver(string line, Func<int> prepare)
    {
        _writer.WriteLine(line);
        var (final, error, text) = NextLine();
        if (final)
            return (error == Errno.Ok ? Errno.EPROTO : error, text);
        int fd = prepare();
        if (fd < 0)
            return ((Errno)(-fd), "cannot create the descriptor to hand over");
        bool sent = Interop.Sys.SendFd((int)_socket.Handle, fd);
        Interop.Sys.Close(fd);
        if (!sent)
            return (Errno.EIO, "cannot pass the descriptor");
        var (_, e, t) = NextLine();
        return (e, t);
    }

    public void Dispose()
    {
        _writer.Dispose();
        _reader.Dispose();
    }
}
