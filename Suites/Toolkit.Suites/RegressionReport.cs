using System.Text;
using Toolkit.Reports;

namespace Toolkit.Suites;

/// <summary>
/// Compares one test suite's results across kernels. The first kernel is the reference (normally
/// baseline): a test that passed or skipped there and fails, hangs, crashes or splats (or has no
/// result) on another kernel is a regression. Skip-then-fail counts too, because a skip on
/// baseline usually means "feature absent", and a patched kernel that offers the feature but
/// breaks the test is exactly what the gate is for. Tests on the flaky list are compared and
/// reported like the rest, but never count. With one kernel there is no reference: every
/// failure of a test not on the flaky list counts.
/// </summary>
public static class RegressionReport
{
    public enum Verdict
    {
        /// <summary>Passed or skipped everywhere, or no worse than on the reference.</summary>
        Ok,
        /// <summary>Worse than on the reference kernel: fails the run.</summary>
        Regression,
        /// <summary>Single-kernel run: failed, fails the run.</summary>
        Failure,
        /// <summary>Fails on the reference kernel too: reported, does not count.</summary>
        FailsOnReference,
        /// <summary>Would count, but the test is on the reviewed flaky list.</summary>
        Flaky,
    }

    public sealed record Row(string Suite, string Name, IReadOnlyList<TestCaseResult?> Results, Verdict Verdict,
        string? Note)
    {
        public string Key => $"{Suite}/{Name}";
        public bool Counts => Verdict is Verdict.Regression or Verdict.Failure;
    }

    public sealed record Comparison(IReadOnlyList<string> Kernels, IReadOnlyList<Row> Rows)
    {
        public IEnumerable<Row> Counting => Rows.Where(r => r.Counts);
        public bool Failed => Counting.Any();
    }

    /// <param name="kernels">Kernel labels in order; the first is the reference.</param>
    /// <param name="results">Each kernel's results (tests in run order).</param>
    /// <param name="flaky">Keys ("suite/name") of the tests on the flaky list.</param>
    public static Comparison Compare(IReadOnlyList<string> kernels, IReadOnlyDictionary<string,
        IReadOnlyList<TestCaseResult>> results,
        IReadOnlySet<string> flaky)
    {
        if (kernels.Count == 0) throw new ArgumentException("no kernels to compare", nameof(kernels));
        // Every test seen on any kernel, in first-seen order (the reference kernel's run order first).
        var order = new List<(string Suite, string Name)>();
        var seen = new HashSet<(string, string)>();
        var byKernel = kernels.Select(k =>
        {
            var map = new Dictionary<(string, string), TestCaseResult>();
            foreach (var r in results.TryGetValue(k, out var list) ? list : [])
            {
                map[(r.Suite, r.Name)] = r; // a later result of the same test (e.g. after a resume) wins
                if (seen.Add((r.Suite, r.Name))) order.Add((r.Suite, r.Name));
            }
            return map;
        }).ToList();

        var rows = new List<Row>();
        foreach (var (suite, name) in order)
        {
            var row = byKernel.Select(m => m.TryGetValue((suite, name), out var r) ? r : null).ToList();
            var (verdict, note) = Judge(kernels, row);
            if (verdict is Verdict.Regression or Verdict.Failure && flaky.Contains($"{suite}/{name}"))
                (verdict, note) = (Verdict.Flaky, $"on the flaky list; otherwise: {note}");
            rows.Add(new Row(suite, name, row, verdict, note));
        }
        return new Comparison(kernels, rows);
    }

    static (Verdict, string?) Judge(IReadOnlyList<string> kernels, List<TestCaseResult?> row)
    {
        static bool Bad(TestCaseResult? r) => r == null || r.Failed;
        static string Describe(TestCaseResult? r) => r == null ? "no result" : r.Outcome.ToString().ToLowerInvariant();
        var reference = row[0];
        if (kernels.Count == 1)
            return Bad(reference) ? (Verdict.Failure, $"{Describe(reference)} on {kernels[0]}") : (Verdict.Ok, null);
        var worse = Enumerable.Range(1, kernels.Count - 1).Where(i => Bad(row[i])).ToList();
        if (!Bad(reference))
        {
            if (worse.Count == 0) return (Verdict.Ok, null);
            return (Verdict.Regression, $"{Describe(reference)} on {kernels[0]}, " +
                string.Join(", ", worse.Select(i => $"{Describe(row[i])} on {kernels[i]}")));
        }
        if (worse.Count == kernels.Count - 1) return (Verdict.FailsOnReference, $"{Describe(reference)} on {kernels[0]} too");
        return (Verdict.Ok, $"{Describe(reference)} on {kernels[0]}, better elsewhere");
    }

