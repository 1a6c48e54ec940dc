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

    /// <summary>Whether a marker's body starts with this word ("pass", "skip", "kmemleak scan", ...).</summary>
    public static bool Is(string line, string word) =>
        Body(line) is { } b && b.StartsWith(word, StringComparison.Ordinal) &&
        (b.Length == word.Length || b[word.Length] == ' ');
}
