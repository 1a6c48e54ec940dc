using System.Text.Json;
using System.Text.Json.Serialization;

namespace Toolkit.Reports;

[JsonConverter(typeof(JsonStringEnumConverter<Outcome>))]
public enum Outcome { Pass, Fail, Skip, Timeout, Crash }

/// <summary>One test's result, as written by the in-guest harness (one JSON object per line).</summary>
public sealed record TestCaseResult(string Suite, string Name, Outcome Outcome, double Seconds, string? Message = null, string? Output = null)
{
    public bool Failed => Outcome is Outcome.Fail or Outcome.Timeout or Outcome.Crash;
}

/// <summary>A suite's results in run order.</summary>
public sealed record SuiteResult(string Name, IReadOnlyList<TestCaseResult> Tests)
{
    public int Passed => Tests.Count(t => t.Outcome == Outcome.Pass);
    public int Failed => Tests.Count(t => t.Failed);
    public int Skipped => Tests.Count(t => t.Outcome == Outcome.Skip);
    public double Seconds => Tests.Sum(t => t.Seconds);
}

public static class ResultsFile
{
    static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static string Line(TestCaseResult r) => JsonSerializer.Serialize(r, Options);

    /// <summary>Reads a JSON-lines results file; a torn last line (guest died mid-write) is ignored.</summary>
    public static List<TestCaseResult> Read(string path)
    {
        var list = new List<TestCaseResult>();
        if (!File.Exists(path)) return list;
        foreach (var line in File.ReadAllLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                if (JsonSerializer.Deserialize<TestCaseResult>(line, Options) is { } r) list.Add(r);
            }
            catch (JsonException) { }
        }
        return list;
    }

    /// <summary>Groups results by suite, keeping first-seen order.</summary>
    public static List<SuiteResult> Group(IEnumerable<TestCaseResult> results) =>
        results.GroupBy(r => r.Suite).Select(g => new SuiteResult(g.Key, g.ToList())).ToList();
}
