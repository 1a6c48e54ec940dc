using System.Diagnostics;
using Toolkit.Infra;
using Toolkit.Vm;

namespace Toolkit.Vm;

/// <summary>
/// Runs inside the guest (the host's toolkit, started by `vm test` through the VM's job script):
/// the C tests one by one with a timeout and liburing's dmesg check, then the Validation suite
/// in its own process. Each result is appended to a KTAP file on the output share as soon as it is
/// known (<see cref="KtapStream"/>), and the console markers (<see cref="ConsoleMarkers"/>) say which test
/// is running, so a kernel crash still tells the host which test caused it. A skip of a test that belongs
/// to an expected feature is a failure (<see cref="Features.Enforce"/>).
/// </summary>
public static class GuestHarness
{
    public sealed record CTest(string Suite, string Path, double TimeoutSeconds)
    {
        /// <summary>Arguments the binary is run with (none for liburing's tests and the `vm test` C tests).</summary>
        public IReadOnlyList<string> Args { get; init; } = [];

        /// <summary>liburing's convention (runtests.sh): a test whose name starts with "xfail" passes by exiting
        /// 1.</summary>
        public bool ExpectsExit1 => System.IO.Path.GetFileName(Path).StartsWith("xfail", StringComparison.Ordinal);

        /// <summary>Name reported for this run of the test: the binary's <see cref="TestName"/>, then its
        /// arguments.</summary>
        public string Name => string.Join(' ', [TestName(Path), .. Args]);

        /// <summary>
        /// The "SUITE:TIMEOUT:PATH" form used on the guest command line and in test-list files;
        /// arguments, if any, follow the path, each after a tab.
        /// </summary>
        public string Spec => $"{Suite}:{TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}:{string.Join('\t', [Path, .. Args])}";

        public static CTest Parse(string spec)
        {
            var parts = spec.Split(':', 3);
            if (parts.Length != 3 || !double.TryParse(parts[1], System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var timeout))
                throw new ToolkitException(ExitCodes.Usage, $"a C test is given as SUITE:TIMEOUT:PATH, got '{spec}'");
            var pathAndArgs = parts[2].Split('\t');
            return new CTest(parts[0], pathAndArgs[0], timeout) { Args = pathAndArgs[1..] };
        }
    }

    /// <summary>How a test's process is started: the program and its arguments (a wrapper may come first).</summary>
    public delegate (string File, IReadOnlyList<string> Args) Launcher(CTest test);

    /// <summary>A finished C test: its result, and the kernel log lines written while it ran.</summary>
    public sealed record CTestRun(TestCaseResult Result, IReadOnlyList<string> KernelLog, ProcResult Process);

    public static int Run(string results, IReadOnlyList<CTest> cTests, string? validationDll, double testTimeout,
        IReadOnlyList<string> expectedFeatures)
    {
        var stream = new KtapStream(results);
        foreach (var t in cTests) RunCTest(stream, t, expectedFeatures);
        if (validationDll != null) RunValidation(stream, results, validationDll, testTimeout, expectedFeatures);
        stream.Close();
        return 0;
    }

    /// <summary>Name a test is reported under: the binary's name without liburing's ".t" suffix.</summary>
    public static string TestName(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        return name.EndsWith(".t", StringComparison.Ordinal) ? name[..^2] : name;
    }

    static void RunCTest(KtapStream stream, CTest t, IReadOnlyList<string> expectedFeatures)
    {
        var result = Features.Enforce(RunOne(t).Result, Features.OfCTest(t.Name), expectedFeatures);
        Record(stream, result);
    }

    /// <summary>Records a finished test: appended to the results, then its end marker on the console.</summary>
    public static void Record(KtapStream stream, TestCaseResult r)
    {
        stream.Add(r);
        Console.WriteLine(ConsoleMarkers.Finished(r));
    }

