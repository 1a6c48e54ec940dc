using System.Text.RegularExpressions;

namespace Toolkit.Vm;

/// <summary>A kernel report found in the console: its kind and the lines that make it up.</summary>
public sealed record Splat(string Kind, int Line, IReadOnlyList<string> Text);

/// <summary>
/// Reads a guest console log: where init started and exec'd the command, whether the kernel
/// panicked, and every splat (BUG, WARNING, KASAN, lockdep, RCU stall, Oops) with its context,
/// so a run can fail on a dirty kernel even when the command passed.
/// </summary>
public static partial class ConsoleAnalyzer
{
    // Order matters: the first matching pattern names the splat.
    static readonly (string Kind, Regex Pattern)[] SplatPatterns =
    [
        ("KASAN", new Regex(@"\bBUG: KASAN:|\bKASAN: ", RegexOptions.Compiled)),
        ("lockdep",
            new Regex(@"possible circular locking dependency|possible recursive locking|inconsistent lock state|" +
                               @"WARNING: (suspicious RCU usage|lock held when returning)|BUG: sleeping function called from invalid context|" +
                               @"BUG: scheduling while atomic|BUG: MAX_LOCKDEP", RegexOptions.Compiled)),
        ("RCU stall", new Regex(@"rcu: INFO: rcu_\w+ (self-)?detected stalls?|RCU stall|rcu_sched detected stalls",
            RegexOptions.Compiled)),
        ("hung task", new Regex(@"INFO: task .* blocked for more than", RegexOptions.Compiled)),
        ("Oops", new Regex(@"\bOops\b|general protection fault|BUG: unable to handle", RegexOptions.Compiled)),
        ("BUG", new Regex(@"\bBUG:|kernel BUG at", RegexOptions.Compiled)),
        ("WARNING", new Regex(@"\bWARNING:|------------\[ cut here \]------------", RegexOptions.Compiled)),
    ];

    [GeneratedRegex(@"Kernel panic - not syncing: ?(.*)")]
    private static partial Regex PanicLine();
    [GeneratedRegex(@"^toolkit-init: (start|exec|exit|error)\b ?(.*)$")]
    private static partial Regex InitLine();
    [GeneratedRegex(@"^\[\s*\d+\.\d+\]\s?")]
    private static partial Regex Timestamp();

    public sealed record Result(bool InitStarted, bool CommandStarted, int? InitReportedExit, string? InitError,
        string? Panic, IReadOnlyList<Splat> Splats, string? Clocksource);

    public static Result Analyze(IReadOnlyList<string> lines)
    {
        bool started = false, exec = false;
        int? exit = null;
        string? initError = null, panic = null, clocksource = null;
        var splats = new List<Splat>();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = Timestamp().Replace(lines[i].TrimEnd('\r'), "");
            if (InitLine().Match(line) is { Success: true } m)
            {
                switch (m.Groups[1].Value)
                {
                    case "start":
                        started = true;
                        clocksource = Field(m.Groups[2].Value, "clocksource");
                        break;
                    case "exec": exec = true; break;
                    case "exit": exit = int.TryParse(m.Groups[2].Value.Trim(), out var e) ? e : null; break;
                    case "error": initError = m.Groups[2].Value; break;
                }
                continue;
            }
            if (PanicLine().Match(line) is { Success: true } p)
            {
                panic ??= p.Groups[1].Value.Trim();
                continue;
            }
            var kind = Classify(line);
            if (kind == null) continue;
            // A "cut here" marker is followed by the actual WARNING/BUG line: classify by that.
            var text = Context(lines, i);
            if (line.Contains("[ cut here ]") && i + 1 < lines.Count && Classify(Timestamp().Replace(lines[i + 1],
                "")) is { } next)
            {
                kind = next;
                i++;
            }
            splats.Add(new Splat(kind, i + 1, text));
            // Skip the rest of this report so one splat is reported once.
            while (i + 1 < lines.Count && !IsReportEnd(lines[i])) i++;
        }
        return new Result(started, exec, exit, initError, panic, splats, clocksource);
    }

    public static string? Classify(string line)
    {
        foreach (var (kind, pattern) in SplatPatterns)
            if (pattern.IsMatch(line)) return kind;
        return null;
    }

    static bool IsReportEnd(string line) =>
        line.Contains("---[ end trace")
            || line.Contains("==================================================================")
                && !line.Contains("BUG");

    static List<string> Context(IReadOnlyList<string> lines, int i)
    {
        var result = new List<string>();
        for (var j = i; j < lines.Count && j < i + 40; j++)
        {
            result.Add(lines[j]);
            if (j > i && IsReportEnd(lines[j])) break;
        }
        return result;
    }

    static string? Field(string text, string name)
    {
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (part.StartsWith(name + "=", StringComparison.Ordinal)) return part[(name.Length + 1)..];
        return null;
    }
}
