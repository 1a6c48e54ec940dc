using System.CommandLine;
using System.Globalization;

using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;
using static Toolkit.Bench.BenchReport;

namespace Toolkit.Bench;

/// <summary>
/// `bench cross-ring`: (a0) instructions per plain NOP through raw syscalls at batch 1 and 32 and (a) through the
/// bindings at batch 32, baseline vs patched kernel, under QEMU -icount (guest time
/// = instructions executed, so the A/B is deterministic on a noisy machine); (b) delivering completions
/// to another thread's ring by IOSQE_CQE_TARGET, the MSG_RING relay and eventfd + a queue, in one run
/// of the patched kernel (2 vCPUs, TCG: wall time, noisy). The guest program is Bench/CrossRing.Bench.
/// Uses the cached kernel images as they are: it never builds a kernel.
/// </summary>
public static class CrossRingBench
{
    public static Command Command()
    {
        var nops = new Option<int>("--nops")
        {
            Description = "NOPs per icount run",
            DefaultValueFactory = _ => 100_000
        };
        var deliveries = new Option<int>("--deliveries")
        {
            Description = "Completions delivered per path",
            DefaultValueFactory = _ => 100_000
        };
        var seconds = new Option<double>("--seconds")
        {
            Description = "Guest seconds per case of the -icount latency matrix (c); each case runs at least 25 of its " +
                "compute slices",
            DefaultValueFactory = _ => 0.15
        };
        var output = new Option<string?>("--output")
        {
            Description = "Markdown report; the JSON file and the latency plot are written next to it " +
                "(default: docs/cross-ring-benchmark.md for base 7.3, docs/cross-ring-benchmark-6.12.md for 6.12)"
        };
        var kernelBase = KernelOptions.Base();
        var cmd = new Command("cross-ring",
            "NOP cost patched vs baseline under -icount, and cross-ring delivery throughput (kernel, MSG_RING relay, " +
                "eventfd + queue), delivery latency with a busy source, idle wake-up cost and thread-per-core handoff; " +
                "write docs/cross-ring-benchmark.{md,json} and its latency plot")
            { kernelBase, nops, deliveries, seconds, output };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var b = KernelBase.Parse(r.GetValue(kernelBase)!);
            var secs = r.GetValue(seconds);
            if (!(secs > 0 && secs <= 60))
                throw new ToolkitException(ExitCodes.Usage, $"--seconds must be in (0, 60], not {secs}");
            return Run(b, r.GetValue(nops), r.GetValue(deliveries), secs, r.GetValue(output) ?? DefaultOutput(b));
        }));
        return cmd;
    }

    static KernelInfo Kernel(KernelBase b, Flavour f)
    {
        var info = KernelBuild.InfoOf(KernelBuild.ImagePath(b, f));
        if (info == null || !File.Exists(info.Image))
            throw new ToolkitException(
                ExitCodes.NoKernelImage, $"no {f.Name()} kernel image in {b.BuildDir(f)}: build it first " +
                    $"with `scripts/toolkit kernel build --base {b.Name} --flavour {f.Name()}`");
        return info;
    }

    /// <summary>Runs the bench program in the guest; returns its `result` lines as key/value maps.</summary>
    static List<Dictionary<string, string>> Guest(KernelInfo k, string dll, string args, bool icount) => Guest(k, dll,
        [args], icount, 2);

    /// <summary>Several runs of the bench program in one boot, one after the other.</summary>
    static List<Dictionary<string, string>> Guest(KernelInfo k, string dll, string[] runs, bool icount, int cpus = 2)
    {
        var command = string.Join(" && ",
            runs.Select(a => $"dotnet {VmRunner.ShellQuote(dll)} {a} --out \"$TOOLKIT_RUN_DIR/bench.txt\""));
        var r = VmRunner.Run(new VmOptions
        {
            KernelImage = k.Image,
            WorkDir = Paths.RepoRoot,
            ICount = icount,
            Cpus = cpus,
            Timeout = TimeSpan.FromMinutes(45),
            // No tiered JIT: a background recompilation in the middle of the timed loop would be counted
            // (icount: every guest instruction is time) and differ between runs.
            Env = new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0", ["DOTNET_TieredPGO"] = "0" },
            Command = ["sh", "-c", command],
        });
        var file = Path.Combine(r.RunDir, "bench.txt");
        if (r.ExitCode != 0 || !File.Exists(file))
            throw new ToolkitException(r.ExitCode != 0 ? r.ExitCode
                : ExitCodes.Failed, $"bench cross-ring: guest run on {k.Flavour} failed:\n{r.Summary()}");
        return File.ReadAllLines(file).Where(l => l.StartsWith("result ",
            StringComparison.Ordinal) || l.StartsWith("sample ", StringComparison.Ordinal))
            .Select(l => l[7..].Split(' ').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0],
                kv => kv.Length > 1 ? kv[1] : ""))
            .ToList();
    }

    /// <summary>
    /// liburing-tests/tools/nop-cost.c (raw syscalls, no liburing, no .NET) at each of <see cref="RawBatches"/> in one
    /// -icount boot; returns the best guest ns per NOP (= instructions) per batch size.
    /// </summary>
    static Dictionary<int, double> RawNopCost(KernelInfo k, string binary, int nops)
    {
        var runs = RawBatches.Select(
            b => $"{VmRunner.ShellQuote(binary)} {b} {nops} >> \"$TOOLKIT_RUN_DIR/nop-cost.txt\"");
        var r = VmRunner.Run(new VmOptions
        {
            KernelImage = k.Image,
            WorkDir = Paths.RepoRoot,
            ICount = true,
            Timeout = TimeSpan.FromMinutes(10),
            Command = ["sh", "-c", string.Join(" && ", runs)],
        });
        var file = Path.Combine(r.RunDir, "nop-cost.txt");
        if (r.ExitCode != 0 || !File.Exists(file))
            throw new ToolkitException(r.ExitCode != 0 ? r.ExitCode
                : ExitCodes.Failed, $"bench cross-ring: nop-cost on {k.Flavour} failed:\n{r.Summary()}");
        var best = new Dictionary<int, double>();
        foreach (var line in File.ReadAllLines(file).Where(l => l.StartsWith("nop-cost batch=",
            StringComparison.Ordinal)))
        {
            var kv = line["nop-cost ".Length..].Split(' ').Select(x => x.Split('=', 2)).ToDictionary(x => x[0],
                x => x[1]);
            best[int.Parse(kv["batch"], CultureInfo.InvariantCulture)] = double.Parse(kv["best_ns_per_nop"],
                CultureInfo.InvariantCulture);
        }
        if (best.Count != RawBatches.Length)
            throw new ToolkitException(
                ExitCodes.Failed, $"bench cross-ring: {file} lacks a summary line for every batch size");
        return best;
    }

    /// <summary>Builds the raw NOP loop on the host (the guest runs host binaries over 9p).</summary>
    static string BuildNopCost()
    {
        var src = Path.Combine(Paths.RepoRoot, "liburing-tests", "tools", "nop-cost.c");
        var bin = Path.Combine(Paths.RepoRoot, "artifacts", "crossring-bench", "nop-cost");
        Directory.CreateDirectory(Path.GetDirectoryName(bin)!);
        Proc.Check("gcc", ["-O2", "-Wall", "-o", bin, src], ExitCodes.BuildFailed,
            "building liburing-tests/tools/nop-cost.c");
        return bin;
    }

    static string DefaultOutput(KernelBase b) => Path.Combine(Paths.RepoRoot, "docs",
        b.Name == "7.3" ? "cross-ring-benchmark.md" : $"cross-ring-benchmark-{b.Name}.md");

    static int Run(KernelBase b, int nops, int deliveries, double seconds, string output)
    {
        var result = Measure(b, nops, deliveries, seconds);
        var stem = Path.ChangeExtension(output, null);
        var plot = stem + "-latency.svg";
        var md = BenchReport.Render(result, plot);
        BenchMarkdown.Save(output, md);
        File.WriteAllText(stem + ".json", CrossRingLatencyReport.Json(result.Latency!, result));
        File.WriteAllText(plot, CrossRingLatencyPlot.Svg(result.Latency!));
        Console.WriteLine(md);
        Console.WriteLine($"written to {output}, {stem}.json and {plot}");
        return ExitCodes.Ok;
    }

    static CrossRingBenchResult Measure(KernelBase b, int nops, int deliveries, double seconds)
    {
        var baseline = Kernel(b, Flavour.Baseline);
        var patched = Kernel(b, Flavour.Patched);
        var dll = BuildBench();
        var load = HostLoad.OneMinute();

        var nopCost = BuildNopCost();
        Progress.Step($"(a0) raw-syscall NOP loop, batch {string.Join(" and ", RawBatches)}, under -icount: " +
            $"baseline, then patched");
        var rawBase = RawNopCost(baseline, nopCost, nops);
        var rawPatched = RawNopCost(patched, nopCost, nops);
        Progress.Step($"(a) {nops} NOPs under -icount: baseline, then patched");
        var baseRun = Guest(baseline, dll, $"nop {nops}", icount: true);
        var patchedRun = Guest(patched, dll, [$"nop {nops}", $"nop-target {nops}", $"nop-msgring {nops}"],
            icount: true);
        var (nopBase, nopPatched) = (Summary(baseRun, "nop"), Summary(patchedRun, "nop"));
        var (nopTarget, nopMsgRing) = (Summary(patchedRun, "nop-target"), Summary(patchedRun, "nop-msgring"));

        Progress.Step($"(b) {deliveries} deliveries per path on the patched kernel");
        var deliver = Guest(patched, dll, $"deliver {deliveries}", icount: false);
        Progress.Step($"(b') {deliveries} deliveries per path on the patched kernel under -icount");
        var deliverIcount = Guest(patched, dll, $"deliver {deliveries}", icount: true);

        var latency = MeasureLatency(patched, dll, seconds);

        return new CrossRingBenchResult(nops, rawBase, rawPatched, nopBase, nopPatched, nopTarget, nopMsgRing,
            Samples(baseRun, "nop"), Samples(patchedRun, "nop"), deliver, deliverIcount, DateTime.UtcNow,
            Environment.ProcessorCount, load, baseline, patched)
        { Latency = latency, Scheduling = HostScheduling() };
    }

    /// <summary>
    /// This process's scheduling policy (field 41 of /proc/self/stat), which QEMU inherits: the wall-clock parts
    /// were run under `chrt -f` on a shared machine.
    /// </summary>
    static string HostScheduling()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var (priority, policy) = (fields[40 - 3], int.Parse(fields[41 - 3], CultureInfo.InvariantCulture)); // rt_priority, policy
        return policy switch
        {
            0 => "SCHED_OTHER",
            1 => $"SCHED_FIFO, priority {priority} (`chrt -f`)",
            2 => $"SCHED_RR, priority {priority} (`chrt -r`)",
            _ => $"policy {policy}",
        };
    }

    /// <summary>
    /// (c) the latency matrix under -icount on 2 vCPUs (guest time = instructions: host load does not move it),
    /// (c') the same and (e) the handoff in one wall-clock TCG boot, (d) the idle cases under -icount on 1 vCPU.
    /// </summary>
    static CrossRingLatencyResult MeasureLatency(KernelInfo patched, string dll, double seconds)
    {
        var s = seconds.ToString(CultureInfo.InvariantCulture);
        Progress.Step($"(c) delivery latency matrix under -icount, 2 vCPUs ({s} guest s per case, >= 25 slices)");
        var icount = Guest(patched, dll, [$"latency 3000 --seconds {s}"], icount: true);
        Progress.Step("(c', e) the same matrix in wall-clock time (TCG, 1 s per case) and the thread-per-core handoff");
        var tcg = Guest(patched, dll, ["latency 3000 --seconds 1", "handoff 100000 --seconds 3"], icount: false);
        Progress.Step("(d) idle-source cases under -icount on 1 vCPU (CPU per completion = instructions)");
        var idle = Guest(patched, dll, ["latency 2000 --seconds 0.5 --only setup=default,slice_us=0"], icount: true,
            cpus: 1);
        static List<Dictionary<string, string>> Part(List<Dictionary<string, string>> rows, string part)
            => rows.Where(m => m.GetValueOrDefault("part") == part).ToList();
        return new CrossRingLatencyResult(Part(icount, "latency"), Part(idle, "latency"), Part(tcg, "handoff"))
        {
            LatencyWallClock = Part(tcg, "latency"),
        };
    }

    /// <summary>A path's summary line (the best repetition); the per-repetition lines carry "rep".</summary>
    static Dictionary<string, string> Summary(List<Dictionary<string, string>> run, string path)
        => run.Single(m => m["path"] == path && !m.ContainsKey("rep"));

    static List<string> Samples(List<Dictionary<string, string>> run, string path)
        => run.Where(m => m["path"] == path && m.ContainsKey("rep")).Select(m => m["ns_per_op"]).ToList();

    static string BuildBench()
    {
        var project = Path.Combine(Paths.RepoRoot, "Bench", "CrossRing.Bench", "CrossRing.Bench.csproj");
        var outDir = Path.Combine(Paths.RepoRoot, "artifacts", "crossring-bench");
        Progress.Step("building Bench/CrossRing.Bench");
        Proc.Check("dotnet",
            ["build", project, "-c", "Release", "-o", outDir, "--nologo", "-v", "quiet", "-clp:NoSummary"],
            ExitCodes.BuildFailed, "building CrossRing.Bench");
        return Path.Combine(outDir, "CrossRing.Bench.dll");
    }
}
