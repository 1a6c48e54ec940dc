using Toolkit.Infra;

namespace Toolkit.Suites;

/// <summary>The project's own liburing-style C tests (liburing-tests/*.c), built on the host for the guest.</summary>
public static class CTests
{
    public static IReadOnlyList<GuestHarness.CTest> Build(string runDir, int timeoutSeconds)
    {
        var dir = Path.Combine(Paths.RepoRoot, "liburing-tests");
        var sources = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.c").OrderBy(f => f, StringComparer.Ordinal).ToList() : [];
        if (sources.Count == 0) return [];
        throw new ToolkitException(ExitCodes.MissingDependency, "building liburing-tests needs the liburing 2.9 build (not wired yet)");
    }
}
