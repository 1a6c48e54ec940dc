using System.Text.RegularExpressions;

namespace Toolkit.Review;

/// <summary>One compiler, sparse or kernel-doc message: file:line[:col]: kind: text.</summary>
public sealed record Diagnostic(string File, int Line, string Kind, string Text)
{
    public override string ToString() => $"{File}:{Line}: {Kind}: {Text}";
    /// <summary>What stays the same when a patch only moves the code: line numbers are left out.</summary>
    public string Key => $"{File}\u0001{Kind}\u0001{Text}";
}

/// <summary>
/// Parses tool output into diagnostics and tells which ones a patch added. Comparison is by
/// (file, kind, text) with multiplicity and without line numbers, because a patch that inserts
/// lines shifts every later warning; the new ones are reported at their post-patch line.
/// </summary>
public static partial class Diagnostics
{
    // gcc and sparse: "path:line:col: warning: text"; kernel-doc: "path:line: warning: text".
    [GeneratedRegex(@"^(?:\.\./)*(?<file>[^\s:][^:]*):(?<line>\d+):(?:(?<col>\d+):)?\s*(?<kind>warning|error|fatal error|note|info):\s*(?<text>.*)$")]
    private static partial Regex DiagLine();

    /// <summary>
    /// The diagnostics in <paramref name="output"/>. <paramref name="trimPrefix"/> (the source tree's
    /// absolute path) is removed so paths read like the patch's (io_uring/io_uring.c).
    /// </summary>
    public static List<Diagnostic> Parse(string output, string? trimPrefix = null, bool withColumnOnly = false)
    {
        var list = new List<Diagnostic>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (trimPrefix != null) line = line.Replace(trimPrefix.TrimEnd('/') + "/", "");
            var m = DiagLine().Match(line);
            if (!m.Success) continue;
            var kind = m.Groups["kind"].Value;
            if (kind is "note" or "info") continue; // context for the previous message, not a finding
            if (withColumnOnly && !m.Groups["col"].Success) continue;
            list.Add(new Diagnostic(m.Groups["file"].Value, int.Parse(m.Groups["line"].Value), kind, m.Groups["text"].Value.Trim()));
        }
        return list;
    }

    /// <summary>The diagnostics of <paramref name="after"/> that <paramref name="before"/> does not have (counting repeats).</summary>
    public static List<Diagnostic> Added(IEnumerable<Diagnostic> before, IEnumerable<Diagnostic> after)
    {
        var had = before.GroupBy(d => d.Key).ToDictionary(g => g.Key, g => g.Count());
        // Which of several equal messages is the new one cannot be told: all of them are shown, once each.
        return after.GroupBy(d => d.Key).Where(g => g.Count() > had.GetValueOrDefault(g.Key))
            .SelectMany(g => g.Distinct()).ToList();
    }
}
