using System.Globalization;
using System.Text;

namespace Toolkit.Bench;

/// <summary>
/// Writes the docs/*-benchmark.md reports: the common head (title, how the file was written, the environment
/// bullets), Markdown tables and prose, every number formatted with the invariant culture. Every runner of
/// `toolkit bench` renders its result with it.
/// </summary>
public sealed class BenchMarkdown
{
    /// <summary>The <c>--output</c> option of a benchmark command: the report's path, by default docs/NAME.</summary>
    public static System.CommandLine.Option<string> OutputOption(string docName) => new("--output")
    {
        Description = "Markdown report",
        DefaultValueFactory = _ => Path.Combine(Toolkit.Infra.Paths.RepoRoot, "docs", docName),
    };

    readonly StringBuilder _text = new();

    /// <summary>Title, the "Written by" line naming the command, then one bullet per environment fact.</summary>
    public BenchMarkdown Head(string title, string writtenBy, IEnumerable<string> environment)
    {
        Line($"# {title}").Line().Line(writtenBy).Line();
        foreach (var fact in environment) Bullet(fact);
        return Line();
    }

    public BenchMarkdown Heading(string text) => Line($"## {text}").Line();

    public BenchMarkdown Line(string text = "")
    {
        _text.Append(text).Append('\n');
        return this;
    }

    /// <summary>Text without a line end, for a paragraph built from several pieces.</summary>
    public BenchMarkdown Text(string text)
    {
        _text.Append(text);
        return this;
    }

    public BenchMarkdown Bullet(string text) => Line($"- {text}");

    /// <summary>
    /// A table head: the column titles and, per column, its separator cell ("---", "---:"); some reports write
    /// the separator row compact ("|---|---:|").
    /// </summary>
    public BenchMarkdown TableHead(IReadOnlyList<string> columns, IReadOnlyList<string> separators,
        bool compactSeparators = false)
        => Row(columns).Row(separators, spaced: !compactSeparators);

    /// <summary>
    /// One table row; <paramref name="spaced"/> false writes "|a|b|", the compact form of separator rows.
    /// </summary>
    public BenchMarkdown Row(IEnumerable<string> cells, bool spaced = true)
        => Line(spaced ? $"| {string.Join(" | ", cells)} |" : $"|{string.Join("|", cells)}|");

    public override string ToString() => _text.ToString();

    /// <summary>
    /// One line of prose from a source-wrapped (raw string) literal: the source's line breaks become spaces, so
    /// the text can be wrapped to the source's width and still be one Markdown paragraph line.
    /// </summary>
    public static string Unwrap(string text) => string.Join(' ', text.Split('\n').Select(l => l.Trim()));

    /// <summary>Invariant-culture interpolation: a report reads the same on every machine.</summary>
    public static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes the report through a temporary file so a reader never sees half of it. With
    /// <paramref name="keepNotes"/>, a hand-written "## Notes" section at the end of the old file is kept.
    /// </summary>
    public static void Save(string path, string markdown, bool keepNotes = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var notes = "";
        if (keepNotes && File.Exists(path))
        {
            var previous = File.ReadAllText(path);
            var notesAt = previous.IndexOf("\n## Notes", StringComparison.Ordinal);
            notes = notesAt >= 0 ? previous[notesAt..] : "";
        }
        File.WriteAllText(path + ".tmp", markdown + notes);
        File.Move(path + ".tmp", path, true);
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        var middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>The "model name" of the host's first CPU, or "unknown".</summary>
    public static string CpuModel() => File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
            ?.Split(':', 2)[1].Trim() ?? "unknown"
        : "unknown";

    public static string HostKernel() => File.Exists("/proc/sys/kernel/osrelease")
        ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim()
        : "unknown";
}
