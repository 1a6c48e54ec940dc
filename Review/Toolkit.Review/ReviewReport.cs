using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Toolkit.Reports;

namespace Toolkit.Review;

/// <summary>
/// A check's verdict, as NIPA grades them. Info is for results that are reported but never gate
/// (whether the patch also applies to 6.1); Skip when the check could not run (an earlier step failed).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict { Pass, Info, Skip, Warn, Fail }

/// <summary>One check on one patch (or on the series: Target "series").</summary>
public sealed record CheckResult(string Check, string Target, Verdict Verdict, string Summary,
    IReadOnlyList<string> Details, double Seconds)
{
    public static CheckResult Of(string check, string target, Verdict v, string summary,
        IEnumerable<string>? details = null, double seconds = 0) =>
        new(check, target, v, summary, (details ?? []).ToList(), Math.Round(seconds, 2));
}

/// <summary>The whole review: what was reviewed, every check's result, the overall verdict.</summary>
public sealed record ReviewReport(string Series, string Tree, string Package, IReadOnlyList<string> Patches,
    IReadOnlyList<CheckResult> Results, double Seconds)
{
    public const string SeriesTarget = "series";

    /// <summary>The kernel base the series was reviewed against (6.12, 7.3).</summary>
    public string Base { get; init; } = "";

    /// <summary>The worst gating verdict: Fail, else Warn, else Pass (Info and Skip do not gate).</summary>
    public Verdict Overall => Results.Any(r => r.Verdict == Verdict.Fail) ? Verdict.Fail
        : Results.Any(r => r.Verdict == Verdict.Warn) ? Verdict.Warn : Verdict.Pass;

    /// <summary>NIPA's convention: 0 pass, 250 warning, anything else a failure (here 1, as for every failed
    /// check).</summary>
    public int ExitCode => Overall switch
    {
        Verdict.Fail => ExitCodes.Failed,
        Verdict.Warn => ExitCodes.ReviewWarn,
        _ => ExitCodes.Ok,
    };

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(new
    {
        series = Series,
        tree = Tree,
        kernel_base = Base,
        package = Package,
        overall = Overall,
        exit_code = ExitCode,
        seconds = Math.Round(Seconds, 1),
        patches = Patches,
        results = Results,
    }, Json) + "\n";

    /// <summary>Terminal table: one row per patch (and the series), one column per check; findings listed
    /// below.</summary>
    public string Table()
    {
        var checks = Results.Select(r => r.Check).Distinct().ToList();
        var targets = Results.Select(r => r.Target).Distinct().ToList();
        var nameW = Math.Max(6, targets.Max(t => Short(t).Length));
        var colW = checks.ToDictionary(c => c, c => Math.Max(4, c.Length));
        var sb = new StringBuilder();
        sb.Append("patch".PadRight(nameW));
        foreach (var c in checks) sb.Append("  ").Append(c.PadRight(colW[c]));
        sb.AppendLine();
        sb.AppendLine(new string('-', nameW + checks.Sum(c => colW[c] + 2)));
        foreach (var t in targets)
        {
            sb.Append(Short(t).PadRight(nameW));
            foreach (var c in checks)
            {
                var r = Results.FirstOrDefault(x => x.Target == t && x.Check == c);
                sb.Append("  ").Append((r == null ? "" : r.Verdict.ToString().ToLowerInvariant()).PadRight(colW[c]));
            }
            sb.AppendLine();
        }
        foreach (var r in Results.Where(r => r.Verdict is Verdict.Warn or Verdict.Fail or Verdict.Info))
        {
            sb.AppendLine($"{r.Verdict.ToString().ToUpperInvariant()} {Short(r.Target)} {r.Check}: {r.Summary}");
            foreach (var d in r.Details.Take(12)) sb.AppendLine("    " + d);
            if (r.Details.Count > 12) sb.AppendLine($"    ... {r.Details.Count - 12} more in the JSON report");
        }
        sb.Append($"overall: {Overall.ToString().ToLowerInvariant()} (exit {ExitCode}), {Seconds:F0} s");
        return sb.ToString();
    }

    static string Short(string target) => target.Length > 40 ? target[..40] : target;

    /// <summary>JUnit: one testcase per check per patch; warnings pass with the finding in system-out, Skip is
    /// skipped.</summary>
    public string JUnitXml()
    {
        var suites = Results.GroupBy(r => r.Target).Select(g => new SuiteResult("review/" + g.Key, g.Select(r =>
            new TestCaseResult("review/" + g.Key, r.Check,
                r.Verdict switch { Verdict.Fail => Outcome.Fail, Verdict.Skip => Outcome.Skip, _ => Outcome.Pass },
                r.Seconds,
                r.Verdict is Verdict.Fail or Verdict.Skip ? Text(r) : null,
                r.Verdict is Verdict.Warn or Verdict.Info or Verdict.Pass ? Text(r) : null)).ToList())).ToList();
        return JUnit.Write(suites, new Dictionary<string, string>
        {
            ["series"] = Series,
            ["base"] = Base,
            ["package"] = Package,
        });
    }

    static string Text(CheckResult r) => $"{r.Verdict.ToString().ToLowerInvariant()}: {r.Summary}" +
        (r.Details.Count > 0 ? "\n" + string.Join('\n', r.Details) : "");
}
