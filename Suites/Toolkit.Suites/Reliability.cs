using System.CommandLine;
using System.Globalization;
using System.Text;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Reports;
using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// `reliability`: the cross-ring tests at full size on the debug kernel, each followed by a kmemleak check,
/// optionally the same tests under allocation fault injection and the long-idle teardown check
/// (docs/reliability.md). Builds the C tests on the host, boots the kernel once, runs the plan through
/// <see cref="ReliabilityGuest"/> and reports like `vm test`: KTAP, JUnit, a summary table.
/// </summary>
public static class Reliability
{
    public const string Stress = "stress", Chaos = "chaos", Cycle = "cycle", Fault = "fault-injection",
        LongIdle = "long-idle";
    public static readonly string[] Phases = [Stress, Chaos, Cycle, Fault, LongIdle];
    public static readonly int[] DefaultSeeds = [1, 2, 3];
    /// <summary>Bytes of io_uring allocations a test without a fault-tolerant mode gets before the first injected
    /// failure.</summary>
    public const int NonTolerantSpace = 256 * 1024;

    public sealed record Options
    {
        public bool FaultInjection { get; init; }
        public bool LongIdle { get; init; }
        /// <summary>Run exactly these phases (overrides the default set and the two flags above).</summary>
        public IReadOnlyList<string>? Only { get; init; }
        public IReadOnlyList<int> Seeds { get; init; } = DefaultSeeds;
        /// <summary>Percent of eligible allocations failed in the fault-injection phase; null: each test's
        /// default.</summary>
        public int? FaultProbability { get; init; }
    }

    /// <summary>The phases a run does, in order: stress, chaos, cycle, then fault injection and the long idle when
    /// asked.</summary>
    public static List<string> SelectPhases(Options o)
    {
        if (o.Only is { Count: > 0 }) return [.. Phases.Where(o.Only.Contains)];
        var list = new List<string> { Stress, Chaos, Cycle };
        if (o.FaultInjection) list.Add(Fault);
        if (o.LongIdle) list.Add(LongIdle);
        return list;
    }

    public static IReadOnlyList<string> ParsePhases(string value)
    {
        var list = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (list.Count == 0) throw new ToolkitException(
            ExitCodes.Usage, $"--only is empty (phases: {string.Join(", ", Phases)})");
        foreach (var p in list)
            if (!Phases.Contains(p)) throw new ToolkitException(
                ExitCodes.Usage, $"unknown phase '{p}' in --only (phases: {string.Join(", ", Phases)})");
        return list;
    }

    public static IReadOnlyList<int> ParseSeeds(string value)
    {
        var list = new List<int>();
        foreach (var s in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                throw new ToolkitException(
                    ExitCodes.Usage, $"--seeds: '{s}' is not a non-negative number (e.g. --seeds 1,2,3)");
            list.Add(v);
        }
        if (list.Count == 0) throw new ToolkitException(ExitCodes.Usage, "--seeds is empty (e.g. --seeds 1,2,3)");
        return list;
    }

    /// <summary>One planned test: which binary (liburing-tests/NAME.c), arguments, its budget, how it runs.</summary>
    public sealed record Entry(string Phase, string Binary, string[] Args, int TimeoutSeconds, bool Faults = false,
        bool Tolerant = false, int Probability = 10,
        int Space = 0);

