using System.Globalization;

namespace Toolkit.Contract;

/// <summary>
/// The lines the guest prints on the serial console so the host can follow a run as it happens:
/// "toolkit-suite: run SUITE/NAME" before a test starts (a kernel crash is attributed to the last one
/// without a result), "toolkit-suite: pass|fail|skip|timeout|crash SUITE/NAME (S s)[: message]" when it
/// ends, and "toolkit-suite: TEXT" for other progress (kmemleak scans). Any such line counts as
/// progress for the host's no-progress watchdog (<see cref="Prefix"/>).
/// </summary>
public static class ConsoleMarkers
{
    public const string Prefix = "toolkit-suite: ";
    const string RunWord = "run ";

    public static string Run(string suite, string name) => $"{Prefix}{RunWord}{suite}/{name}";

    public static string Finished(TestCaseResult r) =>
        $"{Prefix}{r.Outcome.ToString().ToLowerInvariant()} {r.Suite}/{r.Name} " +
        $"({r.Seconds.ToString("F2", CultureInfo.InvariantCulture)} s)" +
        (r.Message != null ? $": {r.Message.Split('\n')[0]}" : "");

    public static string Note(string text) => Prefix + text.TrimEnd();

    /// <summary>The text after the prefix, or null when the line is not a marker.</summary>
    public static string? Body(string line) =>
        line.StartsWith(Prefix, StringComparison.Ordinal) ? line[Prefix.Length..] : null;

    /// <summary>"SUITE/NAME" of a run marker, or null.</summary>
    public static string? RunTarget(string line) =>
        Body(line) is { } b && b.StartsWith(RunWord, StringComparison.Ordinal) ? b[RunWord.Length..] : null;

    /// <summary>Suite and name of a run marker ("toolkit-suite: run SUITE/NAME"), or null.</summary>
    public static (string Suite, string Name)? ParseRun(string line)
    {
        var target = RunTarget(line);
        var slash = target?.IndexOf('/') ?? -1;
        if (target == null || slash <= 0 || slash == target.Length - 1) return null;
        return (target[..slash], target[(slash + 1)..].Trim());
    }

    /// <summary>
    /// The result a finished marker (<see cref="Finished"/>) carries, or null for any other line: how a guest
    /// that has no file share with the host (Bochs) still reports results the host can write as KTAP.
    /// </summary>
    public static TestCaseResult? ParseFinished(string line)
    {
        if (Body(line) is not { } body) return null;
        var space = body.IndexOf(' ');
        if (space <= 0 || !Enum.TryParse<Outcome>(body[..space], ignoreCase: true, out var outcome) ||
            body[..space] != body[..space].ToLowerInvariant())
            return null;
        var rest = body[(space + 1)..];
        var open = rest.IndexOf(" (", StringComparison.Ordinal);
        var close = open < 0 ? -1 : rest.IndexOf(" s)", open, StringComparison.Ordinal);
        if (close < 0) return null;
        var target = rest[..open];
        var slash = target.IndexOf('/');
        if (slash <= 0 || slash == target.Length - 1 || target.Contains(' ') ||
            !double.TryParse(rest[(open + 2)..close], NumberStyles.Float, CultureInfo.InvariantCulture, out var s))
            return null;
        var tail = rest[(close + 3)..];
        var message = tail.StartsWith(": ", StringComparison.Ordinal) ? tail[2..] : null;
        return new TestCaseResult(target[..slash], target[(slash + 1)..], outcome, s, message);
    }

    /// <summary>Whether a marker's body starts with this word ("pass", "skip", "kmemleak scan", ...).</summary>
    public static bool Is(string line, string word) =>
        Body(line) is { } b && b.StartsWith(word, StringComparison.Ordinal) &&
        (b.Length == word.Length || b[word.Length] == ' ');
}
