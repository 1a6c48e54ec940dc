using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Toolkit.Infra;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// The guest half of `reliability` (`toolkit guest-reliability`, started by the host's job script): runs the
/// plan's C tests one by one through <see cref="GuestHarness.RunOne"/>, the tests of the fault-injection phase
/// with failslab/fail_page_alloc armed for their processes, and after each one checks kmemleak: waits out
/// kmemleak's minimum object age, scans twice, saves the report, fails the test when an unreferenced object
/// was allocated in io_uring, lists the rest as warnings, and clears. Results go to a KTAP results file like
/// the harness's (one <see cref="TestCaseResult"/> per test); the numbers behind them (kmemleak objects,
/// injected failures) to a details file.
/// </summary>
public static class ReliabilityGuest
{
    /// <summary>One test of the plan, as the host wrote it.</summary>
    public sealed record PlanTest(string Suite, string Path, IReadOnlyList<string> Args, double TimeoutSeconds)
    {
        /// <summary>Run under fault injection (with make-it-fail through <see
        /// cref="FaultInjection.Wrapper"/>).</summary>
        public bool FaultInjection { get; init; }
        /// <summary>Percent of eligible allocations that fail, for a fault-injection test.</summary>
        public int FaultProbability { get; init; } = 10;
        /// <summary>Bytes of eligible allocations that succeed before any fails (<see
        /// cref="FaultInjection.Settings.Space"/>).</summary>
        public int FaultSpace { get; init; }
        /// <summary>The test has a fault-tolerant mode (-f) and asserts its CQE accounting; otherwise only the kernel's
        /// health counts.</summary>
        public bool FaultTolerant { get; init; }
        /// <summary>Not run, for this reason (e.g. its binary was not built).</summary>
        public string? SkipReason { get; init; }

        public GuestHarness.CTest ToCTest() => new(Suite, Path, TimeoutSeconds) { Args = Args };
        public string Name => ToCTest().Name;
    }

    public sealed record Plan(IReadOnlyList<PlanTest> Tests)
    {
        /// <summary>Seconds to wait after a test before scanning: more than kmemleak's 5 s minimum object
        /// age.</summary>
        public double KmemleakWaitSeconds { get; init; } = 6;
        /// <summary>Seconds one `echo scan` may take.</summary>
        public double ScanTimeoutSeconds { get; init; } = 600;
        /// <summary>File listing the functions of the kernel's io_uring/*.o (null: recognise io_uring by
        /// name).</summary>
        public string? IoUringSymbols { get; init; }
        /// <summary>File listing the functions of mm/kmemleak.o, whose allocations fault injection must not
        /// fail.</summary>
        public string? KmemleakSymbols { get; init; }
        /// <summary>The library the fault-injection wrapper preloads (<see cref="FaultInjection.PreloadLibrary"/>);
        /// without it the phase does not run.</summary>
        public string? FaultPreload { get; init; }
        /// <summary>Where each test's output, the kmemleak reports and the fault-injection scripts are saved.</summary>
        public required string OutDir { get; init; }
    }

    /// <summary>What the reliability job found for one test, beyond pass/fail.</summary>
    public sealed record Details(string Suite, string Name)
    {
        public bool KmemleakChecked { get; init; }
        public int KmemleakIoUring { get; init; }
        public int KmemleakOther { get; init; }
        public string? KmemleakFile { get; init; }
        public IReadOnlyList<string> KmemleakWarnings { get; init; } = [];
        public IReadOnlyDictionary<string, long>? Injected { get; init; }
        public int LoggedFailures { get; init; }
        public IReadOnlyDictionary<string, int>? LoggedSites { get; init; }
        public int? ExitCode { get; init; }
        public string? Note { get; init; }
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static void WritePlan(string path, Plan plan) => File.WriteAllText(path, JsonSerializer.Serialize(plan,
        new JsonSerializerOptions { WriteIndented = true }));

    public static Plan ReadPlan(string path) =>
        JsonSerializer.Deserialize<Plan>(File.ReadAllText(path))
            ?? throw new ToolkitException(ExitCodes.Usage, $"{path}: not a reliability plan");

    public static List<Details> ReadDetails(string path) =>
        File.Exists(path)
            ? File.ReadAllLines(path).Where(l => l.Trim().Length > 0).Select(l =>
            {
                try { return JsonSerializer.Deserialize<Details>(l); }
                catch (JsonException) { return null; }
            }).OfType<Details>().ToList()
            : [];