    /// <summary>
    /// The tests of each phase. Budgets are for the debug kernel (KASAN, lockdep, kmemleak) under TCG on 2 cores,
    /// about three times the run times measured on a busy host (load 10; docs/reliability.md); chaos gets -t so its
    /// 1000 rounds are not cut short by its default 60 s limit.
    /// </summary>
    public static List<Entry> Entries(Options o)
    {
        var list = new List<Entry>();
        foreach (var phase in SelectPhases(o))
            switch (phase)
            {
                case Stress:
                    list.Add(new(Stress, "cqe-target-stress", ["-r", "2", "-n", "1000000", "-m", "defer"], 1800));
                    list.Add(new(Stress, "cqe-target-stress", ["-r", "8", "-n", "1000000", "-m", "defer"], 1800));
                    list.Add(new(Stress, "cqe-target-stress", ["-r", "8", "-n", "1000000", "-m", "mixed", "-a"], 1800));
                    break;
                case Chaos:
                    foreach (var s in o.Seeds)
                        list.Add(new(Chaos, "cqe-target-chaos", ["-i", "1000", "-s",
                            s.ToString(CultureInfo.InvariantCulture), "-t", "1500"], 1800));
                    break;
                case Cycle:
                    list.Add(new(Cycle, "cqe-target-cycle", [], 300));
                    list.Add(new(Cycle, "cqe-target-cycle", ["-e"], 300));
                    break;
                case Fault:
                    // Without a fault-tolerant mode a test fails its own checks on the first -ENOMEM: a lower rate, and
                    // 256 KiB of io_uring allocations before the first failure (its feature probe, its first cases),
                    // let it get further; only its kernel's health counts (ReliabilityGuest.JudgeUnderFaults).
                    list.Add(new(Fault, "cqe-target", [], 600, Faults: true, Probability: 2, Space: NonTolerantSpace));
                    list.Add(new(Fault, "cqe-target-chaos", ["-i", "200", "-s", "1", "-t", "300", "-f"], 400,
                        Faults: true, Tolerant: true));
                    list.Add(new(Fault, "cqe-target-stress", ["-r", "4", "-n", "20000", "-m", "mixed", "-a", "-f"],
                        600, Faults: true, Tolerant: true));
                    // A window larger than the CQ: CQEs spill into the targets' overflow lists, whose entries fail too.
                    list.Add(new(Fault, "cqe-target-stress", ["-r", "2", "-n", "20000", "-m", "plain", "-w", "1024",
                        "-f"], 600, Faults: true, Tolerant: true));
                    list.Add(new(Fault, "cqe-target-stress", ["-r", "2", "-n", "20000", "-m", "defer", "-f"], 600,
                        Faults: true, Tolerant: true));
                    list.Add(new(Fault, "cqe-target-stress", ["-r", "2", "-n", "20000", "-m", "sqpoll", "-f"], 600,
                        Faults: true, Tolerant: true));
                    // cq-user-word's nine small rings allocate less than 256 KiB in io_uring all told, so with the
                    // allowance above nothing would fail; failures from the first allocation, at 5%, reach its ring
                    // set-up paths (where the word's offset is published) in most runs.
                    list.Add(new(Fault, "cq-user-word", [], 600, Faults: true, Probability: 5, Space: 0));
                    break;
                case LongIdle:
                    // Past io_ring_exit_work's 300 s WARN: 330 s idle, plus set-up and teardown.
                    list.Add(new(LongIdle, "cqe-target-idle", ["-l", "330"], 600));
                    break;
            }
        if (o.FaultProbability is { } p) list = [.. list.Select(e => e.Faults ? e with { Probability = p } : e)];
        return list;
    }

    /// <summary>The plan's tests: binaries from <paramref name="binDir"/>; a test whose source is not in
    /// liburing-tests/ yet is skipped, saying so.</summary>
    public static List<ReliabilityGuest.PlanTest> PlanTests(IEnumerable<Entry> entries, string sourceDir,
        string binDir) =>
        entries.Select(e =>
        {
            var path = Path.Combine(binDir, e.Binary);
            string? skip = null;
            if (!File.Exists(Path.Combine(sourceDir,
                e.Binary + ".c"))) skip = $"liburing-tests/{e.Binary}.c does not exist (yet): not run";
            else if (!File.Exists(path)) skip = $"{path} was not built: not run";
            return new ReliabilityGuest.PlanTest(e.Phase, path, e.Args, e.TimeoutSeconds)
            {
                FaultInjection = e.Faults,
                FaultTolerant = e.Tolerant,
                FaultProbability = e.Probability,
                FaultSpace = e.Space,
                SkipReason = skip,
            };
        }).ToList();

