using System.CommandLine;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Reports;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// `vm test`: builds the Validation suite and the C tests on the host, boots the kernel once, runs
/// both inside it through the guest harness, and turns the results into KTAP, JUnit XML and a summary.
/// The features the kernel is expected to bring (its toolkit-kernel.json, or --expect for a foreign image)
/// go to the harness: a skipped test of one of them fails.
/// </summary>
public static class VmTest
{
    public static Command Command()
    {
        var kernelBase = KernelOptions.Base();
        var kernel = KernelOptions.Flavour("--kernel", "Which built kernel to boot");
        var image = KernelOptions.Image();
        var timeout = VmCommandOptions.Timeout(1800, "the whole suite run");
        var testTimeout = new Option<int>("--test-timeout")
        {
            Description =
            "Seconds one test may run (per test; a test can ask for more)",
            DefaultValueFactory = _ => 120
        };
        var junit = new Option<string?>("--junit") { Description = "Also write the JUnit XML here (for CI)" };
        var suite = new Option<string>("--suite")
        {
            Description = "Which suites to run: all, validation or c (QEMU); waiter (Bochs: the CQ-word waiter's " +
                "MONITORX/MWAITX stubs run for real)",
            DefaultValueFactory = _ => "all"
        };
        suite.AcceptOnlyFromAmong("all", "validation", "c", WaiterSuite.Suite);
        var emulator = VmCommandOptions.Emulator();
        var cpu = VmCommandOptions.Cpu();
        var waitModes = new Option<string>("--wait-modes")
        {
            Description = "waiter suite: the idle-wait instructions to run, comma-separated (mwaitx, umwait, pause)",
            DefaultValueFactory = _ => WaiterSuite.DefaultModes,
        };
        var handoffs = new Option<int>("--handoffs")
        {
            Description = "waiter suite: producer-to-waiter handoffs per mode",
            DefaultValueFactory = _ => WaiterSuite.DefaultHandoffs,
        };
        var expect = new Option<string?>("--expect")
        {
            Description = "Comma-separated features the kernel must bring (" + string.Join(", ", Features.Known) +
                          "); default: those its toolkit-kernel.json lists (a foreign image: none, feature tests skip)",
        };
        var cmd = new Command("test",
            "Run the Validation suite (NUnit on the host's .NET) and the C tests of liburing-tests/ inside the " +
                "booted kernel; " +
            "write KTAP, JUnit XML and a summary table to the run directory. Exit 0 when everything passed and the " +
                "kernel log is clean, " +
            $"1 on test failures, or the `vm run` code for a VM-level failure.")
        {
            kernelBase, kernel, image, timeout, testTimeout, suite, junit, expect, emulator, cpu, waitModes, handoffs,
        };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var expected = r.GetValue(expect) is { } csv ? GuestCommand.ParseFeatures(csv, "--expect") : null;
            CheckEmulator(r.GetValue(emulator)!, r.GetValue(suite)!, r.GetValue(cpu), r.GetValue(waitModes)!,
                r.GetValue(handoffs));
            var kernelImage = KernelOptions.ResolveImage(r.GetValue(kernelBase)!, r.GetValue(kernel)!, r.GetValue(image));
            var report = r.GetValue(suite) == WaiterSuite.Suite
                ? WaiterSuite.Run(kernelImage, r.GetValue(cpu), r.GetValue(waitModes)!, r.GetValue(handoffs),
                    r.GetValue(timeout), Console.Out)
                : Run(kernelImage, r.GetValue(suite)!, r.GetValue(timeout), r.GetValue(testTimeout), Console.Out,
                    expected);
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

    /// <summary>
    /// The waiter suite is the one that runs under Bochs (no host root there for .NET, the Validation suite or
    /// liburing), and it needs a CPU with a monitor instruction, which QEMU's TCG does not have: any other pairing
    /// is bad usage (exit 2), as are waiter options without the waiter suite.
    /// </summary>
    internal static void CheckEmulator(string emulator, string suite, string? cpu, string waitModes, int handoffs)
    {
        var waiter = suite == WaiterSuite.Suite;
        if (waiter != (emulator == "bochs"))
            throw new ToolkitException(ExitCodes.Usage, waiter
                ? "--suite waiter runs under Bochs only (QEMU's TCG has neither MONITORX nor WAITPKG): add --emulator bochs"
                : $"--emulator bochs runs the waiter suite only (the guest has no host root for .NET or liburing): " +
                  $"add --suite {WaiterSuite.Suite}");
        if (cpu != null && !waiter) throw new ToolkitException(ExitCodes.Usage, "--cpu is for --emulator bochs");
        if (handoffs <= 0) throw new ToolkitException(ExitCodes.Usage, $"--handoffs must be positive, got {handoffs}");
        var unknown = waitModes.Split(',').Where(m => m is not ("mwaitx" or "umwait" or "pause")).ToList();
        if (unknown.Count > 0 || waitModes.Length == 0)
            throw new ToolkitException(ExitCodes.Usage,
                $"unknown wait mode(s) '{string.Join(",", unknown)}' in --wait-modes (mwaitx, umwait, pause)");
    }

    /// <param name="expect">Features the kernel must bring; null: what its toolkit-kernel.json says.</param>
    public static Report Run(string kernelImage, string suites, int timeoutSeconds, int testTimeoutSeconds,
        TextWriter output, IReadOnlyList<string>? expect = null)
    {
        if (!File.Exists(kernelImage))
            throw new ToolkitException(
                ExitCodes.NoKernelImage, $"no kernel image at {kernelImage}: build it first with `scripts/toolkit " +
                    $"kernel build`");
        var info = KernelBuild.InfoOf(kernelImage);
        var expected = expect ?? KernelBuild.ExpectedFeatures(info);
        var runDir = Paths.NewRunDir("vm-test");
        string? validation = null;
        var cTests = new List<GuestHarness.CTest>();
        if (suites is "all" or "validation") validation = BuildValidation(runDir);
        if (suites is "all" or "c") cTests.AddRange(CTests.Build(runDir, testTimeoutSeconds));

        var results = Path.Combine(runDir, RunFiles.GuestResults);
        var toolkitDll = Path.Combine(AppContext.BaseDirectory, "toolkit.dll");
        var command = new List<string> { "dotnet", toolkitDll, "guest", "--results", results, "--test-timeout",
            testTimeoutSeconds.ToString() };
        if (validation != null) command.AddRange(["--validation", validation]);
        foreach (var t in cTests) command.AddRange(["--c-test", t.Spec]);
        if (expected is { Count: > 0 }) command.AddRange(["--expect-features", string.Join(',', expected)]);

        var name = Path.GetFileName(KernelBuild.BuildDirOf(kernelImage) ?? Path.GetDirectoryName(kernelImage)!);
        Progress.Step($"booting {name} " +
            $"for {cTests.Count} C test(s){(validation != null ? " and the Validation suite" : "")}; run dir {runDir}");
        var vm = VmRunner.Run(new VmOptions
        {
            KernelImage = kernelImage,
            Command = command,
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            WorkDir = Paths.RepoRoot,
            RunDir = runDir,
            Echo = GuestRun.Echo(t => Progress.Detail("run " + t), Progress.Step, "pass"),
        });
        return WriteReport(runDir, kernelImage, info, expected, vm, output);
    }

    internal static Report WriteReport(string runDir, string kernelImage, KernelInfo? info, IReadOnlyList<string>? expected,
        VmResult vm, TextWriter output)
    {
        var (all, problems) = GuestRun.Read(Path.Combine(runDir, RunFiles.GuestResults),
            Path.Combine(runDir, RunFiles.ValidationResults));
        GuestRun.AttributeInterruptedTest(all, vm);
        // The boot itself is a test: a VM failure, timeout, panic or splat must show up in every report.
        all.Add(new TestCaseResult("vm", "boot, run and clean kernel log",
            vm.ExitCode == 0 ? Outcome.Pass : Outcome.Fail,
            Math.Round(vm.TotalSeconds, 3), vm.ExitCode == 0 ? null : vm.Summary()));
        var grouped = SuiteResult.Group(all);
        var header = new List<string>
        {
            $"kernel: {info?.KernelRelease ?? kernelImage} flavour={info?.Flavour ?? "?"} " +
                (info?.SourceLine() ?? "base=? source=? series=?"),
            $"vm: {vm.Outcome}; accel={vm.Accel}; boot-to-init={vm.BootToInitSeconds:F2}s; total={vm.TotalSeconds:F1}s",
            FeaturesLine(expected),
        };
        header.AddRange(problems);
        File.WriteAllText(Path.Combine(runDir, "results.ktap"), Ktap.Write(grouped, header));
        var props = new Dictionary<string, string>
        {
            ["kernel"] = info?.KernelRelease ?? kernelImage,
            ["base"] = info?.BaseName ?? "",
            ["source"] = info?.BaseVersion ?? "",
            ["series"] = info?.SeriesHash ?? "",
            ["accel"] = vm.Accel
        };
        File.WriteAllText(Path.Combine(runDir, "junit.xml"), JUnit.Write(grouped, props));
        var summary = SummaryTable.Write(grouped);
        var missing = Features.Missing(all);
        if (missing.Count > 0) summary += $"\nmissing expected feature(s): {string.Join(", ", missing)}";
        File.WriteAllText(Path.Combine(runDir, "summary.txt"), string.Join('\n',
            header) + "\n\n" + summary + "\n\n" + vm.Summary() + "\n");

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

    /// <summary>The report's line on what the kernel had to bring.</summary>
    internal static string FeaturesLine(IReadOnlyList<string>? expected) => expected switch
    {
        null => "features: none expected (foreign image without toolkit-kernel.json and no --expect): " +
                "feature tests may skip",
        { Count: 0 } => "features: none expected",
        _ => $"features: expected {string.Join(", ", expected)} (a skipped test of one fails)",
    };

    static string BuildValidation(string runDir)
    {
        var project = Path.Combine(Paths.RepoRoot, "Validation", "IoUring.Validation", "IoUring.Validation.csproj");
        var outDir = Path.Combine(Paths.RepoRoot, "artifacts", "validation");
        Progress.Step("building the Validation suite");
        Proc.Check("dotnet", ["build", project, "-c", "Release", "-o", outDir, "--nologo", "-v", "quiet",
            "-clp:NoSummary"],
            ExitCodes.BuildFailed, "building the Validation suite", logFile: Path.Combine(runDir,
                "build-validation.log"));
        return Path.Combine(outDir, "IoUring.Validation.dll");
    }
}