    /// <summary>Internal command run by the guest: `toolkit guest-reliability --plan P --results R --details
    /// D`.</summary>
    public static Command Command()
    {
        var plan = new Option<string>("--plan") { Required = true, Description = "The plan the host wrote (JSON)" };
        var results = new Option<string>("--results")
        {
            Required = true,
            Description = "KTAP results file (on the output share)",
        };
        var details = new Option<string>("--details")
        {
            Required = true,
            Description = "JSON-lines details file (kmemleak, injected failures)"
        };
        var cmd = new Command("guest-reliability",
            "(internal) Run inside the guest by `reliability`: the plan's tests with kmemleak checks and fault " +
                "injection")
        {
            plan, results, details,
        };
        cmd.Hidden = true;
        cmd.SetAction(r => Guard.Run(() => Run(ReadPlan(r.GetValue(plan)!), r.GetValue(results)!,
            r.GetValue(details)!)));
        return cmd;
    }

    public static int Run(Plan plan, string resultsFile, string detailsFile)
    {
        var results = new KtapStream(resultsFile);
        Directory.CreateDirectory(plan.OutDir);
        var ioUring = plan.IoUringSymbols != null && File.Exists(plan.IoUringSymbols)
            ? File.ReadAllLines(plan.IoUringSymbols).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal) : null;
        var kmemleak = File.Exists(Kmemleak.DebugFsFile);
        var seq = 0;

        // Reports from boot and the harness's start-up, so each test's check sees only what is new.
        if (kmemleak)
        {
            var (boot, d) = CheckKmemleak(plan, ioUring, new TestCaseResult("kmemleak",
                "before the first test (boot, harness start-up)", Outcome.Pass, 0), seq++, []);
            Record(results, detailsFile, boot, d);
        }
        else
            Record(results, detailsFile, new TestCaseResult("kmemleak", "available", Outcome.Fail, 0,
                $"{Kmemleak.DebugFsFile} does not exist: the kernel has no CONFIG_DEBUG_KMEMLEAK (use the debug " +
                    $"flavour), or debugfs is not mounted; " +
                "no test below was checked for leaks"), new Details("kmemleak", "available"));

        FaultInjection.Settings? fault = null;
        string? faultProblem = null;
        if (plan.Tests.Any(t => t.FaultInjection && t.SkipReason == null))
            (fault, faultProblem) = PrepareFaultInjection(plan, ioUring);

