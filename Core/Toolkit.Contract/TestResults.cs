using System.Text.Json.Serialization;

namespace Toolkit.Contract;

[JsonConverter(typeof(JsonStringEnumConverter<Outcome>))]
public enum Outcome { Pass, Fail, Skip, Timeout, Crash }

/// <summary>One test's result, as the in-guest harness and the Validation runner record it.</summary>
public sealed record TestCaseResult(string Suite, string Name, Outcome Outcome, double Seconds, string? Message = null,
    string? Output = null)
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

    /// <summary>Groups results by suite, keeping first-seen order.</summary>
    public static List<SuiteResult> Group(IEnumerable<TestCaseResult> results) =>
        results.GroupBy(r => r.Suite).Select(g => new SuiteResult(g.Key, g.ToList())).ToList();
}
