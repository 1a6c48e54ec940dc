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
        var output = BenchMarkdown.OutputOption("cross-ring-benchmark.md");
        var kernelBase = KernelOptions.Base();
        var cmd = new Command("cross-ring",
            "NOP cost patched vs baseline under -icount, and cross-ring delivery throughput (kernel, MSG_RING relay, " +
                "eventfd + queue); write docs/cross-ring-benchmark.md") { kernelBase, nops, deliveries, output };
        cmd.SetAction(r => Guard.Run(() => Run(KernelBase.Parse(r.GetValue(kernelBase)!), r.GetValue(nops),
            r.GetValue(deliveries), r.GetValue(output)!)));
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
        [args], icount);

    /// <summary>Several runs of the bench program in one boot, one after the other.</summary>
    static List<Dictionary<string, string>> Guest(KernelInfo k, string dll, string[] runs, bool icount)
    {
        var command = string.Join(" && ",
            runs.Select(a => $"dotnet {VmRunner.ShellQuote(dll)} {a} --out \"$TOOLKIT_RUN_DIR/bench.txt\""));
        var r = VmRunner.Run(new VmOptions
        {
            KernelImage = k.Image,
            WorkDir = Paths.RepoRoot,
            ICount = icount,
            Timeout = TimeSpan.FromMinutes(15),
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

    static int Run(KernelBase b, int nops, int deliveries, string output)
    {
        var md = BenchReport.Render(Measure(b, nops, deliveries));
        BenchMarkdown.Save(output, md);
        Console.WriteLine(md);
        Console.WriteLine($"written to {output}");
        return ExitCodes.Ok;
    }

    static CrossRingBenchResult Measure(KernelBase b, int nops, int deliveries)
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

        return new CrossRingBenchResult(nops, rawBase, rawPatched, nopBase, nopPatched, nopTarget, nopMsgRing,
            Samples(baseRun, "nop"), Samples(patchedRun, "nop"), deliver, deliverIcount, DateTime.UtcNow,
            Environment.ProcessorCount, load, baseline, patched);
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
