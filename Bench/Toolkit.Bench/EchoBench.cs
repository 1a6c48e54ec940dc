using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Toolkit.Infra;
using static Toolkit.Bench.BenchMarkdown;

namespace Toolkit.Bench;

/// <summary>One client run against one echo server: requests/s and latency percentiles (microseconds).</summary>
public sealed record EchoSample(double PerSecond, double P50Us, double P99Us);

/// <summary>The echo part of <c>bench interop</c>: samples per server ("uring", "sockets") and how they were
/// taken.</summary>
public sealed record EchoBenchResult(IReadOnlyDictionary<string, List<EchoSample>> Samples, double Seconds,
    int Connections, int Threads, string Path);

/// <summary>
/// Interop/samples/Echo's io_uring server against the same server on System.Net.Sockets: each sample starts a server
/// process, runs the sample's client against it in another process for a fixed time, and stops the server; the two
/// servers alternate so drifts in host load hit both alike.
/// </summary>
public static partial class EchoBench
{
    public static readonly string[] Servers = ["uring", "sockets"];

    public static EchoBenchResult Measure(string work, IDictionary<string, string> env, double seconds, int repetitions)
    {
        var echo = Build(work);
        var threads = Math.Clamp(Environment.ProcessorCount, 1, 64);
        const int connections = 16;
        var samples = Servers.ToDictionary(s => s, _ => new List<EchoSample>());
        var path = "";
        for (var rep = 0; rep < repetitions; rep++)
            foreach (var server in Servers)
            {
                var (sample, described) = One(echo, env, server, threads, connections, seconds);
                samples[server].Add(sample);
                if (server == "uring") path = described;
                Console.Error.WriteLine(
                    Inv($"echo {server}: {sample.PerSecond:F0} requests/s, p99 {sample.P99Us:F0} us"));
            }
        return new EchoBenchResult(samples, seconds, connections, threads, path);
    }

    static string Build(string work)
    {
        var dir = System.IO.Path.Combine(work, "echo");
        var project = System.IO.Path.Combine(Paths.RepoRoot, "Interop", "samples", "Echo", "Echo.csproj");
        var build = Proc.Capture("dotnet", ["build", project, "-c", "Release", "-o", dir, "-nologo", "-v", "q"]);
        if (!build.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"building the echo sample failed:\n{build.StdOut}{build.StdErr}");
        return System.IO.Path.Combine(dir, "Echo.dll");
    }

    static (EchoSample, string) One(string echo, IDictionary<string, string> env, string impl, int threads,
        int connections, double seconds)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { echo, "server", "--impl", impl, "--port", "0", "--threads", Inv($"{threads}"),
            "--seconds", Inv($"{seconds + 30}") })
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var server = Process.Start(psi) ?? throw new ToolkitException(ExitCodes.BuildFailed, "echo server");
        try
        {
            var first = server.StandardOutput.ReadLine() ?? "";
            var m = Listening().Match(first);
            if (!m.Success)
                throw new ToolkitException(ExitCodes.BuildFailed,
                    $"echo server ({impl}) did not start: {first} {server.StandardError.ReadToEnd()}");
            var client = Proc.Capture("dotnet", [echo, "client", "--port", m.Groups[1].Value, "--seconds",
                Inv($"{seconds}"), "--connections", Inv($"{connections}")], env: env);
            var r = Result().Match(client.StdOut);
            if (!client.Succeeded || !r.Success)
                throw new ToolkitException(ExitCodes.BuildFailed,
                    $"echo client ({impl}) failed: {client.StdOut}{client.StdErr}");
            double D(int g) => double.Parse(r.Groups[g].Value, CultureInfo.InvariantCulture);
            return (new EchoSample(D(1), D(2), D(3)), m.Groups[2].Value);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(10_000);
        }
    }

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+) \((.*)\)")]
    private static partial Regex Listening();

    [GeneratedRegex(@"([\d.]+) requests/s, p50 ([\d.]+) us, p99 ([\d.]+) us")]
    private static partial Regex Result();

    /// <summary>The echo section of docs/interop-benchmark.md.</summary>
    public static void Render(BenchMarkdown md, EchoBenchResult e)
    {
        md.Line("## Echo server: io_uring (thread per core) vs System.Net.Sockets").Line();
        md.Line(Inv($"`Interop/samples/Echo`: server and client in separate processes on loopback, unpinned; ")
            + Inv($"{e.Connections} client connections, 64-byte requests, each waiting for its echo; ")
            + Inv($"{e.Samples["uring"].Count} runs of {e.Seconds:0.##} s per server, alternating; medians. ")
            + Inv($"io_uring server: {e.Path}.")).Line();
        md.TableHead(["server", "requests/s", "p50 (us)", "p99 (us)"], ["---", "---:", "---:", "---:"],
            compactSeparators: true);
        foreach (var s in Servers)
        {
            var x = e.Samples[s];
            md.Row([s == "uring" ? "io_uring (managed layer)" : "System.Net.Sockets (async/await)",
                Inv($"{Median(x.Select(v => v.PerSecond)):F0}"), Inv($"{Median(x.Select(v => v.P50Us)):F0}"),
                Inv($"{Median(x.Select(v => v.P99Us)):F0}")]);
        }
        var ratio = Median(e.Samples["uring"].Select(v => v.PerSecond)) /
            Median(e.Samples["sockets"].Select(v => v.PerSecond));
        md.Line().Line(Inv($"Target (io_uring ≥ 1.5× the sockets server's requests/s): **")
            + (ratio >= 1.5 ? "met" : "not met") + Inv($"** ({ratio:F2}×).")).Line();
        foreach (var s in Servers)
            md.Bullet(Inv($"echo {s}: ") + string.Join(", ", e.Samples[s].Select(v =>
                Inv($"{v.PerSecond:F0}/s p50 {v.P50Us:F0} p99 {v.P99Us:F0}"))));
    }
}
