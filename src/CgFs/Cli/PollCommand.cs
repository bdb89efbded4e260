using System.Runtime.InteropServices;

namespace CgFs.Cli;

/// <summary>
/// cgfs poll: waits until a notifying file (cgroup.events, rdma.events, misc.events …) changes,
/// the way kernfs reports it: POLLPRI|POLLERR on a descriptor that has read the file before.
/// FUSE cannot deliver inotify events for changes made inside cgfs; this is what to use instead.
/// </summary>
public static unsafe class PollCommand
{
    public const string Usage = """
        Usage: cgfs poll FILE [--timeout MS] [--ready]

        Opens FILE, reads it, and waits (default 10000 ms; -1 = for ever) until it changes.
        Prints the poll(2) revents as words, then the new content. With --ready, first prints
        "ready" once it is waiting, so a script can make the change without racing the start-up.
        Exit status: 0 changed, 1 timed out, 2 error.
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args.Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        string file = args[0];
        int timeout = 10_000;
        bool ready = false;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--timeout" && i + 1 < args.Length && int.TryParse(args[i + 1], out timeout))
                i++;
            else if (args[i] == "--ready")
                ready = true;
            else
                throw new CliException($"unexpected argument '{args[i]}'\n\n{Usage}");
        }
        int fd = Interop.Sys.Open(file, 0);
        if (fd < 0)
            return Program.Fail($"open {file}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        try
        {
            ReadAll(fd);
            var pfd = new Interop.Sys.PollFd { Fd = fd, Events = Interop.Sys.POLLPRI };
            // Once the file was read, a change is reported by the poll below even if it happens
            // before poll(2) is entered: "ready" can be printed now.
            if (ready)
                Console.WriteLine("ready");
            int n;
            do
                n = Interop.Sys.Poll(&pfd, 1, timeout);
            while (n < 0 && Marshal.GetLastPInvokeError() == 4);
            if (n < 0)
                return Program.Fail($"poll {file}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            Console.WriteLine(Describe(pfd.REvents));
            if ((pfd.REvents & Interop.Sys.POLLPRI) == 0)
                return 1;
            Interop.Sys.Lseek(fd, 0, 0);
            Console.Write(ReadAll(fd));
            return 0;
        }
        finally
        {
            Interop.Sys.Close(fd);
        }
    }

    private static string ReadAll(int fd)
    {
        var buffer = new byte[65536];
        int total = 0;
        fixed (byte* b = buffer)
        {
            nint n;
            while (total < buffer.Length && (n = Interop.Sys.Read(fd, b + total, buffer.Length - total)) > 0)
                total += (int)n;
        }
        return System.Text.Encoding.Latin1.GetString(buffer, 0, total);
    }

    public static string Describe(short revents)
    {
        var names = new List<string>();
        foreach (var (bit, name) in new (short, string)[]
                 {
                     (Interop.Sys.POLLIN, "POLLIN"), (Interop.Sys.POLLPRI, "POLLPRI"), (Interop.Sys.POLLOUT, "POLLOUT"),
                     (Interop.Sys.POLLERR, "POLLERR"), (Interop.Sys.POLLHUP, "POLLHUP"), (Interop.Sys.POLLNVAL, "POLLNVAL"),
                     (Interop.Sys.POLLRDNORM, "POLLRDNORM"), (Interop.Sys.POLLWRNORM, "POLLWRNORM"),
                 })
            if ((revents & bit) != 0)
                names.Add(name);
        return names.Count == 0 ? "timeout" : string.Join(' ', names);
    }
}
