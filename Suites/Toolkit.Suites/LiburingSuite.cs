using System.CommandLine;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Liburing;
using Toolkit.Reports;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// `liburing-suite`: liburing's own test/ programs (<see cref="LiburingBuild.DefaultDebianVersion"/>, built from
/// the toolkit's patched liburing source) plus the project's liburing-tests/, run inside each requested kernel
/// through the guest harness, then compared: a test that is fine on the first kernel (baseline) and fails, hangs,
/// crashes or splats on another is a regression and fails the run. A guest crash is attributed to
/// the test that was running, and the remaining tests continue in a fresh boot.
/// </summary>
public static partial class LiburingSuite
{
    /// <summary>Suite name of liburing's own tests in every report.</summary>
    public const string Suite = "liburing";
    /// <summary>
    /// Per-test budget. liburing's runtests.sh uses 60 s natively; under TCG on 2 shared cores the
    /// measured tests run 1-10x slower than natively (most finish in under a second), and a few
    /// time-driven ones (timeouts, sqpoll idle) need their wall time plus emulation overhead, so 5x
    /// the native budget leaves room without letting a real hang cost more than 5 minutes.
    /// </summary>
    public const int DefaultTestTimeout = 300;
    /// <summary>Seconds of silence beyond the longest test budget after which a guest counts as stuck (dotnet start-up,
    /// reporting).</summary>
    public const int StallMargin = 30;

    public static string SubsetFile => Path.Combine(Paths.RepoRoot, "liburing-tests", "upstream-subset.txt");
    public static string FlakyFile => Path.Combine(Paths.RepoRoot, "liburing-tests", "upstream-flaky.txt");

