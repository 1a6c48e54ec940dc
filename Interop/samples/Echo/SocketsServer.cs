using System.Net;
using System.Net.Sockets;

namespace Echo;

/// <summary>The same echo server written the usual way on System.Net.Sockets: an accept loop and one async/await
/// receive-send loop per connection on the thread pool. The baseline of the benchmark.</summary>
sealed class SocketsServer : IEchoServer
{
    readonly Socket listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    readonly CancellationTokenSource stop = new();
    readonly SharedState shared;
    readonly int bufferSize;
    readonly List<Task> connections = [];
    Task? accepting;
    long accepted, refused, echoed;

    public SocketsServer(Options o)
    {
        shared = new SharedState(o.MaxConnections, 0);
        bufferSize = Math.Max(o.Size, 4096);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, o.Port));
        listener.Listen(512);
    }

    public IPEndPoint EndPoint => (IPEndPoint)listener.LocalEndPoint!;
    public IReadOnlyList<string> Errors => shared.Errors;
    public string Describe => "System.Net.Sockets, async/await on the thread pool";

    public void Start() => accepting = AcceptLoop();

    async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket s;
            try { s = await listener.AcceptAsync(stop.Token); }
            catch (OperationCanceledException) { return; }
            if (!shared.TryOpen())
            {
                Interlocked.Increment(ref refused);
                s.Dispose();
                continue;
            }
            accepted++;
            lock (connections) connections.Add(Serve(s));
        }
    }

    async Task Serve(Socket s)
    {
        var buffer = new byte[bufferSize];
        try
        {
            int n;
            while ((n = await s.ReceiveAsync(buffer, stop.Token)) > 0)
            {
                await s.SendAsync(buffer.AsMemory(0, n), stop.Token); // SendAsync sends all of it
                Interlocked.Increment(ref echoed);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException) { }
        finally
        {
            s.Dispose();
            shared.Closed();
        }
    }

    public void Stop()
    {
        stop.Cancel();
        Task[] all;
        lock (connections) all = [.. connections];
        if (!Task.WaitAll([.. all, accepting ?? Task.CompletedTask], TimeSpan.FromSeconds(10)))
            shared.Fail("the sockets server's tasks did not end within 10 s");
    }

    public string Summary() => $"sockets server: thread pool, accepted {accepted}, refused {refused}, echoed {echoed}";

    public void Dispose()
    {
        listener.Dispose();
        stop.Dispose();
    }
}