    /// <summary>
    /// Runs one C test the way every suite does (announced on the console, marked in the kernel log, killed at its
    /// timeout, failed on a splat in the kernel log lines it produced) and returns its result without recording it,
    /// so a caller can add its own checks first. <paramref name="launch"/> may start it through a wrapper.
    /// </summary>
    public static CTestRun RunOne(CTest t, Launcher? launch = null)
    {
        var name = t.Name;
        Console.WriteLine(ConsoleMarkers.Run(t.Suite, name));
        if (!File.Exists(t.Path))
        {
            // A missing binary is that test's failure, not the end of the run: the rest still runs.
            return new CTestRun(new TestCaseResult(t.Suite, name, Outcome.Fail,
                0, $"test binary {t.Path} is missing"), [], new ProcResult(-1, "", false));
        }
        // Like liburing's runtests.sh: mark the kernel log, so a splat is seen next to the test that caused it.
        // At KERN_DEBUG ("<7>"), below the console loglevel: printk reaches the serial console ahead of buffered
        // tty output and split the "toolkit-suite: run" line the host attributes crashes by; dmesg still has it.
        var marker = $"Running test {t.Suite}/{name}:";
        try
        {
            File.AppendAllText("/dev/kmsg", $"<7>{marker}\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        var before = KernelLogLines();
        var sw = Stopwatch.StartNew();
        var (file, args) = launch?.Invoke(t) ?? (t.Path, t.Args);
        var r = Proc.Run(file, args, workDir: System.IO.Path.GetDirectoryName(t.Path),
            timeout: TimeSpan.FromSeconds(t.TimeoutSeconds));
        var secs = sw.Elapsed.TotalSeconds;
        var newLog = NewLines(before, KernelLogLines(), marker);
        var splat = ConsoleAnalyzer.Analyze(newLog).Splats.FirstOrDefault();
        Outcome outcome;
        string? message = null;
        if (r.TimedOut) (outcome, message) = (Outcome.Timeout, $"killed after {t.TimeoutSeconds:F0} s");
        else if (splat != null) (outcome,
            message) = (Outcome.Fail, $"kernel {splat.Kind} during the test:\n" + string.Join('\n',
                splat.Text.Take(20)));
        else if (t.ExpectsExit1) (outcome, message) = r.ExitCode == 1 ? (Outcome.Pass,
            null) : (Outcome.Fail, $"expected exit 1 (xfail test), got {r.ExitCode}: {LastLine(r.Output)}");
        else if (r.ExitCode == 0) outcome = Outcome.Pass;
        else if (r.ExitCode == 77) (outcome, message) = (Outcome.Skip, LastLine(r.Output) ?? "skipped");
        else (outcome, message) = (Outcome.Fail, $"exit {r.ExitCode}: {LastLine(r.Output)}");
        return new CTestRun(new TestCaseResult(t.Suite, name, outcome, Math.Round(secs, 3), message,
            Proc.Tail(r.Output, 60)), newLog, r);
    }

    /// <summary>
    /// The kernel log lines of <paramref name="after"/> that were not in <paramref name="before"/>: those after the
    /// last <paramref name="marker"/> line (the "Running test" line written just before), when it is still in the
    /// log. Otherwise by position; when the ring buffer wrapped in between, the old lines no longer line up: then
    /// the new ones start after the last copy of <paramref name="before"/>'s last line (without CONFIG_PRINTK_TIME
    /// lines repeat, so the marker is the reliable way).
    /// </summary>
    public static List<string> NewLines(IReadOnlyList<string> before, IReadOnlyList<string> after,
        string? marker = null)
    {
        if (marker != null)
            for (var i = after.Count - 1; i >= 0; i--)
                if (after[i].EndsWith(marker, StringComparison.Ordinal)) return [.. after.Skip(i + 1)];
        var n = before.Count;
        while (n > 0 && before[n - 1].Length == 0) n--;
        if (n == 0) return [.. after];
        // (Not before.Count: dmesg's output ends with a newline, so its last "line" is an empty one that is not in
        // after.)
        if (after.Count >= n && after[n - 1] == before[n - 1]) return [.. after.Skip(n)];
        var last = before[n - 1];
        for (var i = after.Count - 1; i >= 0; i--)
            if (after[i] == last) return [.. after.Skip(i + 1)];
        return [.. after];
    }

    /// <summary>Runs the Validation executable; after a per-test timeout it restarts without the tests already
    /// recorded.</summary>
    static void RunValidation(KtapStream stream, string results, string dll, double testTimeout,
        IReadOnlyList<string> expectedFeatures)
    {
        var dir = System.IO.Path.GetDirectoryName(results)!;
        var done = System.IO.Path.Combine(dir, "validation-done.txt");
        // The runner appends here itself; the host reads this file next to the harness's own results.
        var validationResults = System.IO.Path.Combine(dir, RunFiles.ValidationResults);
        var timeout = testTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            File.WriteAllLines(done, Ktap.ReadResults(validationResults).Tests.Select(r => r.Name));
            var before = KernelLogLines();
            List<string> args =
                [dll, "--results", validationResults, "--test-timeout", timeout, "--exclude-from", done];
            if (expectedFeatures.Count > 0) args.AddRange(["--expect-features", string.Join(',', expectedFeatures)]);
            var r = Proc.Run("dotnet", args, onLine: Console.WriteLine);
            var splat = ConsoleAnalyzer.Analyze(NewLines(before, KernelLogLines())).Splats.FirstOrDefault();
            if (splat != null)
                stream.Add(new TestCaseResult("validation", "(kernel log during validation)", Outcome.Fail, 0,
                    $"kernel {splat.Kind}:\n" + string.Join('\n', splat.Text.Take(20))));
            if (r.ExitCode != 124) // 124: a test overran its budget; go on with the rest
            {
                if (r.ExitCode is not (0 or 1))
                    stream.Add(new TestCaseResult("validation", "(runner)", Outcome.Fail, 0,
                        $"validation runner exited {r.ExitCode}:\n{Proc.Tail(r.Output, 30)}"));
                break;
            }
        }
    }

    public static string? LastLine(string output) => output.Split('\n',
        StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim();

    public static List<string> KernelLogLines()
    {
        var r = Proc.Run("dmesg", []);
        return r.ExitCode == 0 ? [.. r.Output.Split('\n')] : [];
    }
}