    public static Command Command()
    {
        var kernelBase = KernelOptions.Base();
        var kernels = new Option<string>("--kernels")
        {
            Description =
                "Comma-separated kernel flavours to run on, the first being the reference (baseline, patched, debug)",
            DefaultValueFactory = _ => "baseline,patched",
        };
        var full = new Option<bool>("--full")
        {
            Description =
            "Run every liburing test instead of the CI subset (liburing-tests/upstream-subset.txt)"
        };
        var only = new Option<string?>("--only")
        {
            Description =
            "Comma-separated liburing test names to run instead of the subset (e.g. to re-check a flaky test)"
        };
        var exclude = new Option<string?>("--exclude")
        {
            Description =
            "Comma-separated liburing test names to leave out of the selection (each must exist)"
        };
        var testTimeout = new Option<int>("--test-timeout")
        {
            Description =
            "Seconds one test may run before it is killed and recorded as hung",
            DefaultValueFactory = _ => DefaultTestTimeout
        };
        var noProject = new Option<bool>("--no-project-tests")
        {
            Description =
            "Leave out the project's own liburing-tests/ C tests"
        };
        var referenceScope = new Option<string>("--reference-scope")
        {
            Description =
                "Which tests the reference (first) kernel runs: all, or failures (only those that failed, hung, " +
                "crashed, splatted or have no result on another kernel, which run first, except flaky-listed ones; " +
                "same verdicts)",
            DefaultValueFactory = _ => "all",
        };
        var junit = new Option<string?>("--junit")
        {
            Description =
            "Also write the gate's JUnit XML here (one case per test; fails only on regressions)"
        };
        var cmd = new Command("liburing-suite",
            $"Build liburing {LiburingBuild.DefaultUpstreamVersion}'s test/ (patched liburing) and run it, with the " +
                "project's liburing-tests/, inside " +
                "each kernel; " +
            "compare against the first kernel. Exit 0 no regression, 1 regression(s) (a test fine on the reference " +
                "kernel fails, hangs, crashes or splats), " +
            $"{ExitCodes.Usage} bad list file or option, {ExitCodes.MissingDependency} liburing source unavailable, {ExitCodes.BuildFailed} liburing's tests do not build, " +
            $"{ExitCodes.TestMissing} a listed test does not exist or its binary is missing, {ExitCodes.NoKernelImage} a kernel is not built, " +
            $"or a VM code ({ExitCodes.VmFailure}, {ExitCodes.BootTimeout}) when a kernel could not run the tests at " +
                $"all.")
        {
            kernelBase, kernels, full, only, exclude, testTimeout, noProject, referenceScope, junit,
        };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var options = new Options
            {
                Base = KernelBase.Parse(r.GetValue(kernelBase)!),
                Kernels = ParseKernels(r.GetValue(kernels)!),
                Full = r.GetValue(full),
                Only = r.GetValue(only)?.Split(',',
                    StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Exclude = r.GetValue(exclude)?.Split(',',
                    StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                TestTimeout = r.GetValue(testTimeout),
                ProjectTests = !r.GetValue(noProject),
                ReferenceScope = ParseReferenceScope(r.GetValue(referenceScope)!),
            };
            var report = Run(options, Console.Out);
            if (r.GetValue(junit) is { } path)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                File.Copy(Path.Combine(report.RunDir, "gate.junit.xml"), path, overwrite: true);
            }
            return report.ExitCode;
        }));
        return cmd;
    }

    /// <summary>liburing's build reports its own exceptions; give them the toolkit's message form and their
    /// code.</summary>
    public static int WithLiburingErrors(Func<int> action) => WithLiburingErrors<int>(action);

    /// <summary>Only around liburing's build: a usage error, a missing kernel or test must keep its own
    /// message.</summary>
    public static T WithLiburingErrors<T>(Func<T> action)
    {
        try { return action(); }
        catch (ToolkitException e)
        {
            var what = e.ExitCode == ExitCodes.MissingDependency
                ? $"the liburing {LiburingBuild.DefaultUpstreamVersion} source is not available"
                : $"liburing {LiburingBuild.DefaultUpstreamVersion} (the source of its test suite) does not build";
            throw new ToolkitException(e.ExitCode, $"{what}: {e.Message}");
        }
    }

    /// <summary>
    /// Which tests the reference kernel runs. A test that passes or skips on every other kernel is Ok whatever the
    /// reference does (RegressionReport's rules), so `Failures` runs the reference only where its result can
    /// change a verdict.
    /// </summary>
    public enum ReferenceScope
    {
        /// <summary>Every test on every kernel, reference first.</summary>
        All,
        /// <summary>The other kernels first, then the reference on what failed, hung, crashed, splatted or has no
        /// result on one of them; not booted when that is nothing.</summary>
        Failures,
    }

    public static ReferenceScope ParseReferenceScope(string value) => value.Trim() switch
    {
        "all" => ReferenceScope.All,
        "failures" => ReferenceScope.Failures,
        _ => throw new ToolkitException(ExitCodes.Usage,
            $"--reference-scope must be all or failures, got '{value}'"),
    };

    public sealed class Options
    {
        public required IReadOnlyList<string> Kernels { get; init; }
        /// <summary>The base whose flavour builds are booted (the kernels are its flavours).</summary>
        public KernelBase Base { get; init; } = KernelBase.Default;
        public bool Full { get; init; }
        public IReadOnlyList<string>? Only { get; init; }
        /// <summary>liburing tests left out of whatever the subset, --full or --only chose.</summary>
        public IReadOnlyList<string>? Exclude { get; init; }
        public int TestTimeout { get; init; } = DefaultTestTimeout;
        public bool ProjectTests { get; init; } = true;
        /// <summary>Boot these images instead of the flavours' builds (label → bzImage); for tests.</summary>
        public IReadOnlyDictionary<string, string>? Images { get; init; }
        /// <summary>Run exactly these tests instead of building liburing's (tests of the harness itself).</summary>
        public IReadOnlyList<GuestHarness.CTest>? Tests { get; init; }
        public string? FlakyFile { get; init; }
        public ReferenceScope ReferenceScope { get; init; } = ReferenceScope.All;
    }

    public static IReadOnlyList<string> ParseKernels(string value)
    {
        var list = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (list.Count == 0) throw new ToolkitException(ExitCodes.Usage, "--kernels is empty (e.g. baseline,patched)");
        foreach (var k in list)
            if (!KernelBuild.TryParseFlavour(k, out _, out var error))
                throw new ToolkitException(ExitCodes.Usage, $"{error} in --kernels");
        if (list.Distinct().Count() != list.Count) throw new ToolkitException(
            ExitCodes.Usage, $"--kernels names a flavour twice: {value}");
        return list;
    }

    /// <summary>One boot of one kernel: what the VM did and which test it died in, if any.</summary>
    public sealed record Boot(string Kernel, int Number, int Tests, VmResult Vm, string? Culprit);

    /// <param name="FatalExitCode">Set when the kernel could not run the tests at all (VM failure, boot
    /// timeout).</param>
    public sealed record KernelRun(string Kernel, IReadOnlyList<TestCaseResult> Results, IReadOnlyList<Boot> Boots,
        double Seconds, int? FatalExitCode);

    public sealed record Report(int ExitCode, string RunDir, RegressionReport.Comparison Comparison,
        IReadOnlyList<KernelRun> Runs);

    public static Report Run(Options o, TextWriter output)
    {
        // Before anything is built or booted: a usage error must not cost a liburing build.
        if (o.ReferenceScope == ReferenceScope.Failures && o.Kernels.Count < 2)
            throw new ToolkitException(ExitCodes.Usage, "--reference-scope failures needs a reference and at least " +
                $"one other kernel (--kernels baseline,patched), got --kernels {string.Join(",", o.Kernels)}");
        var images = o.Kernels.ToDictionary(k => k,
            k => o.Images?.GetValueOrDefault(k) ?? KernelBuild.ImagePath(o.Base, KernelBuild.ParseFlavour(k)));
        foreach (var (k, image) in images)
            if (!File.Exists(image))
                throw new ToolkitException(
                    ExitCodes.NoKernelImage, $"no {k} kernel image at {image}: build it first with `scripts/toolkit " +
                        $"kernel build --base {o.Base.Name} --flavour {k}`");
        if (o.TestTimeout <= 0) throw new ToolkitException(
            ExitCodes.Usage, $"--test-timeout must be positive, got {o.TestTimeout}");
        if (o.Full && o.Only is { Count: > 0 }) throw new ToolkitException(ExitCodes.Usage,
            "--full and --only exclude each other");
        var flaky = TestListFile.Load(o.FlakyFile ?? FlakyFile);
        var runDir = Paths.NewRunDir("liburing-suite");
        var tests = new List<GuestHarness.CTest>();
        string selection;
        if (o.Tests != null) (selection, tests) = ("given list", [.. o.Tests]);
        else
        {
            var (upstream, what) = SelectUpstream(o, runDir);
            selection = what;
            if (o.ProjectTests) tests.AddRange(CTests.Build(runDir, o.TestTimeout));
            tests.AddRange(upstream);
        }
        File.WriteAllLines(Path.Combine(runDir, "tests.txt"), tests.Select(t => t.Spec));
        Progress.Step($"liburing-suite: {tests.Count} tests ({selection}), per-test timeout " +
            $"{(o.Tests == null ? $"{o.TestTimeout} s" : "as given")}, kernels {string.Join(", ", o.Kernels)}, " +
            $"reference scope {ScopeName(o.ReferenceScope)}; run dir {runDir}");

        var flakyKeys = flaky.Select(f => f.Key).ToHashSet();
        var (runs, notRun) = RunKernels(o.Kernels, o.ReferenceScope, tests,
            (k, list) => RunKernel(k, images[k], list, Path.Combine(runDir, k)), flakyKeys);

        var comparison = RegressionReport.Compare(o.Kernels, runs.ToDictionary(r => r.Kernel, r => r.Results),
            flakyKeys, notRun);
        var exit = WriteReports(o, runDir, selection, runs, comparison, flaky, output);
        return new Report(exit, runDir, comparison, runs);
    }

    static string ScopeName(ReferenceScope scope) => scope == ReferenceScope.All ? "all" : "failures";

    static string Key(GuestHarness.CTest t) => $"{t.Suite}/{GuestHarness.TestName(t.Path)}";

    /// <summary>
    /// Runs every kernel and returns the runs in kernel order (reference first, as the comparison reads them) with
    /// the keys of the tests the reference left out. With <see cref="ReferenceScope.Failures"/> the other kernels
    /// run first, so their results decide what the reference runs (never the <paramref name="flaky"/> keys); an
    /// empty choice does not boot it.
    /// </summary>
    internal static (List<KernelRun> Runs, IReadOnlySet<string> ReferenceNotRun) RunKernels(
        IReadOnlyList<string> kernels, ReferenceScope scope, IReadOnlyList<GuestHarness.CTest> tests,
        Func<string, IReadOnlyList<GuestHarness.CTest>, KernelRun> run, IReadOnlySet<string>? flaky = null)
    {
        var runs = new List<KernelRun>();
        if (scope == ReferenceScope.All)
        {
            foreach (var k in kernels) runs.Add(run(k, tests));
            return (runs, new HashSet<string>());
        }
        foreach (var k in kernels.Skip(1)) runs.Add(run(k, tests));
        var chosen = ReferenceTests(tests, runs.Select(r => r.Results), flaky);
        var notRun = tests.Select(Key).Except(chosen.Select(Key)).ToHashSet();
        Progress.Step($"{kernels[0]} (reference, scope failures): {chosen.Count} of {tests.Count} test(s) " +
            $"failed or have no result elsewhere (flaky-listed ones are not rerun)" + (chosen.Count == 0 ? "; not booted" : ""));
        runs.Insert(0, chosen.Count == 0 ? new KernelRun(kernels[0], [], [], 0, null) : run(kernels[0], chosen));
        return (runs, notRun);
    }

    /// <summary>
    /// The tests whose reference result can change a verdict: those that failed, hung, crashed or splatted (all
    /// <see cref="TestCaseResult.Failed"/>), or have no result, on at least one other kernel; in run order.
    /// Tests whose key is in <paramref name="flaky"/> are never chosen: a flaky-listed test never counts, so its
    /// reference result can't change a verdict, and the time-heavy ones would cost their timeout again.
    /// </summary>
    public static List<GuestHarness.CTest> ReferenceTests(IReadOnlyList<GuestHarness.CTest> tests,
        IEnumerable<IReadOnlyList<TestCaseResult>> others, IReadOnlySet<string>? flaky = null)
    {
        // A later result of the same test wins, as in RegressionReport.Compare.
        var maps = others.Select(results =>
        {
            var map = new Dictionary<string, TestCaseResult>();
            foreach (var r in results) map[$"{r.Suite}/{r.Name}"] = r;
            return map;
        }).ToList();
        return [.. tests.Where(t => flaky?.Contains(Key(t)) != true &&
            maps.Any(m => !m.TryGetValue(Key(t), out var r) || r.Failed))];
    }

    /// <summary>Builds liburing's tests and picks the subset, --only list or full suite; every named test must
    /// exist.</summary>
    static (List<GuestHarness.CTest> Tests, string What) SelectUpstream(Options o, string runDir)
    {
        var testDir = WithLiburingErrors(() => BuildUpstream(runDir));
        var known = MakefileTests(File.ReadAllText(Path.Combine(testDir, "Makefile")));
        List<string> names;
        string what;
        if (o.Only is { Count: > 0 }) (names, what) = ([.. o.Only.Select(n => n.EndsWith(".t",
            StringComparison.Ordinal) ? n[..^2] : n)], "--only");
        else if (o.Full)
        {
            // A conditional test whose condition configure did not meet is not built, as with `make runtests`.
            var notBuilt = MakefileConditional(File.ReadAllText(Path.Combine(testDir, "Makefile")))
                .Where(n => !File.Exists(Path.Combine(testDir, n + ".t"))).ToHashSet();
            (names, what) = ([.. known.Where(n => !notBuilt.Contains(n))], "full suite");
        }
        else
        {
            var subset = TestListFile.Load(SubsetFile);
            var foreign = subset.Where(e => e.Suite != Suite).ToList();
            if (foreign.Count > 0)
                throw new ToolkitException(
                    ExitCodes.Usage, $"{SubsetFile}:{foreign[0].Line}: the subset lists liburing's own tests only " +
                        $"(bare names), got '{foreign[0].Key}'");
            (names, what) = ([.. subset.Select(e => e.Name)], "CI subset " + Path.GetRelativePath(Paths.RepoRoot,
                SubsetFile));
        }
        var excluded = (o.Exclude ?? []).Select(n => n.EndsWith(".t", StringComparison.Ordinal) ? n[..^2] : n)
            .ToHashSet();
        var unknown = names.Concat(excluded).Where(n => !known.Contains(n)).Distinct().ToList();
        if (unknown.Count > 0)
            throw new ToolkitException(
                ExitCodes.TestMissing, $"not a liburing {LiburingBuild.DefaultDebianVersion} test (not in " +
                    $"test/Makefile): {string.Join(", ", unknown)}");
        if (excluded.Count > 0)
        {
            names = [.. names.Where(n => !excluded.Contains(n))];
            what += $" without {string.Join(", ", excluded.Order(StringComparer.Ordinal))}";
        }
        var missing = names.Where(n => !File.Exists(Path.Combine(testDir, n + ".t"))).ToList();
        if (missing.Count > 0)
            throw new ToolkitException(
                ExitCodes.TestMissing, $"test binary missing after building liburing's test/ in {testDir}: " +
                string.Join(", ", missing.Select(n => n + ".t")) + "; the build log is in " + Path.Combine(runDir,
                    "build-liburing-tests.log"));
        return (names.Select(n => new GuestHarness.CTest(Suite, Path.Combine(testDir, n + ".t"),
            o.TestTimeout)).ToList(), what);
    }

    /// <summary>
    /// Builds test/ of the cached, patched liburing source. The cache's source tree is shared by every
    /// worktree on the machine, so the tests are built in a private copy under artifacts/ (same
    /// configure results, same liburing.a); concurrent builds in the shared tree could collide.
    /// </summary>
    static string BuildUpstream(string runDir)
    {
        var log = Path.Combine(runDir, "build-liburing-tests.log");
        Progress.Step($"building liburing {LiburingBuild.DefaultUpstreamVersion} (cached) and its test/ directory");
        LiburingInstall liburing;
        using (var w = new StreamWriter(log, append: true)) liburing = LiburingBuild.Ensure(log: w);
        TestMakefile(liburing);
        var copy = Path.Combine(Paths.RepoRoot, "artifacts", "liburing-suite",
            Path.GetFileName(Path.GetDirectoryName(liburing.SourceDir))!);
        var src = Path.Combine(copy, "src");
        // The copy is tied to one build of the cache (its .complete stamp's time): a rebuilt cache is copied afresh.
        var stamp = Path.Combine(Path.GetDirectoryName(liburing.SourceDir)!, ".complete");
        var identity = liburing.SourceDir + " " + (File.Exists(stamp) ? File.GetLastWriteTimeUtc(stamp).Ticks : 0);
        var copied = Path.Combine(copy, ".copied");
        if (!File.Exists(copied) || File.ReadAllText(copied).Trim() != identity)
        {
            if (Directory.Exists(copy)) Directory.Delete(copy, true);
            Directory.CreateDirectory(copy);
            // cp -a keeps the timestamps, so make sees liburing.a as up to date and only builds test/.
            Proc.Check("cp", ["-a", liburing.SourceDir, src], ExitCodes.BuildFailed, "copying the liburing source",
                logFile: log);
            File.WriteAllText(copied, identity + "\n");
        }
        // root= (liburing 2.15's config-host.mak names the tree it was configured in): this copy, not the cache's.
        Proc.Check("make", ["-C", Path.Combine(src, "test"), $"-j{Environment.ProcessorCount}", $"root={src}", "all"],
            ExitCodes.BuildFailed,
            "building liburing's test/", logFile: log);
        return Path.Combine(src, "test");
    }

    /// <summary>
    /// liburing's test/Makefile in the cached source (the private copy the suite builds in is made from it),
    /// so a caller can read the test list without building test/.
    /// </summary>
    public static string TestMakefile(LiburingInstall liburing)
    {
        var makefile = Path.Combine(liburing.SourceDir, "test", "Makefile");
        if (!File.Exists(makefile))
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"the liburing source at {liburing.SourceDir} has no test/Makefile: " +
                "remove that cache directory's .complete stamp's parent to rebuild it, or check the source package");
        return makefile;
    }

    [GeneratedRegex(@"^\s+([A-Za-z0-9_.+-]+)\.(c|cc)\s*\\?\s*$", RegexOptions.Multiline)]
    private static partial Regex MakefileSource();

    [GeneratedRegex(@"^\s*test_srcs\s*\+=\s*([A-Za-z0-9_.+-]+)\.(c|cc)\s*$", RegexOptions.Multiline)]
    private static partial Regex MakefileConditionalSource();

    /// <summary>
    /// Test names from test/Makefile (what `make runtests` runs), in its order: the test_srcs list,
    /// then the tests it adds under a configure condition (statx, nolibc, ...).
    /// </summary>
    public static List<string> MakefileTests(string makefile) =>
        [.. MakefileListed(makefile).Concat(MakefileConditional(makefile)).Distinct()];

    static IEnumerable<string> MakefileListed(string makefile)
    {
        var start = makefile.IndexOf("test_srcs :=", StringComparison.Ordinal);
        if (start < 0) return [];
        var end = makefile.IndexOf("# EOL", start, StringComparison.Ordinal);
        var block = makefile[start..(end < 0 ? makefile.Length : end)];
        return MakefileSource().Matches(block).Select(m => m.Groups[1].Value);
    }

    /// <summary>Tests added with `test_srcs += x.c` inside an ifdef: built only when configure found what they
    /// need.</summary>
    public static IEnumerable<string> MakefileConditional(string makefile) =>
        MakefileConditionalSource().Matches(makefile).Select(m => m.Groups[1].Value);

    /// <summary>
    /// Runs the tests on one kernel: boots, runs the remaining tests in the guest harness, and after a
    /// crash (panic, VM death, overall timeout) records the test that was running and boots again with
    /// the rest. A boot in which no test starts at all ends the kernel's run (no progress to make).
    /// </summary>
    public static KernelRun RunKernel(string kernel, string image, IReadOnlyList<GuestHarness.CTest> tests, string dir)
    {
        Directory.CreateDirectory(dir);
        var sw = Stopwatch.StartNew();
        var all = new List<TestCaseResult>();
        var boots = new List<Boot>();
        var remaining = tests.ToList();
        int? fatal = null;
        var toolkitDll = Path.Combine(AppContext.BaseDirectory, "toolkit.dll");
        // The features the kernel's build says it brings: their project tests must not skip on it.
        var features = KernelBuild.ExpectedFeatures(KernelBuild.InfoOf(image)) ?? [];
        string[] expect = features.Count > 0 ? ["--expect-features", string.Join(',', features)] : [];
        for (var n = 1; remaining.Count > 0; n++)
        {
            var bootDir = Path.Combine(dir, $"boot-{n}");
            Directory.CreateDirectory(bootDir);
            var list = Path.Combine(bootDir, "tests.txt");
            File.WriteAllLines(list, remaining.Select(t => t.Spec));
            var results = Path.Combine(bootDir, RunFiles.GuestResults);
            Progress.Step($"{kernel}: boot {n}, {remaining.Count} test(s)");
            var vm = VmRunner.Run(new VmOptions
            {
                KernelImage = image,
                Command = ["dotnet", toolkitDll, "guest", "--results", results, "--c-test-list", list, .. expect],
                // Each test has its own timeout, enforced by the harness; these two only catch a guest that can no
                // longer run the harness (kernel deadlock, a test the harness cannot kill): the harness announces
                // every test, so silence longer than the longest test's budget means the guest is stuck.
                Timeout = TimeSpan.FromSeconds(remaining.Sum(t => t.TimeoutSeconds + 5) + 120),
                ProgressTimeout = TimeSpan.FromSeconds(remaining.Max(t => t.TimeoutSeconds) + StallMargin),
                ProgressPrefix = ConsoleMarkers.Prefix,
                WorkDir = Paths.RepoRoot,
                RunDir = bootDir,
                Echo = GuestRun.Echo(t => Progress.Detail($"{kernel}: {t}"), b => Progress.Step($"{kernel}: {b}"),
                    "pass", "skip"),
            });
            var (got, problems) = GuestRun.Read(results);
            foreach (var p in problems) Progress.Notice(p);
            var before = got.Count;
            GuestRun.AttributeInterruptedTest(got, vm);
            string? culprit = null;
            if (got.Count > before)
            {
                var c = got[^1];
                culprit = $"{c.Suite}/{c.Name}";
                got[^1] = c with
                {
                    Message = (c.Outcome == Outcome.Crash ? "crashed the kernel"
                    : "the guest stopped responding") +
                    $" (boot {n}, console {vm.ConsoleLog}): {c.Message}"
                };
                Progress.Step($"{kernel}: {culprit} {(c.Outcome == Outcome.Crash ? "crashed the kernel" : "hung the guest")}: {vm.Outcome}");
            }
            boots.Add(new Boot(kernel, n, remaining.Count, vm, culprit));
            all.AddRange(got);
            var done = got.Select(r => (r.Suite, r.Name)).ToHashSet();
            var left = remaining.Where(t => !done.Contains((t.Suite, GuestHarness.TestName(t.Path)))).ToList();
            if (left.Count == 0) break;
            if (left.Count == remaining.Count || vm.ExitCode is 0 or ExitCodes.KernelSplat || vm.GuestStatus != null
                && culprit == null)
            {
                // No test finished or the harness ended without running them all: another boot would do the same.
                all.AddRange(left.Select(t => new TestCaseResult(t.Suite, GuestHarness.TestName(t.Path), Outcome.Fail,
                    0,
                    $"not run: the {kernel} guest could not run the tests (boot {n}: {vm.Outcome}; console {vm.ConsoleLog})")));
                Progress.Step($"{kernel}: {left.Count} test(s) not run: {vm.Outcome}");
                if (vm.ExitCode is ExitCodes.VmFailure or ExitCodes.BootTimeout) fatal = vm.ExitCode;
                break;
            }
            if (culprit != null) Progress.Step($"{kernel}: resuming the remaining {left.Count} test(s) in a fresh boot");
            remaining = left;
        }
        File.WriteAllText(Path.Combine(dir, "results.ktap"), Ktap.Write(SuiteResult.Group(all)));
        return new KernelRun(kernel, all, boots, sw.Elapsed.TotalSeconds, fatal);
    }

    internal static int WriteReports(Options o, string runDir, string selection, List<KernelRun> runs,
        RegressionReport.Comparison comparison,
        IReadOnlyList<TestListFile.Entry> flaky, TextWriter output)
    {
        var header = Header(o, selection, runs, comparison);
        // Each kernel's results as its own suites ("patched/liburing"), so one KTAP/JUnit file holds the whole
        // comparison.
        var perKernel = runs.SelectMany(r => SuiteResult.Group(
            r.Results.Select(t => t with { Suite = $"{r.Kernel}/{t.Suite}" }))).ToList();
        File.WriteAllText(Path.Combine(runDir, "results.ktap"), Ktap.Write(perKernel, header));
        File.WriteAllText(Path.Combine(runDir, "junit.xml"), JUnit.Write(perKernel, new Dictionary<string,
            string>
        {
            ["reference"] = o.Kernels[0],
            ["reference-scope"] = ScopeName(o.ReferenceScope),
            ["reference-not-run"] = comparison.ReferenceNotRun.ToString(),
        }));
        var gate = RegressionReport.GateResults(comparison);
        File.WriteAllText(Path.Combine(runDir, "gate.junit.xml"), JUnit.Write(gate, new Dictionary<string, string>
        {
            ["base"] = o.Base.Name,
            ["kernels"] = string.Join(",", o.Kernels),
            ["selection"] = selection,
            ["test-timeout"] = o.TestTimeout.ToString(),
            ["reference-scope"] = ScopeName(o.ReferenceScope),
            ["reference-not-run"] = comparison.ReferenceNotRun.ToString(),
        }));
        File.WriteAllText(Path.Combine(runDir, "gate.ktap"), Ktap.Write(gate, header));

        var text = new System.Text.StringBuilder();
        text.AppendLine(string.Join('\n', header)).AppendLine();
        text.AppendLine(SummaryTable.Write(perKernel)).AppendLine();
        text.AppendLine(RegressionReport.Table(comparison)).AppendLine();
        foreach (var b in runs.SelectMany(r => r.Boots).Where(b => b.Culprit != null))
        {
            text.AppendLine($"{b.Kernel} boot {b.Number}: {b.Culprit} took the guest down; the rest resumed in a " +
                $"fresh boot");
            text.AppendLine(string.Join('\n', b.Vm.Summary().Split('\n').Select(l => "    " + l)));
        }
        var listed = comparison.Rows.Where(r => r.Verdict == RegressionReport.Verdict.Flaky).ToList();
        foreach (var r in listed)
            text.AppendLine($"flaky (not counted): {r.Key}: {flaky.First(f => f.Key == r.Key).Reason}");
        var summary = text.ToString().TrimEnd();
        File.WriteAllText(Path.Combine(runDir, "summary.txt"), summary + "\n");
        output.WriteLine(summary);
        output.WriteLine($"results: {runDir}/summary.txt, results.ktap, junit.xml, gate.junit.xml");

        // A kernel that could not run the tests at all is a VM problem, not a regression verdict.
        if (runs.FirstOrDefault(r => r.FatalExitCode != null) is { } dead)
        {
            output.WriteLine($"liburing-suite: the {dead.Kernel} kernel could not run the tests: {dead.Boots[^1].Vm.Outcome}");
            return dead.FatalExitCode!.Value;
        }
        return comparison.Failed ? ExitCodes.Failed : ExitCodes.Ok;
    }

    /// <summary>The reports' header: what ran, with which reference scope, and each kernel's build and boots.</summary>
    static List<string> Header(Options o, string selection, List<KernelRun> runs, RegressionReport.Comparison c)
    {
        var header = new List<string>
        {
            $"liburing-suite: {selection}; per-test timeout {o.TestTimeout} s; reference kernel {o.Kernels[0]}; " +
                ScopeText(o, c),
        };
        foreach (var r in runs)
        {
            if (r.Boots.Count == 0)
            {
                // A kernel with no test to run is not booted: the reference with scope failures when nothing
                // failed elsewhere, or any kernel given an empty list.
                header.Add($"{r.Kernel}: not booted (" + (o.ReferenceScope == ReferenceScope.Failures
                    && r.Kernel == o.Kernels[0] ? "reference scope failures: every test passed or skipped on " +
                        string.Join(", ", o.Kernels.Skip(1)) : "no tests") + ")");
                continue;
            }
            var vm = r.Boots[0].Vm;
            header.Add($"{r.Kernel}: {vm.Kernel}; accel={vm.Accel}; {r.Boots.Count} boot(s); wall {r.Seconds:F0} s");
        }
        return header;
    }

    /// <summary>The header's scope clause: with failures, how partial the reference column is.</summary>
    static string ScopeText(Options o, RegressionReport.Comparison c)
    {
        if (o.ReferenceScope == ReferenceScope.All) return "reference scope all";
        var ran = c.Rows.Count - c.ReferenceNotRun;
        var flakyNotRun = c.Rows.Count(r => r.ReferenceNotRun && r.Verdict == RegressionReport.Verdict.Flaky);
        return $"reference scope failures: {o.Kernels[0]} ran {ran} of {c.Rows.Count} test(s) (those that failed, " +
            $"hung, crashed, splatted or have no result on {string.Join(", ", o.Kernels.Skip(1))}, and are not " +
            $"flaky-listed); {c.ReferenceNotRun - flakyNotRun} not run there (passed or skipped elsewhere)" +
            (flakyNotRun > 0 ? $", {flakyNotRun} flaky-listed not run" : "");
    }
}
