namespace Toolkit.Tests;

static class TestPaths
{
    public static string Repo => Infra.Paths.RepoRoot;

    /// <summary>A committed fixture: tests/Toolkit.Tests/fixtures/KIND/NAME.</summary>
    public static string Fixture(string kind, string name) =>
        Path.Combine(Repo, "tests", "Toolkit.Tests", "fixtures", kind, name);
}
