using System.CommandLine;
using Toolkit.Infra;
using Toolkit.Kernel;

namespace Toolkit.Review;

/// <summary>`toolkit review [SERIES]`: the command line of <see cref="ReviewRunner"/>.</summary>
public static class ReviewCommand
{
    public static Command Create()
    {
        var series = new Argument<string?>("series")
        {
            Description =
                "Series to review: a folder with a `series` file (default: kernel-patches/BASE/), a folder of " +
                    ".patch files, or an mbox; a folder whose `base` file (or name) declares another base than " +
                    $"--base stops with exit {ExitCodes.SeriesForOtherBase}",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var kernelBase = KernelOptions.Base();
        var jobs = new Option<int>("--jobs", "-j")
        {
            Description = "Parallel compile jobs for the per-patch builds",
            DefaultValueFactory = _ => Environment.ProcessorCount
        };
        var only = new Option<string[]>("--only")
        {
            Description = "Run only these checks (comma-separated or repeated): " + string.Join(", ",
                ReviewRunner.AllChecks),
            AllowMultipleArgumentsPerToken = true,
        };
        var junit = new Option<string?>("--junit")
        {
            Description =
            "Also write JUnit XML here: one testcase per check per patch"
        };
        var headerObjects = new Option<int>("--header-objects")
        {
            Description = "How many objects that include a touched header are compiled with W=1 and sparse",
            DefaultValueFactory = _ => 4,
        };
        var cmd = new Command("review",
            "NIPA-style checks of a kernel patch series on the base's Debian source: git am per patch (and, for " +
                "information, on 6.1), " +
            "a bzImage build after each patch (bisectability), new W=1 / sparse / kernel-doc findings in the touched " +
                "files, " +
            "checkpatch --strict, Signed-off-by, subject prefix, cover letter, UAPI layout changes. Prints a table " +
                "and the JSON " +
            $"report's path. Exit {ExitCodes.Ok} pass, {ExitCodes.ReviewWarn} warnings only, {ExitCodes.Failed} a check failed.")
        {
            series, kernelBase, jobs, only, junit, headerObjects,
        };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var checks = (r.GetValue(only) ?? []).SelectMany(s => s.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToHashSet();
            var unknown = checks.Except(ReviewRunner.AllChecks).ToList();
            if (unknown.Count > 0)
                throw new ToolkitException(
                    ExitCodes.Usage, $"unknown check(s) {string.Join(", ", unknown)}; known: {string.Join(", ", ReviewRunner.AllChecks)}");
            var runDir = Paths.NewRunDir("review");
            var report = ReviewRunner.Run(new ReviewOptions
            {
                Series = r.GetValue(series),
                Base = KernelBase.Parse(r.GetValue(kernelBase)!),
                Jobs = Math.Max(1, r.GetValue(jobs)),
                Only = checks.Count > 0 ? checks : null,
                HeaderObjects = Math.Max(0, r.GetValue(headerObjects)),
                RunDir = runDir,
            });
            var json = Path.Combine(runDir, "review.json");
            File.WriteAllText(json, report.ToJson());
            File.WriteAllText(Path.Combine(runDir, "summary.txt"), report.Table() + "\n");
            if (r.GetValue(junit) is { } j)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(j))!);
                File.WriteAllText(j, report.JUnitXml());
            }
            Console.WriteLine(report.Table());
            Console.WriteLine($"report: {json}");
            return report.ExitCode;
        }));
        return cmd;
    }
}
