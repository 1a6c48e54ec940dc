using System.Diagnostics;
using Toolkit.Infra;
using Toolkit.Reports;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// Runs inside the guest (the host's toolkit, started by `vm test` through the VM's job script):
/// the C tests one by one with a timeout and liburing's dmesg check, then the Validation suite
/// in its own process. Each result is appended to a JSON-lines file on the output share as soon as
/// it is known, and "toolkit-suite:" lines on the console say which test is running, so a kernel
/// crash still tells the host which test caused it.
/// </summary>
public static class GuestHarness
{
    public sealed record CTest(string Suite, string Path, double TimeoutSeconds)
    {
        /// <summary>liburing's convention (runtests.sh): a test whose name starts with "xfail" passes by exiting 1.</summary>
        public bool ExpectsExit1 => System.IO.Path.GetFileName(Path).StartsWith("xfail", StringComparison.Ordinal);

        /// <summary>The "SUITE:TIMEOUT:PATH" form used on the guest command line and in test-list files.</summary>
        public string Spec => $"{Suite}:{TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}:{Path}";

        public static CTest Parse(string spec)
        {
            var parts = spec.Split(':', 3);
            if (parts.Length != 3 || !double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var timeout))
                throw new ToolkitException(ExitCodes.Usage, $"a C test is given as SUITE:TIMEOUT:PATH, got '{spec}'");
            return new CTest(parts[0], parts[2], timeout);
        }
    }

    public static int Run(string results, IReadOnlyList<CTest> cTests, string? validationDll, double testTimeout)
    {
        foreach (var t in cTests) RunCTest(results, t);
        if (validationDll != null) RunValidation(results, validationDll, testTimeout);
        return 0;
    }

    /// <summary>Name a test is reported under: the binary's name without liburing's ".t" suffix.</summary>
    public static string TestName(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        return name.EndsWith(".t", StringComparison.Ordinal) ? name[..^2] : name;
    }

    static void RunCTest(string results, CTest t)
    {
        var name = TestName(t.Path);
        Console.WriteLine($"toolkit-suite: run {t.Suite}/{name}");
        if (!File.Exists(t.Path))
        {
            // A missing binary is that test's failure, not the end of the run: the rest still runs.
            Append(results, new TestCaseResult(t.Suite, name, Outcome.Fail, 0, $"test binary {t.Path} is missing"));
            Console.WriteLine($"toolkit-suite: fail {t.Suite}/{name}: test binary {t.Path} is missing");
            return;
        }
        // Like liburing's runtests.sh: mark the kernel log, so a splat is seen next to the test that caused it.
        // At KERN_DEBUG ("<7>"), below the console loglevel: printk reaches the serial console ahead of buffered
        // tty output and split the "toolkit-suite: run" line the host attributes crashes by; dmesg still has it.
        try { File.AppendAllText("/dev/kmsg", $"<7>Running test {t.Suite}/{name}:\n"); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        var before = KernelLogLines();
        var sw = Stopwatch.StartNew();
        var r = Proc.Run(t.Path, [], workDir: System.IO.Path.GetDirectoryName(t.Path), timeout: TimeSpan.FromSeconds(t.TimeoutSeconds));
        var secs = sw.Elapsed.TotalSeconds;
        var newLog = KernelLogLines().Skip(before.Count).ToList();
        var splat = ConsoleAnalyzer.Analyze(newLog).Splats.FirstOrDefault();
        Outcome outcome;
        string? message = null;
        if (r.TimedOut) (outcome, message) = (Outcome.Timeout, $"killed after {t.TimeoutSeconds:F0} s");
        else if (splat != null) (outcome, message) = (Outcome.Fail, $"kernel {splat.Kind} during the test:\n" + string.Join('\n', splat.Text.Take(20)));
        else if (t.ExpectsExit1) (outcome, message) = r.ExitCode == 1 ? (Outcome.Pass, null) : (Outcome.Fail, $"expected exit 1 (xfail test), got {r.ExitCode}: {LastLine(r.Output)}");
        else if (r.ExitCode == 0) outcome = Outcome.Pass;
        else if (r.ExitCode == 77) (outcome, message) = (Outcome.Skip, LastLine(r.Output) ?? "skipped");
        else (outcome, message) = (Outcome.Fail, $"exit {r.ExitCode}: {LastLine(r.Output)}");
        Append(results, new TestCaseResult(t.Suite, name, outcome, Math.Round(secs, 3), message, Proc.Tail(r.Output, 60)));
        Console.WriteLine($"toolkit-suite: {outcome.ToString().ToLowerInvariant()} {t.Suite}/{name} ({secs:F2} s)" + (message != null ? $": {message.Split('\n')[0]}" : ""));
    }

    /// <summary>Runs the Validation executable; after a per-test timeout it restarts without the tests already recorded.</summary>
    static void RunValidation(string results, string dll, double testTimeout)
    {
        var done = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(results)!, "validation-done.txt");
        // The runner appends here itself; the host reads this file next to the harness's own results.
        var validationResults = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(results)!, "validation.jsonl");
        for (var attempt = 0; attempt < 20; attempt++)
        {
            File.WriteAllLines(done, ResultsFile.Read(validationResults).Select(r => r.Name));
            var before = KernelLogLines();
            var r = Proc.Run("dotnet", [dll, "--results", validationResults, "--test-timeout", testTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--exclude-from", done], onLine: Console.WriteLine);
            var splat = ConsoleAnalyzer.Analyze(KernelLogLines().Skip(before.Count).ToList()).Splats.FirstOrDefault();
            if (splat != null)
                Append(results, new TestCaseResult("validation", "(kernel log during validation)", Outcome.Fail, 0,
                    $"kernel {splat.Kind}:\n" + string.Join('\n', splat.Text.Take(20))));
            if (r.ExitCode != 124) // 124: a test overran its budget; go on with the rest
            {
                if (r.ExitCode is not (0 or 1))
                    Append(results, new TestCaseResult("validation", "(runner)", Outcome.Fail, 0, $"validation runner exited {r.ExitCode}:\n{Proc.Tail(r.Output, 30)}"));
                break;
            }
        }
    }

    static string? LastLine(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim();

    static List<string> KernelLogLines()
    {
        var r = Proc.Run("dmesg", []);
        return r.ExitCode == 0 ? [.. r.Output.Split('\n')] : [];
    }

    static void Append(string results, TestCaseResult r)
    {
        using var w = new StreamWriter(results, append: true);
        w.WriteLine(ResultsFile.Line(r));
        w.Flush();
    }
}
