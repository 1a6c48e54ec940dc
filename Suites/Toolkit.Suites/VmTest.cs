using System.CommandLine;
using System.Text.RegularExpressions;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Reports;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// `vm test`: builds the Validation suite and the C tests on the host, boots the kernel once, runs
/// both inside it through the guest harness, and turns the results into KTAP, JUnit XML and a summary.
/// </summary>
public static partial class VmTest
{
    public static Command Command()
    {
        var kernel = KernelOptions.Flavour("--kernel", "Which built kernel to boot");
        var image = KernelOptions.Image();
        var timeout = VmCommandOptions.Timeout(1800, "the whole suite run");
        var testTimeout = new Option<int>("--test-timeout") { Description = "Seconds one test may run (per test; a test can ask for more)", DefaultValueFactory = _ => 120 };
        var junit = new Option<string?>("--junit") { Description = "Also write the JUnit XML here (for CI)" };
        var suite = new Option<string>("--suite") { Description = "Which suites to run: all, validation or c", DefaultValueFactory = _ => "all" };
        suite.AcceptOnlyFromAmong("all", "validation", "c");
        var cmd = new Command("test", "Run the Validation suite (NUnit on the host's .NET) and the C tests of liburing-tests/ inside the booted kernel; " +
            "write KTAP, JUnit XML and a summary table to the run directory. Exit 0 when everything passed and the kernel log is clean, " +
            $"1 on test failures, or the `vm run` code for a VM-level failure.")
        {
            kernel, image, timeout, testTimeout, suite, junit,
        };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var report = Run(KernelOptions.ResolveImage(r.GetValue(kernel)!, r.GetValue(image)), r.GetValue(suite)!,
                r.GetValue(timeout), r.GetValue(testTimeout), Console.Out);
            if (r.GetValue(junit) is { } path)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                File.Copy(Path.Combine(report.RunDir, "junit.xml"), path, overwrite: true);
            }
            return report.ExitCode;
        }));
        return cmd;
    }

    public sealed record Report(int ExitCode, string RunDir, IReadOnlyList<SuiteResult> Suites, VmResult Vm);

    public static Report Run(string kernelImage, string suites, int timeoutSeconds, int testTimeoutSeconds, TextWriter output)
    {
        if (!File.Exists(kernelImage))
            throw new ToolkitException(ExitCodes.NoKernelImage, $"no kernel image at {kernelImage}: build it first with `scripts/toolkit kernel build`");
        var runDir = Paths.NewRunDir("vm-test");
        string? validation = null;
        var cTests = new List<GuestHarness.CTest>();
        if (suites is "all" or "validation") validation = BuildValidation(runDir);
        if (suites is "all" or "c") cTests.AddRange(CTests.Build(runDir, testTimeoutSeconds));

        var results = Path.Combine(runDir, "results.jsonl");
        var toolkitDll = Path.Combine(AppContext.BaseDirectory, "toolkit.dll");
        var command = new List<string> { "dotnet", toolkitDll, "guest", "--results", results, "--test-timeout", testTimeoutSeconds.ToString() };
        if (validation != null) command.AddRange(["--validation", validation]);
        foreach (var t in cTests) command.AddRange(["--c-test", t.Spec]);

        Progress.Step($"booting {Path.GetFileName(VmRunner.BuildDirOf(kernelImage))} " +
            $"for {cTests.Count} C test(s){(validation != null ? " and the Validation suite" : "")}; run dir {runDir}");
        var echo = new LineFilter(line =>
        {
            if (line.StartsWith("toolkit-suite: run ", StringComparison.Ordinal)) Progress.Detail(line["toolkit-suite: ".Length..]);
            else if (line.StartsWith("toolkit-suite: ", StringComparison.Ordinal) && !line.StartsWith("toolkit-suite: pass", StringComparison.Ordinal))
                Progress.Step(line["toolkit-suite: ".Length..]);
        });
        var vm = VmRunner.Run(new VmOptions
        {
            KernelImage = kernelImage,
            Command = command,
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            WorkDir = Paths.RepoRoot,
            RunDir = runDir,
            Echo = echo,
        });

        var all = ResultsFile.Read(results).Concat(ResultsFile.Read(Path.Combine(runDir, "validation.jsonl"))).ToList();
        AttributeInterruptedTest(all, vm);
        // The boot itself is a test: a VM failure, timeout, panic or splat must show up in every report.
        all.Add(new TestCaseResult("vm", "boot, run and clean kernel log", vm.ExitCode == 0 ? Outcome.Pass : Outcome.Fail,
            Math.Round(vm.TotalSeconds, 3), vm.ExitCode == 0 ? null : vm.Summary()));
        var grouped = ResultsFile.Group(all);
        var info = KernelInfo.Load(VmRunner.BuildDirOf(kernelImage));
        var header = new List<string>
        {
            $"kernel: {info?.KernelRelease ?? kernelImage} flavour={info?.Flavour ?? "?"} base={info?.BaseVersion ?? "?"} series={info?.SeriesHash ?? "?"} patches={info?.SeriesPatches}",
            $"vm: {vm.Outcome}; accel={vm.Accel}; boot-to-init={vm.BootToInitSeconds:F2}s; total={vm.TotalSeconds:F1}s",
        };
        File.WriteAllText(Path.Combine(runDir, "results.ktap"), Ktap.Write(grouped, header));
        var props = new Dictionary<string, string> { ["kernel"] = info?.KernelRelease ?? kernelImage, ["base"] = info?.BaseVersion ?? "", ["series"] = info?.SeriesHash ?? "", ["accel"] = vm.Accel };
        File.WriteAllText(Path.Combine(runDir, "junit.xml"), JUnit.Write(grouped, props));
        var summary = SummaryTable.Write(grouped);
        File.WriteAllText(Path.Combine(runDir, "summary.txt"), string.Join('\n', header) + "\n\n" + summary + "\n\n" + vm.Summary() + "\n");

        output.WriteLine(string.Join('\n', header));
        output.WriteLine();
        output.WriteLine(summary);
        output.WriteLine();
        output.WriteLine(vm.Summary());
        output.WriteLine($"results: {runDir}/results.ktap, junit.xml, summary.txt");

        int code;
        if (vm.ExitCode is ExitCodes.BootTimeout or ExitCodes.VmFailure or ExitCodes.KernelPanic or ExitCodes.KernelSplat or ExitCodes.CommandTimeout)
            code = vm.ExitCode;
        else if (vm.ExitCode != 0) code = ExitCodes.VmFailure;
        else code = grouped.Any(s => s.Failed > 0) || all.Count == 0 ? ExitCodes.Failed : ExitCodes.Ok;
        return new Report(code, runDir, grouped, vm);
    }

    [GeneratedRegex(@"^toolkit-suite: run ([^/]+)/(.+)$")]
    private static partial Regex RunLine();

    /// <summary>When the VM died mid-test, the last test announced on the console without a result is the culprit.</summary>
    internal static void AttributeInterruptedTest(List<TestCaseResult> all, VmResult vm)
    {
        if (vm.ExitCode is not (ExitCodes.KernelPanic or ExitCodes.CommandTimeout or ExitCodes.VmFailure)) return;
        var last = File.ReadLines(vm.ConsoleLog).Select(l => RunLine().Match(l)).LastOrDefault(m => m.Success);
        if (last == null) return;
        var (suite, name) = (last.Groups[1].Value, last.Groups[2].Value.Trim());
        if (all.Any(r => r.Suite == suite && r.Name == name)) return;
        var outcome = vm.ExitCode == ExitCodes.CommandTimeout ? Outcome.Timeout : Outcome.Crash;
        var splat = vm.Panic != null ? $"kernel panic: {vm.Panic}" : vm.Outcome;
        all.Add(new TestCaseResult(suite, name, outcome, 0, splat + "\n" + string.Join('\n', vm.Splats.SelectMany(s => s.Text).Take(30))));
    }

    /// <summary>A TextWriter that hands each completed line to a callback (the VM runner echoes console lines to it).</summary>
    internal sealed class LineFilter(Action<string> onLine) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void WriteLine(string? value) => onLine(value ?? "");
    }

    static string BuildValidation(string runDir)
    {
        var project = Path.Combine(Paths.RepoRoot, "Validation", "IoUring.Validation", "IoUring.Validation.csproj");
        var outDir = Path.Combine(Paths.RepoRoot, "artifacts", "validation");
        Progress.Step("building the Validation suite");
        Proc.Check("dotnet", ["build", project, "-c", "Release", "-o", outDir, "--nologo", "-v", "quiet", "-clp:NoSummary"],
            ExitCodes.BuildFailed, "building the Validation suite", logFile: Path.Combine(runDir, "build-validation.log"));
        return Path.Combine(outDir, "IoUring.Validation.dll");
    }

    /// <summary>Internal command run by the guest: `toolkit guest ...`.</summary>
    public static Command GuestCommand()
    {
        var results = new Option<string>("--results") { Required = true, Description = "JSON-lines results file (on the output share)" };
        var validation = new Option<string?>("--validation") { Description = "Validation suite assembly" };
        var cTest = new Option<string[]>("--c-test") { Description = "SUITE:TIMEOUT:PATH of a C test binary (repeatable)" };
        var cTestList = new Option<string?>("--c-test-list") { Description = "File with one SUITE:TIMEOUT:PATH per line, run after the --c-test ones (long lists, e.g. liburing's own suite)" };
        var testTimeout = new Option<int>("--test-timeout") { DefaultValueFactory = _ => 120 };
        var cmd = new Command("guest", "(internal) Run inside the guest by `vm test`: the C tests, then the Validation suite") { results, validation, cTest, cTestList, testTimeout };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var tests = (r.GetValue(cTest) ?? []).Select(GuestHarness.CTest.Parse).ToList();
            if (r.GetValue(cTestList) is { } list)
                tests.AddRange(File.ReadAllLines(list).Where(l => l.Trim().Length > 0).Select(l => GuestHarness.CTest.Parse(l.Trim())));
            return GuestHarness.Run(r.GetValue(results)!, tests, r.GetValue(validation), r.GetValue(testTimeout));
        }));
        return cmd;
    }
}