    static string Cell(TestCaseResult? r) => r == null ? "-" : r.Outcome switch
    {
        Outcome.Pass => "pass",
        Outcome.Skip => "skip",
        Outcome.Fail => r.Message?.StartsWith("kernel ", StringComparison.Ordinal) == true ? "SPLAT" : "FAIL",
        Outcome.Timeout => "HANG",
        Outcome.Crash => "CRASH",
        _ => "?",
    };

    /// <summary>The per-test table: every test that is not a plain pass/skip everywhere, then the totals per
    /// kernel.</summary>
    public static string Table(Comparison c, bool allRows = false)
    {
        var sb = new StringBuilder();
        var rows = c.Rows.Where(r => allRows || r.Verdict != Verdict.Ok || r.Results.Any(x => x == null
            || x.Failed)).ToList();
        var nameW = Math.Max(4, rows.Select(r => r.Key.Length).DefaultIfEmpty(0).Max());
        var colW = Math.Max(7, c.Kernels.Max(k => k.Length));
        sb.AppendLine($"{"test".PadRight(nameW)}  {string.Join("  ", c.Kernels.Select(k => k.PadRight(colW)))}  verdict");
        sb.AppendLine(new string('-', nameW + (colW + 2) * c.Kernels.Count + 20));
        foreach (var r in rows)
            sb.AppendLine($"{r.Key.PadRight(nameW)}  {string.Join("  ", r.Results.Select(x => Cell(x).PadRight(colW)))}  {VerdictText(r.Verdict)}" +
                (r.Note != null ? $" ({r.Note})" : ""));
        if (rows.Count == 0) sb.AppendLine("(every test passed or skipped on every kernel)");
        sb.AppendLine();
        for (var i = 0; i < c.Kernels.Count; i++)
        {
            var rs = c.Rows.Select(r => r.Results[i]).ToList();
            sb.AppendLine($"{c.Kernels[i]}: {rs.Count(r => r != null)} run, {rs.Count(r => r?.Outcome == Outcome.Pass)} passed, " +
                $"{rs.Count(r => r?.Outcome == Outcome.Skip)} skipped, {rs.Count(r => r?.Outcome == Outcome.Fail)} failed, " +
                $"{rs.Count(r => r?.Outcome == Outcome.Timeout)} hung, {rs.Count(r => r?.Outcome == Outcome.Crash)} crashed");
        }
        var counting = c.Counting.ToList();
        var what = c.Kernels.Count > 1 ? "regression(s)" : "failure(s)";
        sb.AppendLine($"{counting.Count} {what}" + (counting.Count > 0 ? ": " + string.Join(", ",
            counting.Select(r => r.Key)) : "") +
            $"; {c.Rows.Count(r => r.Verdict == Verdict.Flaky)} on the flaky list; {c.Rows.Count(r => r.Verdict == Verdict.FailsOnReference)} failing on {c.Kernels[0]} too");
        return sb.ToString().TrimEnd();
    }

    static string VerdictText(Verdict v) => v switch
    {
        Verdict.Ok => "ok",
        Verdict.Regression => "REGRESSION",
        Verdict.Failure => "FAILURE",
        Verdict.FailsOnReference => "fails on reference too",
        Verdict.Flaky => "flaky (listed)",
        _ => v.ToString(),
    };

    /// <summary>
    /// The gate as JUnit (what CI counts): one test case per test, failed only when it counts
    /// (regression, or failure of a single-kernel run); reference failures and listed flaky tests
    /// are "skipped" with the reason, so CI totals show them without failing the build.
    /// </summary>
    public static IReadOnlyList<SuiteResult> GateResults(Comparison c) =>
        SuiteResult.Group(c.Rows.Select(r =>
        {
            var secs = r.Results.Sum(x => x?.Seconds ?? 0);
            var cells = string.Join(", ", c.Kernels.Select((k, i) => $"{k}: {Cell(r.Results[i])}"));
            if (r.Counts)
                return new TestCaseResult($"{r.Suite} (gate)", r.Name, Outcome.Fail,
                    secs, $"{VerdictText(r.Verdict)}: {r.Note} [{cells}]",
                    string.Join("\n", r.Results.Select((x,
                        i) => x?.Failed == true ? $"--- {c.Kernels[i]}: {x.Message}\n{x.Output}" : null).Where(s =>
                            s != null)));
            if (r.Verdict is Verdict.Flaky or Verdict.FailsOnReference)
                return new TestCaseResult($"{r.Suite} (gate)", r.Name, Outcome.Skip,
                    secs, $"{VerdictText(r.Verdict)}: {r.Note} [{cells}]");
            var allSkipped = r.Results.All(x => x?.Outcome == Outcome.Skip);
            return new TestCaseResult($"{r.Suite} (gate)", r.Name, allSkipped ? Outcome.Skip : Outcome.Pass, secs,
                allSkipped ? $"skipped on every kernel [{cells}]" : null);
        }));
}
