using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Echo;

/// <summary>
/// The load: C connections, each sending a B-byte request and waiting for its whole echo before the next (so each
/// request's latency is one round trip), for a fixed time. Every wait is bounded: a server that stops answering ends
/// the run with an error instead of hanging it.
/// </summary>
static class Client
{
    public sealed record Result(long Requests, double Seconds, double P50Us, double P99Us, int Connections)
    {
        public double PerSecond => Requests / Seconds;

        public override string ToString() =>
            $"client: {Connections} connections, {Requests} requests in {Seconds:F2} s: {PerSecond:F0} requests/s, " +
            $"p50 {P50Us:F1} us, p99 {P99Us:F1} us";
    }

    static readonly TimeSpan ReplyLimit = TimeSpan.FromSeconds(5);
    const string Closed = "the server closed a connection in the middle of a run";

    public static async Task<Result> Run(IPEndPoint server, int connections, int size, TimeSpan duration)
    {
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < connections; i++) sockets.Add(await Connect(server));
            var clock = Stopwatch.StartNew();
            var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var loops = sockets.Select(s => Task.Run(() => Loop(s, size, until))).ToArray();
            var latencies = (await Task.WhenAll(loops)).SelectMany(l => l).ToArray();
            var seconds = clock.Elapsed.TotalSeconds;
            Array.Sort(latencies);
            return new Result(latencies.Length, seconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99),
                connections);
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
        }
    }

    static async Task<Socket> Connect(IPEndPoint server)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var limit = new CancellationTokenSource(ReplyLimit);
        try
        {
            await s.ConnectAsync(server, limit.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            s.Dispose();
            throw new InvalidOperationException($"cannot connect to {server}: {e.Message}", e);
        }
        return s;
    }

    static async Task<List<long>> Loop(Socket s, int size, long until)
    {
        try
        {
            return await Requests(s, size, until);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"{Closed} ({e.Message})", e);
        }
    }

    static async Task<List<long>> Requests(Socket s, int size, long until)
    {
        var request = new byte[size];
        var reply = new byte[size];
        var latencies = new List<long>();
        while (Stopwatch.GetTimestamp() < until)
        {
            var start = Stopwatch.GetTimestamp();
            using var limit = new CancellationTokenSource(ReplyLimit);
            await s.SendAsync(request, limit.Token);
            for (var got = 0; got < size;)
            {
                var n = await s.ReceiveAsync(reply.AsMemory(got), limit.Token);
                if (n == 0) throw new InvalidOperationException(Closed);
                got += n;
            }
            latencies.Add(Stopwatch.GetTimestamp() - start);
        }
        return latencies;
    }

    static double Percentile(long[] sorted, double p) => sorted.Length == 0 ? 0
        : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))] * 1e6 / Stopwatch.Frequency;
}
