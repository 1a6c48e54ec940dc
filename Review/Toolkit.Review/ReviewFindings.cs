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
public static partial class ReviewFindings
{
    // gcc and sparse: "path:line:col: warning: text"; kernel-doc: "path:line: warning: text".
    [GeneratedRegex(@"^(?<path>[^\s:][^:]*):(?<line>\d+):(?:(?<col>\d+):)?\s*(?<kind>warning|error|fatal error|note|info):\s*(?<text>.*)$")]
    private static partial Regex DiagLine();

    /// <summary>
    /// The diagnostics in <paramref name="output"/>, with paths relative to <paramref name="tree"/> so they read
    /// like the patch's (io_uring/io_uring.c). Relative paths are resolved from <paramref name="cwd"/> (the
    /// compiler's directory): ccache with CCACHE_BASEDIR hands gcc paths like ../../src/linux-source-6.12/x.c.
    /// </summary>
    public static List<Diagnostic> Parse(string output, string? tree = null, bool withColumnOnly = false,
        string? cwd = null)
    {
        var list = new List<Diagnostic>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var m = DiagLine().Match(line);
            if (!m.Success) continue;
            var kind = m.Groups["kind"].Value;
            if (kind is "note" or "info") continue; // context for the previous message, not a finding
            if (withColumnOnly && !m.Groups["col"].Success) continue;
            list.Add(new Diagnostic(TreePath(m.Groups["path"].Value, tree, cwd), int.Parse(m.Groups["line"].Value),
                kind, m.Groups["text"].Value.Trim()));
        }
        return list;
    }

    static string TreePath(string path, string? tree, string? cwd)
    {
        if (tree == null) return path;
        var full = Path.IsPathRooted(path) ? path : cwd != null ? Path.GetFullPath(Path.Combine(cwd,
            path)) : Path.Combine(tree, path);
        var rel = Path.GetRelativePath(tree, full);
        return rel.StartsWith("..", StringComparison.Ordinal) ? path : rel;
    }

    /// <summary>The diagnostics of <paramref name="after"/> that <paramref name="before"/> does not have (counting
    /// repeats).</summary>
    public static List<Diagnostic> Added(IEnumerable<Diagnostic> before, IEnumerable<Diagnostic> after)
    {
        var had = before.GroupBy(d => d.Key).ToDictionary(g => g.Key, g => g.Count());
        // Which of several equal messages is the new one cannot be told: all of them are shown, once each.
        return after.GroupBy(d => d.Key).Where(g => g.Count() > had.GetValueOrDefault(g.Key))
            .SelectMany(g => g.Distinct()).ToList();
    }
}