    public static Command Command()
    {
        var kernelBase = KernelOptions.Base();
        var kernel = KernelOptions.Flavour("--kernel", "Which built kernel to boot", "debug");
        var image = KernelOptions.Image();
        var faults = new Option<bool>("--fault-injection")
        {
            Description =
            "Add the fault-injection phase: cqe-target, cqe-target-chaos -f, cqe-target-stress -f (small) and " +
                "cq-user-word with failslab and fail_page_alloc failing io_uring's allocations in the test processes"
        };
        var longIdle = new Option<bool>("--long-idle")
        {
            Description =
            "Add the long-idle phase: cqe-target-idle -l 330, past io_ring_exit_work's 300 s warning (about 6 " +
                "minutes more)"
        };
        var only = new Option<string?>(
            "--only")
        { Description = $"Run only these phases, comma-separated ({string.Join(", ", Phases)}); overrides the defaults and the two options above" };
        var seeds = new Option<string>("--seeds")
        {
            Description = "cqe-target-chaos seeds, comma-separated",
            DefaultValueFactory = _ => string.Join(',', DefaultSeeds)
        };
        var probability = new Option<int>("--fault-probability")
        {
            Description =
            "Percent (1-100) of eligible allocations to fail in the fault-injection phase; 0: each test's own (10, " +
                "or 2 for tests without a fault-tolerant mode)"
        };
        var timeout = new Option<int>(
            "--timeout")
        { Description = $"Seconds the whole guest run may take before QEMU is killed (exit {ExitCodes.CommandTimeout}); 0: the sum of the tests' budgets and their kmemleak scans" };
        var memory = new Option<int>("--memory")
        {
            Description =
            "Guest memory in MiB (kmemleak scans every page's struct page: more memory, slower scans)",
            DefaultValueFactory = _ => 2048
        };
        var junit = new Option<string?>("--junit") { Description = "Also write the JUnit XML here" };
        var cmd = new Command("reliability",
            "Boot the debug kernel (KASAN, lockdep, kmemleak) and run the cross-ring stress at full size, " +
                "cqe-target-chaos " +
            "for each seed and cqe-target-cycle, each followed by a kmemleak scan; a leaked object allocated in " +
                "io_uring fails its test, other " +
            "kmemleak reports are warnings. Optionally the fault-injection and long-idle phases. Writes KTAP, JUnit, " +
                "a summary and every kmemleak " +
            $"report and test output to artifacts/runs/reliability-*/ (tests/). Exit 0 all passed and the kernel log " +
                $"is clean, 1 a test failed or leaked, {ExitCodes.Usage} bad option " +
            $"or a kernel without kmemleak, {ExitCodes.NoKernelImage} no kernel image, {ExitCodes.BuildFailed} the C tests do not build, or the `vm run` code " +
            $"({ExitCodes.VmFailure}, {ExitCodes.BootTimeout}, {ExitCodes.CommandTimeout}, {ExitCodes.KernelPanic}, {ExitCodes.KernelSplat}) for a VM-level failure.")
        {
            kernelBase, kernel, image, faults, longIdle, only, seeds, probability, timeout, memory, junit,
        };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var o = new Options
            {
                FaultInjection = r.GetValue(faults),
                LongIdle = r.GetValue(longIdle),
                Only = r.GetValue(only) is { } s ? ParsePhases(s) : null,
                Seeds = ParseSeeds(r.GetValue(seeds)!),
                FaultProbability = r.GetValue(probability) is var p and not 0 ? p : null,
            };
            if (o.FaultProbability is < 1 or > 100)
                throw new ToolkitException(
                    ExitCodes.Usage, $"--fault-probability must be 1..100 (percent), or 0 for the default, got {o.FaultProbability}");
            if (r.GetValue(timeout) < 0) throw new ToolkitException(
                ExitCodes.Usage, $"--timeout must be positive (or 0 for the default), got {r.GetValue(timeout)}");
            if (r.GetValue(memory) < 512) throw new ToolkitException(
                ExitCodes.Usage, $"--memory must be at least 512 (MiB), got {r.GetValue(memory)}");
            var report = Run(KernelOptions.ResolveImage(r.GetValue(kernelBase)!, r.GetValue(kernel)!, r.GetValue(image)), o,
                r.GetValue(timeout) is var t and > 0 ? t : null, r.GetValue(memory), Console.Out);
            if (r.GetValue(junit) is { } path)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                File.Copy(Path.Combine(report.RunDir, "junit.xml"), path, overwrite: true);
            }
            return report.ExitCode;
        }));
        return cmd;
    }

    /// <summary>
    /// Refuses a kernel that cannot do what the run needs, when its .config is known (a flavour build or a
    /// build directory next to the image): kmemleak always, failslab with debugfs for the fault phase.
    /// </summary>
    public static void CheckKernelConfig(IReadOnlyDictionary<string, string?>? config, IReadOnlyList<string> phases,
        string image)
    {
        if (config == null) return;
        var need = new List<string> { "CONFIG_DEBUG_KMEMLEAK" };
        if (phases.Contains(Fault)) need.AddRange(["CONFIG_FAILSLAB", "CONFIG_FAULT_INJECTION_DEBUG_FS"]);
        var missing = need.Where(n => !config.TryGetValue(n, out var v) || v != "y").ToList();
        if (missing.Count > 0)
            throw new ToolkitException(
                ExitCodes.Usage, $"the kernel {image} lacks {string.Join(", ", missing)}: the reliability job needs " +
                    $"the debug flavour " +
                "(`scripts/toolkit kernel build --flavour debug`, vm/config/debug.config)");
    }

    public sealed record Report(int ExitCode, string RunDir, IReadOnlyList<SuiteResult> Suites, VmResult Vm);

    public static Report Run(string kernelImage, Options o, int? timeoutSeconds, int memoryMiB, TextWriter output)
    {
        if (!File.Exists(kernelImage))
            throw new ToolkitException(
                ExitCodes.NoKernelImage, $"no kernel image at {kernelImage}: build it first with `scripts/toolkit " +
                    $"kernel build --flavour debug`");
        var buildDir = KernelBuild.BuildDirOf(kernelImage) ?? Path.GetDirectoryName(Path.GetFullPath(kernelImage))!;
        var dotConfig = Path.Combine(buildDir, ".config");
        var phases = SelectPhases(o);
        CheckKernelConfig(File.Exists(dotConfig) ? KernelConfig.ReadConfig(File.ReadAllLines(dotConfig)) : null,
            phases, kernelImage);

        var runDir = Paths.NewRunDir("reliability");
        CTests.Build(runDir, 60);
        var tests = PlanTests(Entries(o), Path.Combine(Paths.RepoRoot, "liburing-tests"), Path.Combine(Paths.RepoRoot,
            "artifacts", "liburing-tests"));
        var outDir = Path.Combine(runDir, "tests");
        var plan = new ReliabilityGuest.Plan(tests)
        {
            OutDir = outDir,
            FaultPreload = Path.Combine(Paths.RepoRoot, "artifacts", "liburing-tests", FaultInjection.PreloadLibrary),
            IoUringSymbols = WriteSymbols(Path.Combine(buildDir, "io_uring"), "*.o", Path.Combine(runDir,
                "io_uring.symbols"), runDir),
            KmemleakSymbols = WriteSymbols(Path.Combine(buildDir, "mm"), "kmemleak.o", Path.Combine(runDir,
                "kmemleak.symbols"), runDir),
        };
        var planFile = Path.Combine(runDir, "plan.json");
        ReliabilityGuest.WritePlan(planFile, plan);
        foreach (var t in tests.Where(t =>
            t.SkipReason != null)) Progress.Step($"skipping {t.Suite}/{t.Name}: {t.SkipReason}");
        if (plan.IoUringSymbols == null)
            Progress.Notice($"no io_uring/*.o in {buildDir}: kmemleak reports are attributed to io_uring by function " +
                $"name, fault injection falls back to the io_kiocb cache");

        // Per test: its budget, the kmemleak wait and two scans; plus the boot-time scan and boot itself.
        var perTestScan = plan.KmemleakWaitSeconds + 2 * 120;
        var budget = timeoutSeconds ?? (int)(tests.Where(t => t.SkipReason == null).Sum(t => t.TimeoutSeconds
            + perTestScan) + perTestScan + 300);
        var results = Path.Combine(runDir, RunFiles.GuestResults);
        var details = Path.Combine(runDir, "details.jsonl");
        var toolkitDll = Path.Combine(AppContext.BaseDirectory, "toolkit.dll");
        Progress.Step($"reliability: phases {string.Join(", ", phases)}; {tests.Count(t => t.SkipReason == null)} test(s); " +
            $"booting {Path.GetFileName(buildDir)} ({memoryMiB} MiB, timeout {budget} s); run dir {runDir}");
        var vm = VmRunner.Run(new VmOptions
        {
            KernelImage = kernelImage,
            Command = ["dotnet", toolkitDll, "guest-reliability", "--plan", planFile, "--results", results,
                "--details", details],
            Timeout = TimeSpan.FromSeconds(budget),
            // Every test and every scan is announced: silence longer than the longest of them is a stuck guest.
            ProgressTimeout = TimeSpan.FromSeconds(Math.Max(tests.Select(t =>
                t.TimeoutSeconds).DefaultIfEmpty(0).Max(), plan.ScanTimeoutSeconds) + 120),
            ProgressPrefix = ConsoleMarkers.Prefix,
            MemoryMiB = memoryMiB,
            WorkDir = Paths.RepoRoot,
            RunDir = runDir,
            Echo = GuestRun.Echo(Progress.Detail, Progress.Step, "kmemleak scan"),
        });
        var (all, problems) = GuestRun.Read(results);
        foreach (var p in problems) Progress.Notice(p);
        return WriteReport(kernelImage, runDir, all, ReliabilityGuest.ReadDetails(details), vm, output);
    }

    /// <summary>Lists the functions `nm` finds in BUILD/DIR/PATTERN into a file for the guest; null when there are no
    /// such objects.</summary>
    static string? WriteSymbols(string dir, string pattern, string file, string runDir)
    {
        var objects = Directory.Exists(dir) ? Directory.GetFiles(dir, pattern).OrderBy(f => f,
            StringComparer.Ordinal).ToList() : [];
        if (objects.Count == 0 || !Proc.OnPath("nm")) return null;
        var r = Proc.Run("nm", ["--defined-only", .. objects], logFile: null);
        if (r.ExitCode != 0) return null;
        var names = FaultInjection.ParseNm(r.Output.Split('\n'));
        if (names.Count == 0) return null;
        File.WriteAllLines(file, names.OrderBy(n => n, StringComparer.Ordinal));
        return file;
    }

    static Report WriteReport(string kernelImage, string runDir, List<TestCaseResult> all,
        List<ReliabilityGuest.Details> details, VmResult vm, TextWriter output)
    {
        GuestRun.AttributeInterruptedTest(all, vm);
        all.Add(new TestCaseResult("vm", "boot, run and clean kernel log",
            vm.ExitCode == 0 ? Outcome.Pass : Outcome.Fail,
            Math.Round(vm.TotalSeconds, 3), vm.ExitCode == 0 ? null : vm.Summary()));
        var grouped = SuiteResult.Group(all);
        var info = KernelBuild.InfoOf(kernelImage);
        var header = new List<string>
        {
            $"kernel: {info?.KernelRelease ?? kernelImage} flavour={info?.Flavour ?? "?"} " +
                $"{info?.SourceLine() ?? "base=? source=? series=?"} image={kernelImage}",
            $"vm: {vm.Outcome}; accel={vm.Accel}; boot-to-init={vm.BootToInitSeconds:F2}s; total={vm.TotalSeconds:F1}s",
        };
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

        var text = new StringBuilder();
        text.AppendLine(string.Join('\n', header)).AppendLine();
        text.AppendLine(SummaryTable.Write(grouped)).AppendLine();
        text.AppendLine(DetailsTable(details));
        text.AppendLine(vm.Summary());
        var passed = all.Count(t => t.Outcome == Outcome.Pass);
        var failed = all.Count(t => t.Failed);
        var skipped = all.Count(t => t.Outcome == Outcome.Skip);
        text.AppendLine($"reliability: {passed} passed, {failed} failed, {skipped} skipped");
        File.WriteAllText(Path.Combine(runDir, "summary.txt"), text.ToString());
        output.Write(text.ToString());
        output.WriteLine($"results: {runDir}/summary.txt, results.ktap, junit.xml; test output and kmemleak reports " +
            $"in tests/");

        int code;
        if (vm.ExitCode is ExitCodes.BootTimeout or ExitCodes.VmFailure or ExitCodes.KernelPanic or ExitCodes.KernelSplat or ExitCodes.CommandTimeout)
            code = vm.ExitCode;
        else if (vm.ExitCode != 0) code = ExitCodes.VmFailure;
        else code = failed > 0 || all.Count(t => t.Suite != "vm") == 0 ? ExitCodes.Failed : ExitCodes.Ok;
        return new Report(code, runDir, grouped, vm);
    }

    /// <summary>Per test: the kmemleak objects found (io_uring's / others), the failures injected and logged, the
    /// warnings.</summary>
    public static string DetailsTable(IReadOnlyList<ReliabilityGuest.Details> details)
    {
        var sb = new StringBuilder();
        var rows = details.Where(d => d.KmemleakChecked || d.Injected != null || d.Note != null).ToList();
        if (rows.Count == 0) return "";
        var w = Math.Max(4, rows.Max(d => $"{d.Suite}/{d.Name}".Length));
        sb.AppendLine($"{"test".PadRight(w)}  {"kmemleak io_uring/other",23}  {"injected (slab/page)",20}  {"logged",6}");
        sb.AppendLine(new string('-', w + 57));
        foreach (var d in rows)
        {
            var leak = d.KmemleakChecked ? $"{d.KmemleakIoUring}/{d.KmemleakOther}" : "not checked";
            var inj = d.Injected == null ? ""
                : $"{d.Injected.GetValueOrDefault("failslab")}/{d.Injected.GetValueOrDefault("fail_page_alloc")}";
            sb.AppendLine($"{$"{d.Suite}/{d.Name}".PadRight(w)}  {leak,23}  {inj,20}  {(d.Injected == null ? "" : d.LoggedFailures.ToString(CultureInfo.InvariantCulture)),6}");
        }
        foreach (var d in details.Where(d => d.KmemleakFile != null))
            sb.AppendLine($"kmemleak report after {d.Suite}/{d.Name}: {d.KmemleakFile}");
        foreach (var d in details.Where(d => d.KmemleakWarnings.Count > 0))
            foreach (var warn in d.KmemleakWarnings)
                sb.AppendLine($"WARNING kmemleak (not io_uring) after {d.Suite}/{d.Name}: {warn}");
        foreach (var d in details.Where(d => d.LoggedSites is { Count: > 0 }))
            sb.AppendLine($"logged failure sites in {d.Suite}/{d.Name}: {string.Join(", ", d.LoggedSites!.Select(kv => $"{kv.Key} x{kv.Value}"))}");
        foreach (var d in details.Where(d => d.Note != null && d.Suite != "kmemleak"))
            sb.AppendLine($"note {d.Suite}/{d.Name}: {d.Note}");
        return sb.ToString();
    }
}
