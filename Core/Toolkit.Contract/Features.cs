namespace Toolkit.Contract;

/// <summary>
/// The features the kernel-patch series bring, and how a test says it belongs to one. A kernel that is
/// expected to bring a feature (its toolkit-kernel.json, or `vm test --expect`) must not skip that
/// feature's tests: the skip a kernel without the feature rightly takes becomes a failure naming it,
/// so a patched build that lost a feature cannot pass.
/// <list type="bullet">
/// <item>NUnit tests: <c>[Category("feature:NAME")]</c> on the test or its fixture
/// (<see cref="CategoryPrefix"/>).</item>
/// <item>C tests: by name, a test named NAME or NAME-something belongs to feature NAME (<see cref="OfCTest"/>).</item>
/// </list>
/// </summary>
public static class Features
{
    public const string CqUserWord = "cq-user-word";
    public const string CqeTarget = "cqe-target";
    public static IReadOnlyList<string> Known { get; } = [CqUserWord, CqeTarget];

    public const string CategoryPrefix = "feature:";

    /// <summary>The start of the failure message of an expected feature's skipped test (the host lists them).</summary>
    public const string MissingPrefix = "expected feature '";

    /// <summary>Parses a comma-separated list; an unknown name is an ArgumentException naming it.</summary>
    public static IReadOnlyList<string> Parse(string? csv)
    {
        var names = (csv ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var n in names)
            if (!Known.Contains(n))
                throw new ArgumentException($"unknown feature '{n}' (known: {string.Join(", ", Known)})");
        return names.Distinct().ToList();
    }

    /// <summary>The feature a C test belongs to by its name, or null.</summary>
    public static string? OfCTest(string name) =>
        Known.FirstOrDefault(f => name == f || name.StartsWith(f + "-", StringComparison.Ordinal));

    /// <summary>The feature named by test categories ("feature:NAME"), or null.</summary>
    public static string? OfCategories(IEnumerable<string> categories) =>
        categories.Where(c => c.StartsWith(CategoryPrefix, StringComparison.Ordinal))
            .Select(c => c[CategoryPrefix.Length..]).FirstOrDefault();

    /// <summary>
    /// A skipped test of an expected feature fails, with a message naming the feature and keeping the
    /// skip's own reason; every other result is returned unchanged.
    /// </summary>
    public static TestCaseResult Enforce(TestCaseResult r, string? feature, IReadOnlyCollection<string> expected)
    {
        if (r.Outcome != Outcome.Skip || feature == null || !expected.Contains(feature)) return r;
        return r with
        {
            Outcome = Outcome.Fail,
            Message = $"{MissingPrefix}{feature}' missing: the kernel is expected to bring {feature}, " +
                      $"but the test skipped: {r.Message ?? "(no reason given)"}",
        };
    }

    /// <summary>The expected features that failed this way, in order of first appearance.</summary>
    public static IReadOnlyList<string> Missing(IEnumerable<TestCaseResult> results) =>
        results.Where(r => r.Outcome == Outcome.Fail &&
                           r.Message?.StartsWith(MissingPrefix, StringComparison.Ordinal) == true)
            .Select(r => r.Message![MissingPrefix.Length..].Split('\'')[0]).Distinct().ToList();
}
