using System.Globalization;

namespace Echo;

/// <summary>The command line, checked: every number has a range, so a run is bounded in time and connections.</summary>
sealed record Options
{
    public string Command { get; init; } = "";
    public string Impl { get; init; } = "uring";
    public int Port { get; init; }
    public int Threads { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 64);
    public double Seconds { get; init; } = 5;
    public int Connections { get; init; } = 32;
    public int MaxConnections { get; init; } = 1024;
    public int Size { get; init; } = 64;

    public const string Usage = """
        usage: echo server [--impl uring|sockets] [--port P] [--threads N] [--seconds S] [--max-connections M]
               echo client --port P [--connections C] [--seconds S] [--size B]
               echo run    [--impl uring|sockets] [--threads N] [--connections C] [--seconds S] [--size B]
        Loopback (127.0.0.1) only. server: serves for S seconds (0.1..3600, default 5), at most M connections at once
        (1..10000, default 1024; more are closed at once), N threads (1..64, default: cores); --port 0 picks one.
        client: C connections (1..1000, default 32), each sending B bytes (1..65536, default 64) and waiting for the
        echo, for S seconds (0.1..600); prints requests/s, p50 and p99. run: a server and a client in one process.
        """;

    /// <summary>Parses <paramref name="args"/>; an <see cref="ArgumentException"/> names what is wrong.</summary>
    public static Options Parse(string[] args)
    {
        if (args.Length == 0) throw new ArgumentException("no command");
        var o = new Options { Command = args[0] };
        if (o.Command is not ("server" or "client" or "run"))
            throw new ArgumentException($"unknown command '{args[0]}'");
        var portGiven = false;
        for (var i = 1; i < args.Length; i++)
        {
            var name = args[i];
            var value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            o = name switch
            {
                "--impl" => o with
                {
                    Impl = value is "uring" or "sockets" ? value
                    : throw new ArgumentException($"--impl: '{value}' is neither uring nor sockets")
                },
                "--port" => o with { Port = Int(name, value, 0, 65535) },
                "--threads" => o with { Threads = Int(name, value, 1, 64) },
                "--seconds" => o with { Seconds = ParseSeconds(value, o.Command == "server" ? 3600 : 600) },
                "--connections" => o with { Connections = Int(name, value, 1, 1000) },
                "--max-connections" => o with { MaxConnections = Int(name, value, 1, 10000) },
                "--size" => o with { Size = Int(name, value, 1, 65536) },
                _ => throw new ArgumentException($"unknown option '{name}'"),
            };
            portGiven |= name == "--port";
        }
        if (o.Command == "client" && (!portGiven || o.Port == 0))
            throw new ArgumentException("client needs --port P (1..65535)");
        return o;
    }

    static int Int(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max ? n
            : throw new ArgumentException($"{name}: '{value}' is not a whole number in {min}..{max}");

    static double ParseSeconds(string value, double max) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var s) && s >= 0.1 &&
            s <= max ? s : throw new ArgumentException($"--seconds: '{value}' is not a number in 0.1..{max}");
}
