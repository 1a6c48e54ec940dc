using System.Text;
using System.Text.RegularExpressions;

namespace Toolkit.Reports;

/// <summary>
/// KTAP version 1 (the kernel's test-result format, as KUnit and kselftest print it): one
/// top-level test per suite, each suite's tests nested and indented by four spaces.
/// </summary>
public static partial class Ktap
{
    public static string Write(IReadOnlyList<SuiteResult> suites, IEnumerable<string>? header = null)
    {
        var sb = new StringBuilder();
        sb.Append("KTAP version 1\n");
        foreach (var h in header ?? []) sb.Append($"# {h}\n");
        sb.Append($"1..{suites.Count}\n");
        for (var i = 0; i < suites.Count; i++)
        {
            var s = suites[i];
            sb.Append($"    KTAP version 1\n    # Subtest: {Clean(s.Name)}\n    1..{s.Tests.Count}\n");
            for (var j = 0; j < s.Tests.Count; j++)
            {
                var t = s.Tests[j];
                foreach (var diag in Diagnostics(t)) sb.Append($"    # {diag}\n");
                sb.Append($"    {Result(t.Outcome != Outcome.Skip && t.Failed ? false : true)} {j + 1} {Clean(t.Name)}");
                if (t.Outcome == Outcome.Skip) sb.Append($" # SKIP {Clean(t.Message ?? "")}".TrimEnd());
                sb.Append('\n');
            }
            sb.Append($"# {Clean(s.Name)}: pass:{s.Passed} fail:{s.Failed} skip:{s.Skipped} total:{s.Tests.Count}\n");
            var suiteOk = s.Failed == 0;
            sb.Append($"{Result(suiteOk)} {i + 1} {Clean(s.Name)}");
            if (s.Tests.Count > 0 && s.Skipped == s.Tests.Count) sb.Append(" # SKIP all tests skipped");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    static IEnumerable<string> Diagnostics(TestCaseResult t)
    {
        if (t.Outcome == Outcome.Timeout) yield return $"{Clean(t.Name)}: timed out after {t.Seconds:F1} s";
        if (t.Outcome == Outcome.Crash) yield return $"{Clean(t.Name)}: crashed the guest kernel";
        if (t.Failed && !string.IsNullOrEmpty(t.Message))
            foreach (var l in t.Message.Split('\n').Take(10)) yield return Clean(l);
    }

    static string Result(bool ok) => ok ? "ok" : "not ok";

    /// <summary>Test names and diagnostics must stay on one line and not contain the '#' directive marker.</summary>
    static string Clean(string s) => s.Replace('\n', ' ').Replace('\r', ' ').Replace('#', '_').Trim();

    [GeneratedRegex(@"^(\s*)(ok|not ok) (\d+)(?: (?:- )?([^#]*?))?\s*(?:#\s*(SKIP|TODO)\b\s*(.*))?$")]
    private static partial Regex ResultLine();
    [GeneratedRegex(@"^(\s*)KTAP version (\d+)$")]
    private static partial Regex VersionLine();
    [GeneratedRegex(@"^(\s*)1\.\.(\d+)$")]
    private static partial Regex PlanLine();

    public sealed record Node(string Name, bool Ok, string? Directive, string? Reason, int Number, IReadOnlyList<Node> Children, int? Plan);

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
        var root = ParseLevel(lines, ref i, VersionLine().Match(lines[i]).Groups[1].Value.Length, out var plan);
        return new Node("(root)", root.All(n => n.Ok), null, null, 0, root, plan);
    }

    static List<Node> ParseLevel(string[] lines, ref int i, int indent, out int? plan)
    {
        plan = null;
        var nodes = new List<Node>();
        i++; // past "KTAP version"
        List<Node>? pendingChildren = null;
        int? pendingPlan = null;
        while (i < lines.Length)
        {
            var line = lines[i];
            var lineIndent = line.Length - line.TrimStart().Length;
            if (VersionLine().Match(line) is { Success: true } v && v.Groups[1].Value.Length > indent)
            {
                pendingChildren = ParseLevel(lines, ref i, v.Groups[1].Value.Length, out pendingPlan);
                continue;
            }
            if (lineIndent < indent && (ResultLine().IsMatch(line) || VersionLine().IsMatch(line))) return nodes;
            if (lineIndent == indent && PlanLine().Match(line) is { Success: true } p) plan = int.Parse(p.Groups[2].Value);
            else if (lineIndent == indent && ResultLine().Match(line) is { Success: true } r)
            {
                var number = int.Parse(r.Groups[3].Value);
                if (number != nodes.Count + 1)
                    throw new FormatException($"line {i + 1}: test number {number} where {nodes.Count + 1} was expected");
                var directive = r.Groups[5].Success ? r.Groups[5].Value : null;
                nodes.Add(new Node(r.Groups[4].Value.Trim(), r.Groups[2].Value == "ok", directive,
                    directive != null ? r.Groups[6].Value.Trim() : null, number, pendingChildren ?? [], pendingPlan));
                pendingChildren = null;
                pendingPlan = null;
            }
            i++;
        }
        return nodes;
    }
}
