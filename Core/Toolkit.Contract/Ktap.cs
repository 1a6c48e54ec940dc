using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Toolkit.Contract;

/// <summary>
/// KTAP version 1 (the kernel's test-result format, as KUnit and kselftest print it), the one results
/// format of the toolkit: the guest streams it (<see cref="KtapStream"/>), the host reads it back
/// (<see cref="ReadResults"/>) and writes its reports with it (<see cref="Write"/>). One top-level test
/// per suite, each suite's tests nested and indented by four spaces. A test's details are diagnostic
/// lines just before its result line, so nothing but KTAP is needed to rebuild a
/// <see cref="TestCaseResult"/>: "# duration: S s", "# message: LINE" and "# output: LINE" (one per line);
/// a skip's reason is the SKIP directive's, a timeout is "not ok ... # TIMEOUT", a crash "# ERROR".
/// </summary>
public static partial class Ktap
{
    public const string VersionLineText = "KTAP version 1";
    const string Indent = "    ";
    const string DurationKey = "duration: ";
    const string MessageKey = "message: ";
    const string OutputKey = "output: ";
    const string SubtestKey = "Subtest: ";

    /// <summary>A whole KTAP document: header comments, the plan, every suite with its plan and tests.</summary>
    public static string Write(IReadOnlyList<SuiteResult> suites, IEnumerable<string>? header = null)
    {
        var sb = new StringBuilder();
        sb.Append(VersionLineText).Append('\n');
        foreach (var h in header ?? []) sb.Append($"# {h}\n");
        sb.Append($"1..{suites.Count}\n");
        for (var i = 0; i < suites.Count; i++)
        {
            var s = suites[i];
            sb.Append(SuiteStart(s.Name, s.Tests.Count));
            for (var j = 0; j < s.Tests.Count; j++) sb.Append(TestLines(s.Tests[j], j + 1));
            sb.Append(SuiteEnd(s, i + 1));
        }
        return sb.ToString();
    }

    /// <summary>Opens a suite's nested subtest; its plan only when known in advance.</summary>
    internal static string SuiteStart(string name, int? plan) =>
        $"{Indent}{VersionLineText}\n{Indent}# {SubtestKey}{Clean(name)}\n" +
        (plan != null ? $"{Indent}1..{plan}\n" : "");

    internal static string SuiteEnd(SuiteResult s, int number)
    {
        var name = Clean(s.Name);
        var line = $"# {name}: pass:{s.Passed} fail:{s.Failed} skip:{s.Skipped} total:{s.Tests.Count}\n" +
                   $"{Result(s.Failed == 0)} {number} {name}";
        if (s.Tests.Count > 0 && s.Skipped == s.Tests.Count) line += " # SKIP all tests skipped";
        return line + "\n";
    }

    /// <summary>One test, nested one level: its diagnostic lines, then its result line.</summary>
    internal static string TestLines(TestCaseResult t, int number)
    {
        var sb = new StringBuilder();
        var name = Clean(t.Name);
        if (t.Outcome == Outcome.Timeout) sb.Append($"{Indent}# {name}: timed out after {S(t.Seconds, "F1")} s\n");
        if (t.Outcome == Outcome.Crash) sb.Append($"{Indent}# {name}: crashed the guest kernel\n");
        sb.Append($"{Indent}# {DurationKey}{S(t.Seconds, "R")} s\n");
        // A one-line skip reason is the directive's; anything longer is kept line by line.
        if (t.Message != null && (t.Outcome != Outcome.Skip || t.Message.Contains('\n')))
            foreach (var l in Lines(t.Message)) sb.Append(Diagnostic(MessageKey, l));
        if (!string.IsNullOrEmpty(t.Output))
            foreach (var l in Lines(t.Output)) sb.Append(Diagnostic(OutputKey, l));
        sb.Append($"{Indent}{Result(!t.Failed)} {number} {name}");
        sb.Append(t.Outcome switch
        {
            Outcome.Skip => $" # SKIP {Clean(t.Message ?? "")}".TrimEnd(),
            Outcome.Timeout => " # TIMEOUT",
            Outcome.Crash => " # ERROR crashed the guest kernel",
            _ => "",
        });
        return sb.Append('\n').ToString();
    }

    /// <summary>"# key: value", or "# key:" for an empty line, so no line ends in a space.</summary>
    static string Diagnostic(string key, string value) =>
        value.Length == 0 ? $"{Indent}# {key.TrimEnd()}\n" : $"{Indent}# {key}{value}\n";

    static IEnumerable<string> Lines(string s) => s.Replace("\r", "").TrimEnd('\n').Split('\n');

