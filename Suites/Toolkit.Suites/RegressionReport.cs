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
/// A reference that ran only some tests (`liburing-suite --reference-scope failures`) leaves out the ones that
/// passed or skipped on every other kernel: whatever the reference did, such a test is Ok, so it is Ok here too
/// and shows as "not run" on the reference; "no result" still counts on every other kernel.
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

    /// <param name="ReferenceNotRun">The reference kernel left this test out on purpose (it was fine on every
    /// other kernel, or it is flaky-listed and so never counts), so its empty reference cell is not a missing
    /// result.</param>
    public sealed record Row(string Suite, string Name, IReadOnlyList<TestCaseResult?> Results, Verdict Verdict,
        string? Note, bool ReferenceNotRun = false)
    {
        public string Key => $"{Suite}/{Name}";
        public bool Counts => Verdict is Verdict.Regression or Verdict.Failure;
    }

    public sealed record Comparison(IReadOnlyList<string> Kernels, IReadOnlyList<Row> Rows)
    {
        public IEnumerable<Row> Counting => Rows.Where(r => r.Counts);
        public bool Failed => Counting.Any();
        /// <summary>Tests the reference kernel left out because they passed or skipped everywhere else.</summary>
        public int ReferenceNotRun => Rows.Count(r => r.ReferenceNotRun);
    }

    /// <param name="kernels">Kernel labels in order; the first is the reference.</param>
    /// <param name="results">Each kernel's results (tests in run order).</param>
    /// <param name="flaky">Keys ("suite/name") of the tests on the flaky list.</param>
    /// <param name="referenceNotRun">Keys of the tests the reference kernel did not run on purpose; only honoured
    /// for a test that has no reference result and is fine on every other kernel (Ok) or is on the flaky list
    /// (Flaky); anything else is judged as a missing result, as without the set.</param>
    public static Comparison Compare(IReadOnlyList<string> kernels, IReadOnlyDictionary<string,
        IReadOnlyList<TestCaseResult>> results,
        IReadOnlySet<string> flaky, IReadOnlySet<string>? referenceNotRun = null)
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
            var key = $"{suite}/{name}";
            // Ok is what a full run would say: fine on every other kernel is Ok whatever the reference did.
            if (referenceNotRun?.Contains(key) == true && row[0] == null && kernels.Count > 1)
            {
                if (row.Skip(1).All(r => r is { Failed: false }))
                {
                    rows.Add(new Row(suite, name, row, Verdict.Ok, NotRunNote(kernels, row), ReferenceNotRun: true));
                    continue;
                }
                // A flaky-listed test never counts, so its reference result could not change the verdict.
                if (flaky.Contains(key))
                {
                    rows.Add(new Row(suite, name, row, Verdict.Flaky, $"on the flaky list, not run on {kernels[0]}: " +
                        string.Join(", ", Worse(kernels, row).Select(i => $"{Describe(row[i])} on {kernels[i]}")),
                        ReferenceNotRun: true));
                    continue;
                }
            }
            var (verdict, note) = Judge(kernels, row);
            if (verdict is Verdict.Regression or Verdict.Failure && flaky.Contains(key))
                (verdict, note) = (Verdict.Flaky, $"on the flaky list; otherwise: {note}");
            rows.Add(new Row(suite, name, row, verdict, note));
        }
        return new Comparison(kernels, rows);
    }

    static bool Bad(TestCaseResult? r) => r == null || r.Failed;

    static string Describe(TestCaseResult? r) => r == null ? "no result" : r.Outcome.ToString().ToLowerInvariant();

    /// <summary>The non-reference kernels on which the row's test failed or has no result.</summary>
    static List<int> Worse(IReadOnlyList<string> kernels, List<TestCaseResult?> row) =>
        [.. Enumerable.Range(1, kernels.Count - 1).Where(i => Bad(row[i]))];

    static (Verdict, string?) Judge(IReadOnlyList<string> kernels, List<TestCaseResult?> row)
    {
        var reference = row[0];
        if (kernels.Count == 1)
            return Bad(reference) ? (Verdict.Failure, $"{Describe(reference)} on {kernels[0]}") : (Verdict.Ok, null);
        var worse = Worse(kernels, row);
        if (!Bad(reference))
        {
            if (worse.Count == 0) return (Verdict.Ok, null);
            return (Verdict.Regression, $"{Describe(reference)} on {kernels[0]}, " +
                string.Join(", ", worse.Select(i => $"{Describe(row[i])} on {kernels[i]}")));
        }
        if (worse.Count == kernels.Count - 1) return (Verdict.FailsOnReference, $"{Describe(reference)} on {kernels[0]} too");
        return (Verdict.Ok, $"{Describe(reference)} on {kernels[0]}, better elsewhere");
    }

    static string NotRunNote(IReadOnlyList<string> kernels, IReadOnlyList<TestCaseResult?> row) =>
        $"not run on {kernels[0]} ({(row.Skip(1).Any(r => r?.Outcome == Outcome.Pass) ? "passed" : "skipped")} " +
        "elsewhere)";

    /// <summary>What one kernel's column shows for a row.</summary>
    static string Cell(Row row, int kernel) =>
        kernel == 0 && row.ReferenceNotRun ? NotRunCell : Cell(row.Results[kernel]);

    const string NotRunCell = "not run";

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
    /// kernel. A test the reference left out is a plain pass/skip elsewhere, so it only shows with allRows; the
    /// reference's totals line counts them.</summary>
    public static string Table(Comparison c, bool allRows = false)
    {
        var sb = new StringBuilder();
        var rows = c.Rows.Where(r => allRows || r.Verdict != Verdict.Ok || !r.ReferenceNotRun && r.Results.Any(x =>
            x == null || x.Failed)).ToList();
        var nameW = Math.Max(4, rows.Select(r => r.Key.Length).DefaultIfEmpty(0).Max());
        var colW = Math.Max(NotRunCell.Length, c.Kernels.Max(k => k.Length));
        sb.AppendLine($"{"test".PadRight(nameW)}  {string.Join("  ", c.Kernels.Select(k => k.PadRight(colW)))}  " +
            "verdict");
        sb.AppendLine(new string('-', nameW + (colW + 2) * c.Kernels.Count + 20));
        foreach (var r in rows)
            sb.AppendLine($"{r.Key.PadRight(nameW)}  " +
                $"{string.Join("  ", c.Kernels.Select((_, i) => Cell(r, i).PadRight(colW)))}  " +
                VerdictText(r.Verdict) + (r.Note != null ? $" ({r.Note})" : ""));
        if (rows.Count == 0) sb.AppendLine(c.ReferenceNotRun > 0
            ? "(every test passed or skipped on every kernel that ran it)"
            : "(every test passed or skipped on every kernel)");
        sb.AppendLine();
        for (var i = 0; i < c.Kernels.Count; i++) sb.AppendLine(Totals(c, i));
        sb.AppendLine(Verdicts(c));
        return sb.ToString().TrimEnd();
    }

    /// <summary>The table's last line: what counts, what does not, and how partial the reference was.</summary>
    static string Verdicts(Comparison c)
    {
        var counting = c.Counting.ToList();
        var what = c.Kernels.Count > 1 ? "regression(s)" : "failure(s)";
        return $"{counting.Count} {what}" + (counting.Count > 0 ? ": " + string.Join(", ",
            counting.Select(r => r.Key)) : "") +
            $"; {c.Rows.Count(r => r.Verdict == Verdict.Flaky)} on the flaky list; " +
            $"{c.Rows.Count(r => r.Verdict == Verdict.FailsOnReference)} failing on {c.Kernels[0]} too" +
            (c.ReferenceNotRun > 0 ? $"; {NotRunOk(c)} not run on {c.Kernels[0]} (passed elsewhere)" : "") +
            (NotRunFlaky(c) > 0 ? $"; {NotRunFlaky(c)} flaky-listed not run on {c.Kernels[0]}" : "");
    }

    static int NotRunOk(Comparison c) => c.Rows.Count(r => r.ReferenceNotRun && r.Verdict == Verdict.Ok);

    static int NotRunFlaky(Comparison c) => c.Rows.Count(r => r.ReferenceNotRun && r.Verdict == Verdict.Flaky);

    /// <summary>One kernel's totals line; the reference's says how many tests it left out.</summary>
    static string Totals(Comparison c, int i)
    {
        var rs = c.Rows.Select(r => r.Results[i]).ToList();
        var line = $"{c.Kernels[i]}: {rs.Count(r => r != null)} run, " +
            $"{rs.Count(r => r?.Outcome == Outcome.Pass)} passed, " +
            $"{rs.Count(r => r?.Outcome == Outcome.Skip)} skipped, {rs.Count(r => r?.Outcome == Outcome.Fail)} failed, " +
            $"{rs.Count(r => r?.Outcome == Outcome.Timeout)} hung, {rs.Count(r => r?.Outcome == Outcome.Crash)} crashed";
        if (i == 0 && c.ReferenceNotRun > 0)
            line += $"; {NotRunOk(c)} not run (passed or skipped on every other kernel)" +
                (NotRunFlaky(c) > 0 ? $", {NotRunFlaky(c)} flaky-listed not run" : "");
        return line;
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
            var cells = string.Join(", ", c.Kernels.Select((k, i) => $"{k}: {Cell(r, i)}"));
            if (r.Counts)
                return new TestCaseResult($"{r.Suite} (gate)", r.Name, Outcome.Fail,
                    secs, $"{VerdictText(r.Verdict)}: {r.Note} [{cells}]",
                    string.Join("\n", r.Results.Select((x,
                        i) => x?.Failed == true ? $"--- {c.Kernels[i]}: {x.Message}\n{x.Output}" : null).Where(s =>
                            s != null)));
            if (r.Verdict is Verdict.Flaky or Verdict.FailsOnReference)
                return new TestCaseResult($"{r.Suite} (gate)", r.Name, Outcome.Skip,
                    secs, $"{VerdictText(r.Verdict)}: {r.Note} [{cells}]");
            var allSkipped = r.Results.All(x => x?.Outcome == Outcome.Skip)
                || r.ReferenceNotRun && r.Results.Skip(1).All(x => x?.Outcome == Outcome.Skip);
            // JUnit shows no message on a passed case, so a passed one carries the note as its output (KTAP and
            // JUnit both print that); a skipped one as its reason.
            if (r.ReferenceNotRun)
                return allSkipped
                    ? new TestCaseResult($"{r.Suite} (gate)", r.Name, Outcome.Skip, secs, $"{r.Note} [{cells}]")
                    : new TestCaseResult($"{r.Suite} (gate)", r.Name, Outcome.Pass, secs, null, $"{r.Note} [{cells}]");
            return new TestCaseResult($"{r.Suite} (gate)", r.Name, allSkipped ? Outcome.Skip : Outcome.Pass, secs,
                allSkipped ? $"skipped on every kernel [{cells}]" : null);
        }));
}
