namespace Toolkit.Tests;

static class TestPaths
{
    public static string Repo => Infra.Paths.RepoRoot;
}
