using System.Net;
using Echo;

// A thread-per-core TCP echo server on io_uring and a client that measures it; see README.md.
if (!OperatingSystem.IsLinux())
{
    Console.Error.WriteLine("echo: io_uring needs Linux");
    return 1;
}
Options o;
try
{
    o = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"echo: {e.Message}");
    Console.Error.WriteLine(Options.Usage);
    return 2;
}
try
{
    return o.Command switch
    {
        "client" => await RunClient(o, new IPEndPoint(IPAddress.Loopback, o.Port)),
        "server" => Serve(o, null),
        _ => Serve(o, o),
    };
}
catch (Exception e) when (e is InvalidOperationException or IoUring.IoUringException or
    System.Net.Sockets.SocketException)
{
    Console.Error.WriteLine($"echo: {e.Message}");
    return 1;
}

static async Task<int> RunClient(Options o, IPEndPoint server)
{
    var r = await Client.Run(server, o.Connections, o.Size, TimeSpan.FromSeconds(o.Seconds));
    Console.WriteLine(r);
    return r.Requests > 0 ? 0 : 1;
}

// Serves for --seconds (or until Ctrl+C); with a client (run), serves while the client runs.
static int Serve(Options o, Options? client)
{
    IEchoServer server = o.Impl == "sockets" ? new SocketsServer(o) : new UringServer(o);
    using var _ = server;
    server.Start();
    Console.WriteLine($"listening on {server.EndPoint} ({server.Describe})");
    var code = 0;
    try
    {
        if (client != null) code = RunClient(client, server.EndPoint).GetAwaiter().GetResult();
        else WaitOrCtrlC(TimeSpan.FromSeconds(o.Seconds));
    }
    finally
    {
        server.Stop();
        Console.WriteLine(server.Summary());
    }
    foreach (var e in server.Errors) Console.Error.WriteLine($"echo: server error: {e}");
    return server.Errors.Count > 0 ? 1 : code;
}

static void WaitOrCtrlC(TimeSpan limit)
{
    using var stop = new ManualResetEventSlim();
    ConsoleCancelEventHandler handler = (_, e) => { e.Cancel = true; stop.Set(); };
    Console.CancelKeyPress += handler;
    stop.Wait(limit);
    Console.CancelKeyPress -= handler;
}
