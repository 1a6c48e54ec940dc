using System.Text;

namespace Toolkit.Reports;

/// <summary>The short human summary: one row per suite, failures listed under the table.</summary>
public static class SummaryTable
{
    public static string Write(IReadOnlyList<SuiteResult> suites)
    {
        var rows = suites.Select(s => (s.Name, s.Passed.ToString(), s.Failed.ToString(),
            s.Skipped.ToString(), $"{s.Seconds:F1}")).ToList();
        var nameW = Math.Max(5, rows.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
        var sb = new StringBuilder();
        sb.AppendLine($"{"suite".PadRight(nameW)}  {"pass",5}  {"fail",5}  {"skip",5}  {"secs",7}");
        sb.AppendLine(new string('-', nameW + 30));
        foreach (var r in rows) sb.AppendLine($"{r.Name.PadRight(nameW)}  {r.Item2,5}  {r.Item3,5}  {r.Item4,5}  {r.Item5,7}");
        var failures = suites.SelectMany(s => s.Tests.Where(t => t.Failed)).ToList();
        foreach (var f in failures)
            sb.AppendLine($"FAILED {f.Suite}/{f.Name} ({f.Outcome.ToString().ToLowerInvariant()}): {(f.Message ?? "").Split('\n')[0]}");
        return sb.ToString().TrimEnd();
    }
}
