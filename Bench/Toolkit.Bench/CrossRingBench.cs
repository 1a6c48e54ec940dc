using System.CommandLine;
using System.Globalization;
using System.Text;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;

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
        var nops = new Option<int>("--nops") { Description = "NOPs per icount run", DefaultValueFactory = _ => 100_000 };
        var deliveries = new Option<int>("--deliveries") { Description = "Completions delivered per path", DefaultValueFactory = _ => 100_000 };
        var output = new Option<string>("--output") { Description = "Markdown report", DefaultValueFactory = _ => Path.Combine(Paths.RepoRoot, "docs", "cross-ring-benchmark.md") };
        var cmd = new Command("cross-ring", "NOP cost patched vs baseline under -icount, and cross-ring delivery throughput (kernel, MSG_RING relay, eventfd + queue); write docs/cross-ring-benchmark.md") { nops, deliveries, output };
        cmd.SetAction(r => Guard.Run(() => Run(r.GetValue(nops), r.GetValue(deliveries), r.GetValue(output)!)));
        return cmd;
    }

    static KernelInfo Kernel(Flavour f)
    {
        var info = KernelBuild.InfoOf(KernelBuild.ImagePath(f));
        if (info == null || !File.Exists(info.Image))
            throw new ToolkitException(ExitCodes.NoKernelImage, $"no {f.Name()} kernel image in {KernelBuild.BuildDir(f)}: build it first with `scripts/toolkit kernel build --flavour {f.Name()}`");
        return info;
    }

    /// <summary>Runs the bench program in the guest; returns its `result` lines as key/value maps.</summary>
    static List<Dictionary<string, string>> Guest(KernelInfo k, string dll, string args, bool icount) => Guest(k, dll, [args], icount);

    /// <summary>Several runs of the bench program in one boot, one after the other.</summary>
    static List<Dictionary<string, string>> Guest(KernelInfo k, string dll, string[] runs, bool icount)
    {
        var command = string.Join(" && ", runs.Select(a => $"dotnet {VmRunner.ShellQuote(dll)} {a} --out \"$TOOLKIT_RUN_DIR/bench.txt\""));
        var r = VmRunner.Run(new VmOptions
        {
            KernelImage = k.Image, WorkDir = Paths.RepoRoot, ICount = icount, Timeout = TimeSpan.FromMinutes(15),
            // No tiered JIT: a background recompilation in the middle of the timed loop would be counted
            // (icount: every guest instruction is time) and differ between runs.
            Env = new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0", ["DOTNET_TieredPGO"] = "0" },
            Command = ["sh", "-c", command],
        });
        var file = Path.Combine(r.RunDir, "bench.txt");
        if (r.ExitCode != 0 || !File.Exists(file))
            throw new ToolkitException(r.ExitCode != 0 ? r.ExitCode : ExitCodes.Failed, $"bench cross-ring: guest run on {k.Flavour} failed:\n{r.Summary()}");
        return File.ReadAllLines(file).Where(l => l.StartsWith("result ", StringComparison.Ordinal) || l.StartsWith("sample ", StringComparison.Ordinal))
            .Select(l => l[7..].Split(' ').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : ""))
            .ToList();
    }

    static double D(Dictionary<string, string> m, string key) => double.Parse(m[key], CultureInfo.InvariantCulture);

    /// <summary>kernel, kernel-defer: IOSQE_CQE_TARGET; everything else is a relay.</summary>
    static bool IsKernelPath(Dictionary<string, string> row) => row["path"].StartsWith("kernel", StringComparison.Ordinal);

    /// <summary>
    /// How far any kernel delivery could get against the best relay, from this run's own numbers: the request itself
    /// (submit, complete, reap: a plain NOP) is a floor no delivery mechanism goes below.
    /// </summary>
    internal static void AppendCeiling(StringBuilder md, Dictionary<string, string> nop, Dictionary<string, string> nopTarget, IReadOnlyList<Dictionary<string, string>> icountRows)
    {
        var relays = icountRows.Where(m => !IsKernelPath(m) && !m.ContainsKey("skipped")).ToList();
        if (relays.Count == 0) return;
        var best = relays.MinBy(m => D(m, "ns_per_op"))!;
        var plain = D(nop, "ns_per_op");
        var bestCost = D(best, "ns_per_op");
        var budget = bestCost / 2 - plain;
        md.AppendLine();
        md.AppendLine("### What the ≥ 2x target would take (from this run's numbers)");
        md.AppendLine();
        var inv = CultureInfo.InvariantCulture;
        var text = string.Create(inv, $"The best relay ({best["path"]}) costs {bestCost:F0} instructions per completion, both threads together; " +
            $"a plain NOP submitted, completed and reaped on one ring costs {plain:F0} (a). ") +
            string.Create(inv, $"A kernel path that delivered for free would still cost the request itself, so it can be at most **{bestCost / plain:F2}x** cheaper than the best relay. ") +
            string.Create(inv, $"To be 2x cheaper it would have to move a completion to another thread's ring, wake that thread and let it reap, in {budget:F0} instructions");
        if (!nopTarget.ContainsKey("skipped"))
            text += string.Create(inv, $"; moving it to another ring on one thread, without any wakeup, costs {D(nopTarget, "ns_per_op") - plain:F0} (a')");
        md.AppendLine(text + ".");
    }

    /// <summary>Batch sizes of the raw-syscall NOP loop: one `io_uring_enter` per NOP, and the batch of (a).</summary>
    static readonly int[] RawBatches = [1, 32];

    /// <summary>
    /// liburing-tests/tools/nop-cost.c (raw syscalls, no liburing, no .NET) at each of <see cref="RawBatches"/> in one
    /// -icount boot; returns the best guest ns per NOP (= instructions) per batch size.
    /// </summary>
    static Dictionary<int, double> RawNopCost(KernelInfo k, string binary, int nops)
    {
        var runs = RawBatches.Select(b => $"{VmRunner.ShellQuote(binary)} {b} {nops} >> \"$TOOLKIT_RUN_DIR/nop-cost.txt\"");
        var r = VmRunner.Run(new VmOptions
        {
            KernelImage = k.Image, WorkDir = Paths.RepoRoot, ICount = true, Timeout = TimeSpan.FromMinutes(10),
            Command = ["sh", "-c", string.Join(" && ", runs)],
        });
        var file = Path.Combine(r.RunDir, "nop-cost.txt");
        if (r.ExitCode != 0 || !File.Exists(file))
            throw new ToolkitException(r.ExitCode != 0 ? r.ExitCode : ExitCodes.Failed, $"bench cross-ring: nop-cost on {k.Flavour} failed:\n{r.Summary()}");
        var best = new Dictionary<int, double>();
        foreach (var line in File.ReadAllLines(file).Where(l => l.StartsWith("nop-cost batch=", StringComparison.Ordinal)))
        {
            var kv = line["nop-cost ".Length..].Split(' ').Select(x => x.Split('=', 2)).ToDictionary(x => x[0], x => x[1]);
            best[int.Parse(kv["batch"], CultureInfo.InvariantCulture)] = double.Parse(kv["best_ns_per_nop"], CultureInfo.InvariantCulture);
        }
        if (best.Count != RawBatches.Length)
            throw new ToolkitException(ExitCodes.Failed, $"bench cross-ring: {file} lacks a summary line for every batch size");
        return best;
    }

    /// <summary>Builds the raw NOP loop on the host (the guest runs host binaries over 9p).</summary>
    static string BuildNopCost()
    {
        var src = Path.Combine(Paths.RepoRoot, "liburing-tests", "tools", "nop-cost.c");
        var bin = Path.Combine(Paths.RepoRoot, "artifacts", "crossring-bench", "nop-cost");
        Directory.CreateDirectory(Path.GetDirectoryName(bin)!);
        Proc.Check("gcc", ["-O2", "-Wall", "-o", bin, src], ExitCodes.BuildFailed, "building liburing-tests/tools/nop-cost.c");
        return bin;
    }

    internal static void AppendRawNop(StringBuilder md, int nops, Dictionary<int, double> baseline, Dictionary<int, double> patched)
    {
        md.AppendLine("## (a0) Plain NOP cost through raw syscalls, patched vs baseline (-icount)");
        md.AppendLine();
        md.AppendLine("`liburing-tests/tools/nop-cost.c`: no liburing, no .NET; NOPs in batches of B with one `io_uring_enter(B, B, GETEVENTS)` per batch, " +
            $"reaped from the mapped CQ, {nops} NOPs per repetition, best of 5. Batch 1 prices the syscall entry with every request.");
        md.AppendLine();
        md.AppendLine("| batch | baseline: instructions per NOP | patched | patched - baseline | ratio (target ≤ +0.5%) |");
        md.AppendLine("| ---: | ---: | ---: | ---: | ---: |");
        foreach (var b in RawBatches)
        {
            var ratio = patched[b] / baseline[b];
            md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {b} | {baseline[b]:F2} | {patched[b]:F2} | {patched[b] - baseline[b]:+0.00;-0.00} | **{ratio:F4}** ({(ratio - 1) * 100:+0.00;-0.00}%) |"));
        }
        md.AppendLine();
    }

    static int Run(int nops, int deliveries, string output)
    {
        var baseline = Kernel(Flavour.Baseline);
        var patched = Kernel(Flavour.Patched);
        var project = Path.Combine(Paths.RepoRoot, "Bench", "CrossRing.Bench", "CrossRing.Bench.csproj");
        var outDir = Path.Combine(Paths.RepoRoot, "artifacts", "crossring-bench");
        Progress.Step("building Bench/CrossRing.Bench");
        Proc.Check("dotnet", ["build", project, "-c", "Release", "-o", outDir, "--nologo", "-v", "quiet", "-clp:NoSummary"], ExitCodes.BuildFailed, "building CrossRing.Bench");
        var dll = Path.Combine(outDir, "CrossRing.Bench.dll");
        var load = HostLoad.OneMinute();

        var nopCost = BuildNopCost();
        Progress.Step($"(a0) raw-syscall NOP loop, batch {string.Join(" and ", RawBatches)}, under -icount: baseline, then patched");
        var rawBase = RawNopCost(baseline, nopCost, nops);
        var rawPatched = RawNopCost(patched, nopCost, nops);
        Progress.Step($"(a) {nops} NOPs under -icount: baseline, then patched");
        var baseRun = Guest(baseline, dll, $"nop {nops}", icount: true);
        var patchedRun = Guest(patched, dll, [$"nop {nops}", $"nop-target {nops}", $"nop-msgring {nops}"], icount: true);
        var nopBase = baseRun.Single(m => m["path"] == "nop" && !m.ContainsKey("rep"));
        var nopPatched = patchedRun.Single(m => m["path"] == "nop" && !m.ContainsKey("rep"));
        var nopTarget = patchedRun.Single(m => m["path"] == "nop-target" && !m.ContainsKey("rep"));
        var nopMsgRing = patchedRun.Single(m => m["path"] == "nop-msgring" && !m.ContainsKey("rep"));
        var nopBaseSamples = baseRun.Where(m => m["path"] == "nop" && m.ContainsKey("rep")).Select(m => m["ns_per_op"]).ToList();
        var nopPatchedSamples = patchedRun.Where(m => m["path"] == "nop" && m.ContainsKey("rep")).Select(m => m["ns_per_op"]).ToList();
        var ratio = D(nopPatched, "ns_per_op") / D(nopBase, "ns_per_op");

        Progress.Step($"(b) {deliveries} deliveries per path on the patched kernel");
        var deliver = Guest(patched, dll, $"deliver {deliveries}", icount: false);
        Progress.Step($"(b') {deliveries} deliveries per path on the patched kernel under -icount");
        var deliverIcount = Guest(patched, dll, $"deliver {deliveries}", icount: true);

        var md = new StringBuilder();
        md.AppendLine("# Cross-ring completion benchmark");
        md.AppendLine();
        md.AppendLine("Written by `scripts/toolkit bench cross-ring` (re-run it to refresh this file). Guest program: `Bench/CrossRing.Bench`.");
        md.AppendLine();
        md.AppendLine($"- date (UTC): {DateTime.UtcNow:yyyy-MM-dd HH:mm}");
        md.AppendLine($"- machine: {Environment.ProcessorCount} cores, load average {load} at start; QEMU TCG (no KVM), guest 2 vCPUs (icount runs: single-threaded TCG)");
        md.AppendLine($"- kernels: baseline {baseline.KernelRelease}, patched {patched.KernelRelease} (base {patched.BaseVersion}, series {patched.SeriesHash[..12]}, {patched.SeriesPatches} patches)");
        md.AppendLine();
        AppendRawNop(md, nops, rawBase, rawPatched);
        md.AppendLine("## (a) Plain NOP cost, patched vs baseline (-icount shift=0: 1 guest ns = 1 instruction)");
        md.AppendLine();
        md.AppendLine("NOPs in batches of 32 per `io_uring_enter`, no IOSQE_CQE_TARGET: the cost every request pays for the feature. Best of 5 in-process repetitions per kernel (samples below), tiered JIT off.");
        md.AppendLine();
        md.AppendLine("| kernel | NOPs | guest ns (= instructions) per NOP |");
        md.AppendLine("| --- | ---: | ---: |");
        md.AppendLine($"| baseline | {nops} | {D(nopBase, "ns_per_op"):F1} |");
        md.AppendLine($"| patched | {nops} | {D(nopPatched, "ns_per_op"):F1} |");
        md.AppendLine();
        md.AppendLine($"Samples (ns per NOP): baseline {string.Join(", ", nopBaseSamples)}; patched {string.Join(", ", nopPatchedSamples)}.");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Ratio patched/baseline: **{ratio:F4}** ({(ratio - 1) * 100:+0.00;-0.00}%; target ≤ +0.5%)."));
        md.AppendLine();
        md.AppendLine("## (a') Kernel-side cost of moving a completion to another ring (patched kernel, -icount)");
        md.AppendLine();
        md.AppendLine("Same loop as (a), one thread and two rings, no waits: each NOP's completion is moved to the second ring and reaped there. " +
            "flag: `IOSQE_CQE_TARGET` (file reference and carrier per request, batched delivery); MSG_RING: the completion is reaped on the first ring and re-posted with an `IORING_OP_MSG_RING` per completion (`IOSQE_CQE_SKIP_SUCCESS`), the kernel half of the relay.");
        md.AppendLine();
        md.AppendLine("| way | guest ns (= instructions) per completion | over a plain NOP |");
        md.AppendLine("| --- | ---: | ---: |");
        foreach (var (label, m) in new[] { ("plain NOP (no move)", nopPatched), ("IOSQE_CQE_TARGET", nopTarget), ("NOP + MSG_RING re-post", nopMsgRing) })
            md.AppendLine(m.ContainsKey("skipped") ? $"| {label} | skipped | |"
                : string.Create(CultureInfo.InvariantCulture, $"| {label} | {D(m, "ns_per_op"):F1} | {D(m, "ns_per_op") - D(nopPatched, "ns_per_op"):+0.0;-0.0} |"));
        if (!nopTarget.ContainsKey("skipped") && !nopMsgRing.ContainsKey("skipped"))
        {
            var extraFlag = D(nopTarget, "ns_per_op") - D(nopPatched, "ns_per_op");
            var extraMsg = D(nopMsgRing, "ns_per_op") - D(nopPatched, "ns_per_op");
            md.AppendLine();
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Moving a completion costs the kernel path {extraFlag:F0} instructions and the MSG_RING re-post {extraMsg:F0}: **{extraMsg / extraFlag:F2}x** less kernel work with the flag."));
        }
        md.AppendLine();
        md.AppendLine("## (b) Delivering completions to another thread's ring (patched kernel, one VM run)");
        md.AppendLine();
        md.AppendLine("A source thread submits NOPs (batches of 32, at most 256 undelivered; with a full window it blocks until the target thread reports progress); a target thread owning its own ring reaps them and checks each user_data once. " +
            "kernel: `IOSQE_CQE_TARGET`; relay: `CrossRingCompleter` relay path (completion on the source, `IORING_OP_MSG_RING` re-post by the source thread); " +
            "kernel-defer and relay-defer: the same with a `SINGLE_ISSUER|DEFER_TASKRUN` target ring, whose CQEs are posted by the target thread's own `io_uring_enter` (task_work) rather than by the thread that completed the request; " +
            "eventfd: the source thread reaps its CQEs into a `ConcurrentQueue` and writes an eventfd per batch, the target thread blocks in `read()`.");
        md.AppendLine();
        md.AppendLine("Two runs of the same program: plain TCG (wall time, 2 vCPUs, disturbed by the host's load) and -icount " +
            "(guest time = instructions executed by both vCPUs, so guest ns per completion is the instructions per completion when the threads are busy; " +
            "the process CPU time is the guest's own accounting, in which a thread accrues guest time while QEMU runs the other vCPU, so with two busy threads it can reach twice the instruction count: compare it between paths only).");
        md.AppendLine();
        md.AppendLine("| path | completions | TCG: completions/s | TCG: wall ns per completion | TCG: sleeps per 1000 (source / target thread) | icount: completions/s (guest time) | icount: guest ns (= instructions) per completion | icount: process CPU ns per completion |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var m in deliver)
        {
            var ic = deliverIcount.FirstOrDefault(x => x["path"] == m["path"]);
            md.AppendLine(m.ContainsKey("skipped") || ic == null || ic.ContainsKey("skipped") ? $"| {m["path"]} | skipped ({m.GetValueOrDefault("skipped")}) | | | | | | |"
                : string.Create(CultureInfo.InvariantCulture, $"| {m["path"]} | {m["n"]} | {D(m, "ops_per_s"):F0} | {D(m, "ns_per_op"):F0} | {1000 * D(m, "source_sleeps") / D(m, "n"):F2} / {1000 * D(m, "target_sleeps") / D(m, "n"):F1} | {D(ic, "ops_per_s"):F0} | {D(ic, "ns_per_op"):F0} | {D(ic, "cpu_ns_per_op"):F0} |"));
        }
        foreach (var (label, rows, key, higherIsBetter) in new[] { ("TCG throughput", deliver, "ops_per_s", true), ("icount throughput", deliverIcount, "ops_per_s", true), ("icount process CPU time", deliverIcount, "cpu_ns_per_op", false) })
        {
            var kernels = rows.Where(m => IsKernelPath(m) && !m.ContainsKey("skipped")).ToList();
            var others = rows.Where(m => !IsKernelPath(m) && !m.ContainsKey("skipped")).ToList();
            if (kernels.Count == 0 || others.Count == 0) continue;
            var kernel = higherIsBetter ? kernels.MaxBy(m => D(m, key))! : kernels.MinBy(m => D(m, key))!;
            var best = higherIsBetter ? others.MaxBy(m => D(m, key))! : others.MinBy(m => D(m, key))!;
            var factor = higherIsBetter ? D(kernel, key) / D(best, key) : D(best, key) / D(kernel, key);
            md.AppendLine();
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{label}: best kernel path ({kernel["path"]}) vs best relay ({best["path"]}): **{factor:F2}x** better (target ≥ 2x)."));
        }
        md.AppendLine();
        md.AppendLine("In every path the source thread almost never sleeps: it is the bottleneck, so the TCG throughput is the source thread's cost per completion. " +
            "The kernel path does the delivery on that thread (in its `io_uring_enter`), the eventfd path only a queue push and one `write()` per batch there.");
        AppendCeiling(md, nopPatched, nopTarget, deliverIcount);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        File.WriteAllText(output, md.ToString());
        Console.WriteLine(md.ToString());
        Console.WriteLine($"written to {output}");
        return ExitCodes.Ok;
    }
}
