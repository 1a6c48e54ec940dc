using Toolkit.Infra;
using Toolkit.Liburing;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// The project's own liburing-style C tests (liburing-tests/*.c), built on the host against the
/// toolkit's liburing build (<see cref="LiburingBuild.DefaultDebianVersion"/>, with the liburing patch series
/// applied), run in the guest.
/// </summary>
public static class CTests
{
    public const string Suite = "liburing-tests";

    public static IReadOnlyList<GuestHarness.CTest> Build(string runDir, int timeoutSeconds)
    {
        var dir = Path.Combine(Paths.RepoRoot, "liburing-tests");
        var sources = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.c").OrderBy(f => f,
            StringComparer.Ordinal).ToList() : [];
        if (sources.Count == 0) return [];
        Progress.Step(
            $"building liburing {LiburingBuild.DefaultUpstreamVersion} (cached) and the C tests of liburing-tests/");
        var log = Path.Combine(runDir, "build-c-tests.log");
        LiburingInstall liburing;
        using (var w = new StreamWriter(log, append: true))
            liburing = LiburingBuild.Ensure(log: w);
        var outDir = Path.Combine(Paths.RepoRoot, "artifacts", "liburing-tests");
        Proc.Check("make", ["-C",
            dir, $"LIBURING_PREFIX={liburing.Prefix}", $"BUILD={outDir}", $"-j{Environment.ProcessorCount}"],
            ExitCodes.BuildFailed, "building liburing-tests", logFile: log);
        return sources.Select(s => new GuestHarness.CTest(Suite, Path.Combine(outDir,
            Path.GetFileNameWithoutExtension(s)), timeoutSeconds)).ToList();
    }
}
