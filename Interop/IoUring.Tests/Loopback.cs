using System.Net;
using System.Net.Sockets;

namespace IoUring.Tests;

/// <summary>What the tests share: bounded waits, and loopback sockets whose blocking calls give up (no test
/// hangs).</summary>
static class Loopback
{
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>The next CQE within 10 s; a missing one fails the test instead of hanging it.</summary>
    public static Completion Next(Ring ring) =>
        ring.TryWaitCompletion(Limit, out var c) ? c : throw new AssertionException("no CQE in 10 s");

    /// <summary>A TCP socket on 127.0.0.1 whose blocking receives give up after 10 s.</summary>
    public static Socket Socket() => new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
    {
        ReceiveTimeout = (int)Limit.TotalMilliseconds,
    };

    /// <summary>A listener on an ephemeral loopback port.</summary>
    public static Socket Listener()
    {
        var l = Socket();
        l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        l.Listen(8);
        return l;
    }

    /// <summary>A connected pair.</summary>
    public static (Socket A, Socket B) Connected()
    {
        using var listener = Listener();
        var a = Socket();
        a.Connect(listener.LocalEndPoint!);
        var b = listener.Accept();
        b.ReceiveTimeout = (int)Limit.TotalMilliseconds;
        return (a, b);
    }
}