    static string S(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    static string Result(bool ok) => ok ? "ok" : "not ok";

    /// <summary>Test names and directives must stay on one line and not contain the '#' directive marker.</summary>
    internal static string Clean(string s) => s.Replace('\n', ' ').Replace('\r', ' ').Replace('#', '_').Trim();

    // The directives KTAP v1 defines; a reader falls back to ok / not ok for the rest.
    const string ResultPattern =
        @"^(\s*)(ok|not ok) (\d+)(?: (?:- )?([^#]*?))?\s*(?:#\s*(SKIP|TODO|XFAIL|TIMEOUT|ERROR)\b\s*(.*))?$";

    [GeneratedRegex(ResultPattern)]
    private static partial Regex ResultLine();
    [GeneratedRegex(@"^(\s*)KTAP version (\d+)$")]
    private static partial Regex VersionLine();
    [GeneratedRegex(@"^(\s*)1\.\.(\d+)$")]
    private static partial Regex PlanLine();
    [GeneratedRegex(@"^(\s*)#")]
    private static partial Regex DiagnosticLine();

    /// <summary>
    /// A test in the tree. <see cref="Diagnostics"/> are the "#" lines just before its result line (without
    /// the "# "); <see cref="Complete"/> is false for a subtest whose result line never came (the writer died).
    /// </summary>
    public sealed record Node(string Name, bool Ok, string? Directive, string? Reason, int Number,
        IReadOnlyList<Node> Children, int? Plan)
    {
        public IReadOnlyList<string> Diagnostics { get; init; } = [];
        public bool Complete { get; init; } = true;
    }

    /// <summary>
    /// Parses KTAP (v1, nested by indentation) into a tree. Lines that are not KTAP (kernel messages
    /// interleaved on a console) are ignored; a result whose number does not follow the previous one is an error.
    /// </summary>
    public static Node Parse(string text)
    {
        var lines = text.Replace("\r", "").Split('\n');
        var i = 0;
        while (i < lines.Length && !VersionLine().IsMatch(lines[i])) i++;
        if (i == lines.Length) throw new FormatException("no 'KTAP version' line");
        var level = ParseLevel(lines, ref i, VersionLine().Match(lines[i]).Groups[1].Value.Length);
        return new Node("(root)", level.Nodes.All(n => n.Ok), null, null, 0, level.Nodes, level.Plan);
    }

    sealed record Level(List<Node> Nodes, int? Plan, string? Subtest, List<string> Pending);

    static Level ParseLevel(string[] lines, ref int i, int indent)
    {
        var level = new Level([], null, null, []);
        i++; // past "KTAP version"
        Level? nested = null;
        while (i < lines.Length)
        {
            var line = lines[i];
            var lineIndent = line.Length - line.TrimStart().Length;
            if (VersionLine().Match(line) is { Success: true } v && v.Groups[1].Value.Length > indent)
            {
                if (nested != null) level.Nodes.Add(Unfinished(nested, level.Nodes.Count + 1));
                nested = ParseLevel(lines, ref i, v.Groups[1].Value.Length);
                continue;
            }
            if (lineIndent < indent && (ResultLine().IsMatch(line) || VersionLine().IsMatch(line))) break;
            if (lineIndent == indent && PlanLine().Match(line) is { Success: true } p)
                level = level with { Plan = int.Parse(p.Groups[2].Value, CultureInfo.InvariantCulture) };
            else if (lineIndent == indent && DiagnosticLine().IsMatch(line))
            {
                var diag = line.TrimStart()[1..];
                diag = diag.StartsWith(' ') ? diag[1..] : diag;
                if (diag.StartsWith(SubtestKey, StringComparison.Ordinal) && level.Nodes.Count == 0)
                    level = level with { Subtest = diag[SubtestKey.Length..].Trim() };
                else level.Pending.Add(diag);
            }
            else if (lineIndent == indent && ResultLine().Match(line) is { Success: true } r)
            {
                var number = int.Parse(r.Groups[3].Value, CultureInfo.InvariantCulture);
                if (number != level.Nodes.Count + 1)
                    throw new FormatException(
                        $"line {i + 1}: test number {number} where {level.Nodes.Count + 1} was expected");
                var directive = r.Groups[5].Success ? r.Groups[5].Value : null;
                level.Nodes.Add(new Node(r.Groups[4].Value.Trim(), r.Groups[2].Value == "ok", directive,
                    directive != null ? r.Groups[6].Value.Trim() : null, number, nested?.Nodes ?? [], nested?.Plan)
                {
                    Diagnostics = [.. level.Pending],
                });
                level.Pending.Clear();
                nested = null;
            }
            i++;
        }
        if (nested != null) level.Nodes.Add(Unfinished(nested, level.Nodes.Count + 1));
        return level;
    }

    /// <summary>A subtest that was opened but never got its result line: not ok, and marked incomplete.</summary>
    static Node Unfinished(Level nested, int number) =>
        new(nested.Subtest ?? "(unnamed)", false, null, null, number, nested.Nodes, nested.Plan) { Complete = false };

    /// <summary>What a results file held: the results, the suites left open and the torn last line, if any.</summary>
    public sealed record Results(List<TestCaseResult> Tests, IReadOnlyList<string> OpenSuites, string? TornLine,
        int Lines)
    {
        public static Results Empty { get; } = new([], [], null, 0);

        /// <summary>One line for a report: what was incomplete about the file, or null when it was whole.</summary>
        public string? Problem(string file)
        {
            var parts = new List<string>();
            if (TornLine != null) parts.Add($"its last line (line {Lines + 1}) is torn, ignored: '{TornLine}'");
            if (OpenSuites.Count > 0) parts.Add($"suite(s) {string.Join(", ", OpenSuites)} never finished");
            return parts.Count == 0 ? null : $"{file}: {string.Join("; ", parts)} (the guest stopped mid-run)";
        }
    }

    /// <summary>
    /// Reads a results file the guest wrote (a missing file holds nothing). A torn last line (no newline: the
    /// guest died mid-write) is dropped and reported in <see cref="Results.TornLine"/>; any other line that is
    /// not KTAP is a <see cref="FormatException"/> naming the file and line.
    /// </summary>
    public static Results ReadResults(string path) =>
        File.Exists(path) ? ParseResults(File.ReadAllText(path), path) : Results.Empty;

    public static Results ParseResults(string text, string source)
    {
        text = text.Replace("\r", "");
        string? torn = null;
        var end = text.LastIndexOf('\n');
        if (end < text.Length - 1)
        {
            torn = text[(end + 1)..];
            text = text[..(end + 1)];
        }
        var lines = text.Split('\n')[..^1];
        if (lines.Length == 0) return Results.Empty with { TornLine = torn };
        for (var n = 0; n < lines.Length; n++)
        {
            var l = lines[n];
            if (l.Trim().Length == 0 || VersionLine().IsMatch(l) || PlanLine().IsMatch(l) ||
                DiagnosticLine().IsMatch(l) || ResultLine().IsMatch(l))
                continue;
            throw new FormatException($"{source}:{n + 1}: not a KTAP line: '{l}'");
        }
        if (!VersionLine().IsMatch(lines[0]))
            throw new FormatException($"{source}:1: does not start with '{VersionLineText}'");
        Node root;
        try { root = Parse(text); }
        catch (FormatException e) { throw new FormatException($"{source}: {e.Message}", e); }
        var open = root.Children.Where(s => !s.Complete).Select(s => s.Name).ToList();
        return new Results(ToResults(root), open, torn, lines.Length);
    }

    /// <summary>The results in a parsed tree: each top-level node is a suite, its children the tests.</summary>
    public static List<TestCaseResult> ToResults(Node root) =>
        [.. root.Children.SelectMany(suite => suite.Children.Select(t => ToResult(suite.Name, t)))];

    static TestCaseResult ToResult(string suite, Node t)
    {
        double seconds = 0;
        var message = new List<string>();
        var output = new List<string>();
        foreach (var d in t.Diagnostics)
        {
            if (d.StartsWith(DurationKey, StringComparison.Ordinal))
                double.TryParse(d[DurationKey.Length..].Replace(" s", ""), NumberStyles.Float,
                    CultureInfo.InvariantCulture, out seconds);
            else if (Value(d, MessageKey) is { } m) message.Add(m);
            else if (Value(d, OutputKey) is { } o) output.Add(o);
        }
        var outcome = (t.Ok, t.Directive) switch
        {
            (true, "SKIP") => Outcome.Skip,
            (true, _) => Outcome.Pass,
            (false, "TIMEOUT") => Outcome.Timeout,
            (false, "ERROR") => Outcome.Crash,
            _ => Outcome.Fail,
        };
        var text = message.Count > 0 ? string.Join('\n', message)
            : outcome == Outcome.Skip && !string.IsNullOrEmpty(t.Reason) ? t.Reason : null;
        return new TestCaseResult(suite, t.Name, outcome, seconds, text,
            output.Count > 0 ? string.Join('\n', output) : null);
    }

    /// <summary>"key: value" (or a bare "key:" for an empty line) → value; null for another key.</summary>
    static string? Value(string diag, string key) =>
        diag.StartsWith(key, StringComparison.Ordinal) ? diag[key.Length..]
        : diag == key.TrimEnd() ? "" : null;
}
