using System.Net;
using System.Net.Sockets;
using IoUring;
using IoUring.Interop.CrossRing;

namespace Echo;

/// <summary>The thread-per-core server: an <see cref="Acceptor"/> and N-1 <see cref="Worker"/>s, one ring
/// each.</summary>
sealed class UringServer : IEchoServer
{
    readonly Socket listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    readonly List<Worker> workers = [];
    readonly SharedState shared;
    readonly Acceptor acceptor;

    public UringServer(Options o)
    {
        shared = new SharedState(o.MaxConnections, Math.Max(o.Size, 4096));
        listener.Bind(new IPEndPoint(IPAddress.Loopback, o.Port));
        listener.Listen(512);
        acceptor = new Acceptor(shared, listener);
        workers.Add(acceptor);
        for (var i = 1; i < o.Threads; i++) workers.Add(new Worker(shared));
    }

    public IPEndPoint EndPoint => (IPEndPoint)listener.LocalEndPoint!;
    public CrossRingPath Path => acceptor.Path;
    public string Describe => $"io_uring, {workers.Count} threads, cross-ring path {Path}";
    public IReadOnlyList<string> Errors => shared.Errors;

    /// <summary>Starts the workers first, so every ring exists before the acceptor hands anything over.</summary>
    public void Start()
    {
        for (var i = 1; i < workers.Count; i++) workers[i].Start($"echo-worker-{i}");
        acceptor.Others = [.. workers.Skip(1).Select(w => w.ReadyRing!)];
        acceptor.Start("echo-acceptor");
    }

    /// <summary>Stops the acceptor first (no more handoffs: every one it made has reached its worker), then the
    /// workers.</summary>
    public void Stop()
    {
        foreach (var w in workers) w.Stop();
    }

    public string Summary() =>
        $"uring server: {workers.Count} threads, cross-ring path {Path}, accepted {acceptor.Accepted}, refused " +
        $"{acceptor.Refused}, echoed {workers.Sum(w => w.Echoed)}";

    public void Dispose()
    {
        foreach (var w in workers) w.Dispose();
        listener.Dispose();
    }
}