        // Set when a fault-injected test left the guest's root unusable: nothing after it can exec.
        string? rootBroken = null;
        foreach (var t in plan.Tests)
        {
            var name = t.Name;
            if (rootBroken != null)
            {
                Console.WriteLine($"toolkit-suite: run {t.Suite}/{name}");
                var why = $"not run: {rootBroken}";
                Record(results, detailsFile, new TestCaseResult(t.Suite, name, Outcome.Skip, 0, why),
                    new Details(t.Suite, name) { Note = why });
                continue;
            }
            if (t.SkipReason != null)
            {
                var skipped = new TestCaseResult(t.Suite, name, Outcome.Skip, 0, t.SkipReason);
                Console.WriteLine(ConsoleMarkers.Run(t.Suite, name));
                Record(results, detailsFile, skipped, new Details(t.Suite, name) { Note = t.SkipReason });
                continue;
            }
            if (t.FaultInjection && fault == null)
            {
                Console.WriteLine(ConsoleMarkers.Run(t.Suite, name));
                Record(results, detailsFile, new TestCaseResult(t.Suite, name, Outcome.Fail,
                    0, $"fault injection unavailable: {faultProblem}"),
                    new Details(t.Suite, name) { Note = faultProblem });
                continue;
            }
            var settings = t.FaultInjection ? fault! with
            {
                Probability = t.FaultProbability,
                Space = t.FaultSpace
            } : null;
            GuestHarness.Launcher? launch = null;
            if (settings != null)
            {
                var arm = Path.Combine(plan.OutDir, $"{seq:D2}-fault-arm.sh");
                File.WriteAllText(arm, FaultInjection.ArmScript(settings));
                var armed = Proc.Run("sh", [arm], timeout: TimeSpan.FromSeconds(60));
                if (armed.ExitCode != 0)
                {
                    Console.WriteLine(ConsoleMarkers.Run(t.Suite, name));
                    Record(results, detailsFile, new TestCaseResult(t.Suite, name, Outcome.Fail,
                        0, $"arming fault injection failed ({arm}): {armed.Output.Trim()}"),
                        new Details(t.Suite, name));
                    Proc.Run("sh", ["-c", FaultInjection.DisarmScript(settings)], timeout: TimeSpan.FromSeconds(60));
                    continue;
                }
                var wrapper = FaultInjection.Wrapper(plan.FaultPreload!);
                launch = c => ("/bin/sh", ["-c", wrapper, c.Path, .. c.Args]);
            }

            var run = GuestHarness.RunOne(t.ToCTest(), launch);
            File.WriteAllText(Path.Combine(plan.OutDir, $"{seq:D2}-{Safe($"{t.Suite}/{name}")}.output.txt"),
                $"# {t.Suite}/{name}: exit {(run.Process.TimedOut ? "(killed at the timeout)" : run.Process.ExitCode)}\n" + run.Process.Output);
            var result = run.Result;
            var details = new Details(t.Suite, name) { ExitCode = run.Process.TimedOut ? null : run.Process.ExitCode };
            if (settings != null)
            {
                var disarm = Proc.Run("sh", ["-c", FaultInjection.DisarmScript(settings)],
                    timeout: TimeSpan.FromSeconds(60));
                var injected = FaultInjection.InjectedCounts(disarm.Output);
                var logged = FaultInjection.ParseLogged(run.KernelLog, f => Kmemleak.IsIoUring(f, ioUring));
                details = details with
                {
                    Injected = injected,
                    LoggedFailures = logged.Count,
                    LoggedSites = logged.GroupBy(l => $"{l.Capability}:{l.Site ?? "?"}").OrderByDescending(g =>
                        g.Count())
                        .ToDictionary(g => g.Key, g => g.Count()),
                };
                result = JudgeUnderFaults(t, result, run, injected);
                var problem = FaultInjection.RootProblem($"{t.Suite}/{name}", CheckRoot());
                if (problem != null)
                {
                    // Every later exec fails, the kmemleak check's included: one clear failure, and the rest are not
                    // run.
                    Console.WriteLine($"toolkit-suite: {problem}");
                    rootBroken = problem;
                    seq++;
                    Record(results, detailsFile, result with
                    {
                        Outcome = Outcome.Fail,
                        Message = problem + (result.Message != null ? "\n" + result.Message : "")
                    },
                        details with { Note = AppendNote(details.Note, problem + "; kmemleak not checked") });
                    continue;
                }
            }
            (result, details) = CheckKmemleakAfter(plan, ioUring, kmemleak, result, details, seq, run.KernelLog);
            seq++;
            Record(results, detailsFile, result, details);
        }
        results.Close();
        return 0;
    }

    /// <summary>
    /// A test's verdict under fault injection. One with a fault-tolerant mode keeps its own verdict (its CQE
    /// accounting). One without may fail its own checks when an allocation fails (exit 1): that is expected
    /// and not counted; a timeout, crash or splat still is. Either way, no injected failure at all means
    /// the injection never reached io_uring, and the test proved nothing: that fails.
    /// </summary>
    public static TestCaseResult JudgeUnderFaults(PlanTest t, TestCaseResult result, GuestHarness.CTestRun run,
        IReadOnlyDictionary<string, long> injected)
    {
        var total = injected.Values.Sum();
        var counts = string.Join(", ", injected.Select(kv => $"{kv.Key} {kv.Value}"));
        var splat = ConsoleAnalyzer.Analyze(run.KernelLog).Splats.Count > 0;
        if (!t.FaultTolerant && result.Outcome == Outcome.Fail && !splat && !run.Process.TimedOut
            && run.Process.ExitCode > 0 && run.Process.ExitCode < 128)
            result = result with
            {
                Outcome = Outcome.Pass,
                Message = $"exit {run.Process.ExitCode} under fault injection, not counted (the test has no " +
                    $"fault-tolerant mode; only a splat, hang or leak counts): " +
                          (GuestHarness.LastLine(run.Process.Output) ?? ""),
            };
        if (total == 0 && result.Outcome is Outcome.Pass)
            return result with
            {
                Outcome = Outcome.Fail,
                Message = $"no allocation failure was injected ({counts}): the fault injection did not reach io_uring"
            };
        return result with
        {
            Message = (result.Message != null ? result.Message + "\n" : "")
            + $"injected failures: {counts}"
        };
    }

