using IoUring.Interop.Wakeup;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// `vm test --emulator bochs --suite waiter`: the CQ-word waiter's monitor/wait stubs executed for real, in a Bochs
/// guest whose CPU model has MONITORX/MWAITX. The guest program (vm/bochs/waiter.c, static, built here) runs the
/// exact bytes <see cref="WaitInstructions.StubBytes"/> holds, exported into the boot image as wait-stubs.bin; .NET
/// itself does not fit in a boot image Bochs can load and run in reasonable time (docs/cq-user-word.md). The guest
/// reports its results as console markers, which become guest.ktap here; <see cref="DescribeResult"/> adds what
/// <see cref="WaitInstructions.Describe(bool, bool, bool, bool)"/> says for the guest's CPUID bits.
/// </summary>
public static class WaiterSuite
{
    public const string Suite = "waiter";
    public const string StubFile = "wait-stubs.bin";
    /// <summary>The modes run by default: MWAITX, and the pause loop to compare with in the same guest.</summary>
    public const string DefaultModes = "mwaitx,pause";
    public const int DefaultHandoffs = 10_000;
    const string CpuidMarker = "toolkit-suite: cpuid ";

    /// <summary>Writes the library's stub bytes, unchanged, where the guest program loads them from.</summary>
    public static void ExportStubs(string path) => File.WriteAllBytes(path, WaitInstructions.StubBytes);

    public static VmTest.Report Run(string kernelImage, string? cpu, string modes, int handoffs, int timeoutSeconds,
        TextWriter output)
    {
        if (!File.Exists(kernelImage))
            throw new ToolkitException(ExitCodes.NoKernelImage, $"no kernel image at {kernelImage}: build it first " +
                "with `scripts/toolkit kernel build --flavour bochs`");
        var info = KernelBuild.InfoOf(kernelImage);
        var runDir = Paths.NewRunDir("vm-test");
        var program = Build(runDir);
        var stubs = Path.Combine(runDir, StubFile);
        ExportStubs(stubs);
        Progress.Step($"booting {info?.KernelRelease ?? kernelImage} in Bochs ({cpu ?? BochsRunner.DefaultCpu}) for " +
            $"the waiter suite ({modes}, {handoffs} handoffs); run dir {runDir}");
        var vm = VmRunner.Run(new VmOptions
        {
            Emulator = "bochs",
            CpuModel = cpu,
            KernelImage = kernelImage,
            ImageFiles = [program, stubs],
            Command = [Path.GetFileName(program), StubFile, modes, handoffs.ToString()],
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            MemoryMiB = 512,
            RunDir = runDir,
            Echo = GuestRun.Echo(t => Progress.Detail("run " + t), Progress.Step, "pass"),
        });
        WriteResults(vm.ConsoleLog, Path.Combine(runDir, RunFiles.GuestResults));
        return VmTest.WriteReport(runDir, kernelImage, info, KernelBuild.ExpectedFeatures(info), vm, output);
    }

    /// <summary>The guest program, static (the boot image has no C library), built into the run directory.</summary>
    static string Build(string runDir)
    {
        if (!Proc.OnPath("gcc"))
            throw new ToolkitException(ExitCodes.MissingDependency, "gcc is not installed: run scripts/install-deps");
        var source = Path.Combine(Paths.VmDir, "bochs", "waiter.c");
        var program = Path.Combine(runDir, "waiter");
        Proc.Check("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", "-static", "-pthread", "-o", program, source],
            ExitCodes.BuildFailed, "building vm/bochs/waiter.c", logFile: Path.Combine(runDir, "build-waiter.log"));
        return program;
    }

    /// <summary>guest.ktap from the console's finished markers, then the describe check; one KTAP writer.</summary>
    internal static void WriteResults(string consoleLog, string ktap)
    {
        File.Delete(ktap);
        var stream = new KtapStream(ktap);
        var lines = File.Exists(consoleLog) ? File.ReadAllLines(consoleLog) : [];
        foreach (var r in lines.Select(ConsoleMarkers.ParseFinished).OfType<TestCaseResult>())
            stream.Add(r);
        if (DescribeResult(lines) is { } describe) stream.Add(describe);
        stream.Close();
    }

    /// <summary>
    /// The guest prints its CPUID bits ("toolkit-suite: cpuid waitpkg=no monitorx=yes"); the library's own rule turns
    /// them into the line a .NET waiter would log there. Pass when it picks a monitor instruction, skip (with the
    /// line) when the CPU model has neither.
    /// </summary>
    internal static TestCaseResult? DescribeResult(IEnumerable<string> consoleLines)
    {
        var cpuid = consoleLines.FirstOrDefault(l => l.StartsWith(CpuidMarker, StringComparison.Ordinal));
        if (cpuid == null) return null;
        var bits = cpuid[CpuidMarker.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        bool Has(string name) => bits.Contains($"{name}=yes");
        var (waitpkg, monitorx) = (Has("waitpkg"), Has("monitorx"));
        // The guest program maps the stub page like WaitInstructions does, and nothing forces the pause loop there.
        var line = WaitInstructions.Describe(waitpkg, monitorx, stubsMapped: true, forcedPause: false);
        var best = WaitInstructions.Choose(waitpkg, monitorx, stubsMapped: true, forcedPause: false);
        return new TestCaseResult(Suite, "describe", best == WaitInstruction.Pause ? Outcome.Skip : Outcome.Pass, 0,
            line);
    }
}
