using System.Net.Sockets;

namespace CgFs.Control;

/// <summary>Listening sockets at a path, shared by the control socket and the metrics endpoint.</summary>
public static class UnixSocket
{
    /// <summary>Binds a stream socket at <paramref name="path"/>, first removing a socket file left
    /// there by a daemon that was killed; <paramref name="beforeListen"/> runs between bind and listen
    /// (e.g. to set the file's mode before anyone can connect).</summary>
    public static Socket Listen(string path, int backlog, Action? beforeListen = null)
    {
        if (File.Exists(path))
            File.Delete(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        beforeListen?.Invoke();
        socket.Listen(backlog);
        return socket;
    }
}