    /// <summary>`sh -c true` and a read of <see cref="FaultInjection.RootCheckFile"/>: can the guest still exec and
    /// open files on its root?</summary>
    static FaultInjection.RootCheck CheckRoot()
    {
        int? exit = null;
        string output = "";
        var timedOut = false;
        try
        {
            var r = Proc.Run("sh", ["-c", "true"], timeout: TimeSpan.FromSeconds(60));
            (exit, output, timedOut) = (r.ExitCode, r.Output, r.TimedOut);
        }
        catch (Exception e) { output = e.Message; }
        string? readError = null;
        try
        {
            using var f = File.OpenRead(FaultInjection.RootCheckFile);
            _ = f.Read(new byte[4]);
        }
        catch (Exception e) { readError = e.Message; }
        return new FaultInjection.RootCheck(exit, output, timedOut, readError);
    }

    static (FaultInjection.Settings?, string?) PrepareFaultInjection(Plan plan, HashSet<string>? ioUring)
    {
        if (plan.FaultPreload == null || !File.Exists(plan.FaultPreload))
            return (null, $"{plan.FaultPreload ?? FaultInjection.PreloadLibrary} was not built " +
                $"(liburing-tests/preload/): without it io_uring's threads " +
                "exit with make-it-fail set and can break the guest's root");
        if (!Directory.Exists($"{FaultInjection.DebugFs}/failslab"))
            return (null, $"{FaultInjection.DebugFs}/failslab does not exist: the kernel has no CONFIG_FAILSLAB + " +
                $"CONFIG_FAULT_INJECTION_DEBUG_FS (use the debug flavour)");
        var pageAlloc = Directory.Exists($"{FaultInjection.DebugFs}/fail_page_alloc");
        var stackFilter = File.Exists($"{FaultInjection.DebugFs}/failslab/require-start");
        var kallsyms = FaultInjection.ParseKallsyms(File.Exists("/proc/kallsyms") ? File.ReadLines("/proc/kallsyms")
            : []);
        var kmemleakNames = plan.KmemleakSymbols != null && File.Exists(plan.KmemleakSymbols)
            ? File.ReadAllLines(plan.KmemleakSymbols).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal) : null;
        var require = stackFilter && ioUring != null ? FaultInjection.FindRange(kallsyms, ioUring) : null;
        var reject = stackFilter && kmemleakNames != null ? FaultInjection.FindRange(kallsyms, kmemleakNames) : null;
        FaultInjection.Settings s;
        string how;
        if (require != null)
        {
            s = new FaultInjection.Settings { PageAlloc = pageAlloc, Require = require, Reject = reject };
            how = $"allocations with io_uring's text on the stack: {require}" + (reject != null
                ? $"; never with kmemleak's: {reject}" : "; kmemleak's own not excluded (mm/kmemleak.o symbols unknown)");
        }
        else
        {
            // Without the stack filter or io_uring's symbols: only io_uring's own cache, io_kiocb (requests, CQE
            // carriers).
            s = new FaultInjection.Settings { PageAlloc = false, Caches = ["io_kiocb"] };
            how = "failslab on the io_kiocb cache only (cache-filter): " +
                  (!stackFilter ? "the kernel has no CONFIG_FAULT_INJECTION_STACKTRACE_FILTER"
                      : "io_uring's symbols are unknown or not in /proc/kallsyms");
        }
        var text = $"fault injection: {string.Join(" + ", s.PageAlloc ? FaultInjection.Capabilities : ["failslab"])}, task-filter (make-it-fail set by a wrapper before exec), {how}\n";
        File.WriteAllText(Path.Combine(plan.OutDir, "fault-injection.txt"),
            text + "\narm script (probability per test):\n" + FaultInjection.ArmScript(s));
        Console.WriteLine(ConsoleMarkers.Note(text));
        return (s, null);
    }

    static (TestCaseResult, Details) CheckKmemleakAfter(Plan plan, HashSet<string>? ioUring, bool available,
        TestCaseResult result, Details details,
        int seq, IReadOnlyList<string> testLog)
    {
        if (!available) return (result, details with
        {
            Note = AppendNote(details.Note,
            "kmemleak not available: not checked")
        });
        var (r, d) = CheckKmemleak(plan, ioUring, result, seq, testLog);
        return (r, d with
        {
            ExitCode = details.ExitCode,
            Injected = details.Injected,
            LoggedFailures = details.LoggedFailures,
            LoggedSites = details.LoggedSites,
            Note = details.Note,
        });
    }

    /// <summary>
    /// kmemleak after a test: wait past the minimum object age, scan twice, read, save, clear. An object allocated
    /// in io_uring fails the test; the rest are warnings. kmemleak turning itself off (out of metadata memory) fails
    /// it too: from then on nothing is checked.
    /// </summary>
    static (TestCaseResult, Details) CheckKmemleak(Plan plan, HashSet<string>? ioUring, TestCaseResult result,
        int seq, IReadOnlyList<string> testLog)
    {
        var label = $"{result.Suite}/{result.Name}";
        Console.WriteLine(ConsoleMarkers.Note($"kmemleak scan after {label}"));
        var sw = Stopwatch.StartNew();
        var before = GuestHarness.KernelLogLines();
        Thread.Sleep(TimeSpan.FromSeconds(plan.KmemleakWaitSeconds));
        string? error = null;
        for (var i = 0; i < 2 && error == null; i++)
        {
            var scan = Proc.Run("sh", ["-c", $"echo scan > {Kmemleak.DebugFsFile}"],
                timeout: TimeSpan.FromSeconds(plan.ScanTimeoutSeconds));
            if (scan.TimedOut) error = $"scan {i + 1} took more than {plan.ScanTimeoutSeconds:F0} s";
            else if (scan.ExitCode != 0) error = $"scan {i + 1} failed: {scan.Output.Trim()}";
        }
        string text = "";
        if (error == null)
        {
            var read = Proc.Run("cat", [Kmemleak.DebugFsFile], timeout: TimeSpan.FromSeconds(plan.ScanTimeoutSeconds));
            if (read.ExitCode != 0) error = $"reading {Kmemleak.DebugFsFile} failed: {read.Output.Trim()}";
            else text = read.Output;
        }
        var log = GuestHarness.NewLines(before, GuestHarness.KernelLogLines());
        // During the test or the scans (metadata memory exhausted, e.g. by an injected failure).
        var off = Kmemleak.DisabledLine(testLog.Concat(log));
        if (off != null) error = $"kmemleak turned itself off ({off.Trim()}): this and later checks are void";

        var reports = Kmemleak.Classify(Kmemleak.Parse(text), ioUring);
        string? file = null;
        if (text.Trim().Length > 0)
        {
            file = Path.Combine(plan.OutDir, $"{seq:D2}-{Safe(label)}.kmemleak.txt");
            File.WriteAllText(file, $"# kmemleak after {label}\n" + text);
        }
        Proc.Run("sh", ["-c", $"echo clear > {Kmemleak.DebugFsFile}"],
            timeout: TimeSpan.FromSeconds(plan.ScanTimeoutSeconds));
        var io = reports.Where(r => r.IsIoUring).ToList();
        var other = reports.Where(r => !r.IsIoUring).ToList();
        var secs = sw.Elapsed.TotalSeconds;
        Console.WriteLine(ConsoleMarkers.Note($"kmemleak after {label}: {io.Count} io_uring object(s), " +
            $"{other.Count} other(s) in {secs:F1} s" + (file != null ? $"; {file}" : "") +
            (error != null ? $"; {error}" : "")));
        var details = new Details(result.Suite, result.Name)
        {
            KmemleakChecked = error == null,
            KmemleakIoUring = io.Count,
            KmemleakOther = other.Count,
            KmemleakFile = file,
            KmemleakWarnings = other.Take(20).Select(Kmemleak.Describe).ToList(),
        };
        if (io.Count > 0)
            result = result with
            {
                Outcome = Outcome.Fail,
                Message = $"kmemleak: {io.Count} unreferenced object(s) allocated in io_uring ({file}); first: {Kmemleak.Describe(io[0])}" +
                          (result.Message != null ? "\n" + result.Message : ""),
            };
        else if (error != null && result.Outcome != Outcome.Skip)
            result = result with
            {
                Outcome = Outcome.Fail,
                Message = $"kmemleak check not done: {error}" + (result.Message != null ? "\n" + result.Message : "")
            };
        else if (other.Count > 0)
            result = result with
            {
                Message = AppendNote(
                result.Message, $"kmemleak: {other.Count} object(s) outside io_uring (warnings; {file})")
            };
        return (result, details);
    }

    static string AppendNote(string? message, string note) => message == null ? note : message + "\n" + note;

    static string Safe(string s)
    {
        var chars = s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        var t = new string(chars).Trim('_');
        while (t.Contains("__")) t = t.Replace("__", "_");
        return t.Length > 80 ? t[..80] : t;
    }

    static void Record(KtapStream results, string detailsFile, TestCaseResult r, Details d)
    {
        // Details first: the end marker tells the host the test is done, and both of its records are then written.
        using (var w = new StreamWriter(detailsFile, append: true)) w.WriteLine(JsonSerializer.Serialize(d, Json));
        GuestHarness.Record(results, r);
    }
}
