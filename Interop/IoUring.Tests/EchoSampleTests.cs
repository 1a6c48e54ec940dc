using System.Diagnostics;

namespace IoUring.Tests;

/// <summary>The echo sample (Interop/samples/Echo) end to end on this kernel: a server and a client in one process
/// for a second, bounded by a 60 s watchdog; and its refusals of bad arguments.</summary>
public class EchoSampleTests
{
    static (int Code, string Out, string Err) Echo(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Echo.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"echo {string.Join(' ', args)} still running after 60 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Test]
    public void TheUringServerEchoesForTheClientAndReportsTheCrossRingPath()
    {
        var (code, output, error) = Echo("run", "--seconds", "1", "--connections", "4", "--threads", "2");
        Assert.That(code, Is.Zero, output + error);
        Assert.That(output, Does.Match(@"client: 4 connections, [1-9]\d* requests"));
        Assert.That(output, Does.Contain("accepted 4, refused 0"));
        var path = Ring.Create().Features.CqeTarget ? "Kernel" : "Relay";
        Assert.That(output, Does.Contain($"cross-ring path {path}"));
        Assert.That(error, Is.Empty);
    }

    [Test]
    public void TheSocketsServerRunsTheSameWay()
    {
        var (code, output, error) = Echo("run", "--impl", "sockets", "--seconds", "1", "--connections", "2");
        Assert.That(code, Is.Zero, output + error);
        Assert.That(output, Does.Match(@"client: 2 connections, [1-9]\d* requests"));
    }

    [Test]
    public void ConnectionsBeyondTheLimitAreClosed()
    {
        var (code, output, error) = Echo("run", "--seconds", "1", "--connections", "3", "--max-connections", "2",
            "--threads", "2");
        Assert.That(code, Is.EqualTo(1), output + error);
        Assert.That(output, Does.Contain("refused 1"));
        // The client sees the refusal as a closed connection, or as a reset while its connect is still finishing.
        Assert.That(error, Does.Contain("the server closed a connection").Or.Contain("cannot connect"));
    }

    [TestCase("client", "client needs --port")]
    [TestCase("server --threads 0", "--threads: '0' is not a whole number in 1..64")]
    [TestCase("run --seconds 9999", "--seconds: '9999' is not a number in 0.1..600")]
    [TestCase("serve", "unknown command 'serve'")]
    [TestCase("run --impl epoll", "--impl: 'epoll' is neither uring nor sockets")]
    public void BadArgumentsExitWithUsage(string args, string message)
    {
        var (code, _, error) = Echo(args.Split(' '));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain(message).And.Contain("usage: echo"));
    }
}
