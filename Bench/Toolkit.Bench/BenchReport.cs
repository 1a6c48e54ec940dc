using System.Globalization;
using System.Text.Json;

using Toolkit.Kernel;
using static Toolkit.Bench.BenchMarkdown;

namespace Toolkit.Bench;

/// <summary>One measured step of `bench vm`: what, how long, and what the number means.</summary>
public sealed record VmBenchRow(string What, string Value, string Note);

/// <summary>A `bench vm` run: the measured rows and the machine, kernel and load they were measured on.</summary>
public sealed record VmBenchResult(IReadOnlyList<VmBenchRow> Rows, DateTime Date, int Cores, long MemoryGiB,
    string Accel, string LoadBefore, string LoadAfter, KernelInfo Kernel);

/// <summary>
/// A `bench cq-word` run: the guest program's JSON lines of the wakeup-path run ("info", "path", "tight") and of
/// the -icount runs per flavour, with the kernels and accelerators they ran on.
/// </summary>
public sealed record CqWordBenchResult(IReadOnlyList<JsonElement> Paths,
    IReadOnlyDictionary<string, List<JsonElement>> Icount, KernelInfo? Baseline, KernelInfo? Patched,
    IReadOnlyList<(string What, string Accel)> Vms, int Rounds, int Nops, DateTime Date, BenchHost Host);

/// <summary>
/// A `bench cross-ring` run. Rows are the guest program's key=value result lines ("path", "ns_per_op", ...,
/// "skipped" when a path could not run); raw NOP costs are the best guest ns per NOP by batch size.
/// </summary>
public sealed record CrossRingBenchResult(int Nops, IReadOnlyDictionary<int, double> RawBaseline,
    IReadOnlyDictionary<int, double> RawPatched, Dictionary<string, string> NopBaseline,
    Dictionary<string, string> NopPatched, Dictionary<string, string> NopTarget, Dictionary<string, string> NopMsgRing,
    IReadOnlyList<string> NopBaselineSamples, IReadOnlyList<string> NopPatchedSamples,
    IReadOnlyList<Dictionary<string, string>> Deliver, IReadOnlyList<Dictionary<string, string>> DeliverIcount,
    DateTime Date, int Cores, string Load, KernelInfo Baseline, KernelInfo Patched)
{
    public double Ratio => BenchReport.D(NopPatched, "ns_per_op") / BenchReport.D(NopBaseline, "ns_per_op");

    /// <summary>(c)-(e): delivery latency, idle wake-up cost, handoff.</summary>
    public CrossRingLatencyResult? Latency { get; init; }

    /// <summary>The benchmark's host scheduling policy (QEMU inherits it), e.g. SCHED_FIFO from `chrt`.</summary>
    public string? Scheduling { get; init; }
}

/// <summary>
/// Renders the VM benchmarks' results as docs/vm-benchmark.md, docs/cq-word-benchmark.md and
/// docs/cross-ring-benchmark.md. `bench interop` renders its report with the same <see cref="BenchMarkdown"/>
/// in the generator assembly, which cannot see the toolkit (and whose own tests run it without the toolkit).
/// </summary>
public static class BenchReport
{
    public static string Render(VmBenchResult r)
    {
        var k = r.Kernel;
        var md = new BenchMarkdown().Head("VM pipeline benchmark", Unwrap("""
            Written by `scripts/toolkit bench vm` (re-run it to refresh this file; `--cold baseline patched debug`
            adds builds with ccache disabled).
            """),
        [
            Inv($"date (UTC): {r.Date:yyyy-MM-dd HH:mm}"),
            Inv($"machine: {r.Cores} cores, {r.MemoryGiB} GiB; accel {r.Accel}; ")
                + $"load average {r.LoadBefore} before, {r.LoadAfter} after",
            Inv($"kernel: {k.KernelRelease} (base {k.BaseName}, {k.BaseVersion}, series {k.SeriesHash[..12]}, ")
                + Inv($"{k.SeriesPatches} patches)"),
        ]);
        md.TableHead(["what", "time", "note"], ["---", "---:", "---"]);
        foreach (var row in r.Rows) md.Row([row.What, row.Value, row.Note]);
        return md.ToString();
    }

    public static string Render(CqWordBenchResult r)
    {
        var (b, p) = (r.Baseline, r.Patched);
        var info = r.Paths.First(x => Str(x, "kind") == "info");
        var accel = string.Join(", ", r.Vms.Select(v => $"{v.What}={v.Accel}").Distinct());
        var md = new BenchMarkdown().Head("CQ user word: wakeup paths and CQE delivery cost", Unwrap("""
            Written by `scripts/toolkit bench cq-word` (re-run it to refresh this file; raw JSON lines stay in the
            run directory).
            """),
        [
            Inv($"Date (UTC): {r.Date:yyyy-MM-dd HH:mm}"),
            Inv($"Host: {r.Host.Cpus} CPUs ({r.Host.CpuModel}), host kernel {r.Host.Kernel}, ")
                + $".NET {r.Host.DotnetVersion}; the machine is shared, so wall-clock numbers are noisy",
            Inv($"Patched kernel: {p?.KernelRelease} (base {p?.BaseName}, {p?.BaseVersion}, series {p?.SeriesHash}, ")
                + Inv($"{p?.SeriesPatches} patches); ")
                + $"baseline: {b?.KernelRelease} (series {b?.SeriesHash})",
            $"VM: QEMU accel {accel}; 2 vCPUs",
            $"{Str(info, "describe")} (guest CPUID under QEMU TCG)",
        ]);
        AppendWakeupPaths(md, r);
        AppendDeliveryCost(md, r);
        return md.ToString();
    }

    static void AppendWakeupPaths(BenchMarkdown md, CqWordBenchResult r)
    {
        md.Heading("Notifier cost and wake latency (patched kernel, one VM run, TCG)");
        md.Line(Unwrap(Inv($"""
            {r.Rounds} handoffs per path after a warm-up. Each round: the notifier waits until the waiter is about to
            wait, lets 100 µs pass for the blocking paths (so the waiter really sleeps), takes a timestamp, notifies,
            takes another (*notify* = what the notifying thread pays), and waits for the ack; the waiter takes a
            timestamp when it runs again (*wake* = notify start to waiter running). Guest wall-clock under TCG:
            emulated, so absolute values are far above hardware; the ratios between paths are the point.
            """))).Line();
        md.TableHead(["path", "waiter", "notify median (ns)", "notify mean (ns)", "wake median (ns)", "wake p99 (ns)"],
            ["---", "---", "---:", "---:", "---:", "---:"], compactSeparators: true);
        var pathRows = r.Paths.Where(x => Str(x, "kind") == "path").ToList();
        foreach (var x in pathRows)
            md.Row([Str(x, "path"), Str(x, "waiter"), Inv($"{Num(x, "notify_ns_median"):F0}"),
                Inv($"{Num(x, "notify_ns_mean"):F0}"), Inv($"{Num(x, "wake_ns_median"):F0}"),
                Inv($"{Num(x, "wake_ns_p99"):F0}")]);
        var tight = r.Paths.FirstOrDefault(x => Str(x, "kind") == "tight");
        if (tight.ValueKind != JsonValueKind.Undefined)
            md.Text(Inv($"\nStore path back to back (no waiter, {Num(tight, "n"):F0} calls): "))
                .Text(Inv($"{Num(tight, "ns_per_notify"):F1} ns per Notify() on average "));
        // Written with or without the "tight" run, as the report always has been.
        md.Line(Unwrap("""
            (16-bit store + full fence + state load). This is a mean over wall-clock time and so includes every
            moment the vCPU thread was preempted on the shared host (the p99 column shows how large those stalls
            are); the medians above are the representative figures.
            """));
        var store = pathRows.First(x => Str(x, "path") == "cq word store");
        var cheapestSyscall = pathRows.Where(x => Str(x, "path") != "cq word store")
            .Min(x => Num(x, "notify_ns_median"));
        var factor = cheapestSyscall / Math.Max(1, Num(store, "notify_ns_median"));
        md.Line().Line(Unwrap(Inv($"""
            Notifier: the store path costs **{factor:F0}x less** (median) than the cheapest syscall path
            ({(factor >= 10 ? "meets" : "does not meet")} the expected >= 10x). Word used: {Str(store, "word")}.
            """))).Line();
    }

    static void AppendDeliveryCost(BenchMarkdown md, CqWordBenchResult r)
    {
        md.Heading("CQE delivery cost, baseline vs patched (QEMU -icount shift=0)");
        md.Line(Unwrap(Inv($"""
            Single-threaded TCG with `-icount shift=0`: one guest nanosecond per instruction, so the numbers are
            instruction counts of the whole round trip (C# get_sqe/prep via LiburingFast, `io_uring_submit_and_wait`,
            kernel NOP issue and CQE post, reap). {r.Nops} NOPs per repetition after 20000 warm-up NOPs,
            3 repetitions per kernel and batch size.
            """))).Line();
        md.TableHead(["batch", "baseline ns/NOP (reps)", "patched ns/NOP (reps)", "patched / baseline"],
            ["---:", "---", "---", "---:"], compactSeparators: true);
        foreach (var batch in new[] { 1, 32 })
        {
            double[] Vals(string f) => r.Icount[f].Where(x => (int)Num(x, "batch") == batch)
                .Select(x => Num(x, "ns_per_nop")).ToArray();
            var (bv, pv) = (Vals("baseline"), Vals("patched"));
            var ratio = pv.Order().ElementAt(pv.Length / 2) / bv.Order().ElementAt(bv.Length / 2);
            md.Row([Inv($"{batch}"), string.Join(", ", bv.Select(v => Inv($"{v:F1}"))),
                string.Join(", ", pv.Select(v => Inv($"{v:F1}"))), Inv($"{ratio:F4}")]);
        }
        md.Line().Line(Unwrap(Inv($"""
            The CQ user word series adds one `WRITE_ONCE()` at ring setup and nothing on the submission or
            completion path, so a ratio of ~1 is expected. The patched image is whatever `kernel build --flavour
            patched` last built into the shared cache: here {r.Patched?.SeriesPatches} patches (series hash above),
            so when that is more than this series' two, the ratio covers the other series too. The JIT runs without
            tiering in these runs, so the repetitions differ only by what is left non-deterministic in the guest
            (timer interrupts).
            """)));
    }

    public static string Render(CrossRingBenchResult r, string plotFile)
    {
        var md = new BenchMarkdown().Head("Cross-ring completion benchmark", Unwrap("""
            Written by `scripts/toolkit bench cross-ring` (re-run it to refresh this file). Guest program:
            `Bench/CrossRing.Bench`.
            """),
        [
            Inv($"date (UTC): {r.Date:yyyy-MM-dd HH:mm}"),
            $"machine: {r.Cores} cores, load average {r.Load} at start; QEMU TCG (no KVM), guest 2 vCPUs "
                + "(icount runs: single-threaded TCG)",
            $"kernels: baseline {r.Baseline.KernelRelease}, patched {r.Patched.KernelRelease} "
                + $"(base {r.Patched.BaseName}, {r.Patched.BaseVersion}, series {r.Patched.SeriesHash[..12]}, "
                + $"{r.Patched.SeriesPatches} patches)",
            .. r.Scheduling == null ? Array.Empty<string>() : [$"host scheduling of the benchmark and QEMU: {r.Scheduling}"],
        ]);
        if (r.Latency != null) CrossRingLatencyReport.AppendHeadline(md, r.Latency, r.DeliverIcount);
        AppendRawNop(md, r.Nops, r.RawBaseline, r.RawPatched);
        AppendPlainNop(md, r);
        AppendMoveCost(md, r);
        AppendDelivery(md, r);
        AppendCeiling(md, r.NopPatched, r.NopTarget, r.DeliverIcount);
        if (r.Latency != null) CrossRingLatencyReport.Append(md, r.Latency, plotFile);
        return md.ToString();
    }

    /// <summary>Batch sizes of the raw-syscall NOP loop: one `io_uring_enter` per NOP, and the batch of (a).</summary>
    public static readonly int[] RawBatches = [1, 32];

    internal static void AppendRawNop(BenchMarkdown md, int nops, IReadOnlyDictionary<int, double> baseline,
        IReadOnlyDictionary<int, double> patched)
    {
        md.Heading("(a0) Plain NOP cost through raw syscalls, patched vs baseline (-icount)");
        md.Line(Unwrap($"""
            `liburing-tests/tools/nop-cost.c`: no liburing, no .NET; NOPs in batches of B with one
            `io_uring_enter(B, B, GETEVENTS)` per batch, reaped from the mapped CQ, {nops} NOPs per repetition,
            best of 5. Batch 1 prices the syscall entry with every request.
            """)).Line();
        md.TableHead(
            ["batch", "baseline: instructions per NOP", "patched", "patched - baseline", "ratio (target ≤ +0.5%)"],
            ["---:", "---:", "---:", "---:", "---:"]);
        foreach (var b in RawBatches)
        {
            var ratio = patched[b] / baseline[b];
            md.Row([Inv($"{b}"), Inv($"{baseline[b]:F2}"), Inv($"{patched[b]:F2}"),
                Inv($"{patched[b] - baseline[b]:+0.00;-0.00}"),
                Inv($"**{ratio:F4}** ({(ratio - 1) * 100:+0.00;-0.00}%)")]);
        }
        md.Line();
    }

    static void AppendPlainNop(BenchMarkdown md, CrossRingBenchResult r)
    {
        md.Heading("(a) Plain NOP cost, patched vs baseline (-icount shift=0: 1 guest ns = 1 instruction)");
        md.Line(Unwrap("""
            NOPs in batches of 32 per `io_uring_enter`, no IOSQE_CQE_TARGET: the cost every request pays for the
            feature. Best of 5 in-process repetitions per kernel (samples below), tiered JIT off.
            """)).Line();
        md.TableHead(["kernel", "NOPs", "guest ns (= instructions) per NOP"], ["---", "---:", "---:"]);
        md.Row(["baseline", Inv($"{r.Nops}"), Inv($"{D(r.NopBaseline, "ns_per_op"):F1}")]);
        md.Row(["patched", Inv($"{r.Nops}"), Inv($"{D(r.NopPatched, "ns_per_op"):F1}")]);
        md.Line();
        md.Line($"Samples (ns per NOP): baseline {string.Join(", ", r.NopBaselineSamples)}; "
            + $"patched {string.Join(", ", r.NopPatchedSamples)}.");
        md.Line();
        md.Line(Inv($"Ratio patched/baseline: **{r.Ratio:F4}** ({(r.Ratio - 1) * 100:+0.00;-0.00}%; ")
            + "target ≤ +0.5%).");
        md.Line();
    }

    static void AppendMoveCost(BenchMarkdown md, CrossRingBenchResult r)
    {
        md.Heading("(a') Kernel-side cost of moving a completion to another ring (patched kernel, -icount)");
        md.Line(Unwrap("""
            Same loop as (a), one thread and two rings, no waits: each NOP's completion is moved to the second ring
            and reaped there. flag: `IOSQE_CQE_TARGET` (file reference and carrier per request, batched delivery);
            MSG_RING: the completion is reaped on the first ring and re-posted with an `IORING_OP_MSG_RING` per
            completion (`IOSQE_CQE_SKIP_SUCCESS`), the kernel half of the relay.
            """)).Line();
        md.TableHead(["way", "guest ns (= instructions) per completion", "over a plain NOP"], ["---", "---:", "---:"]);
        var plain = D(r.NopPatched, "ns_per_op");
        (string Label, Dictionary<string, string> Row)[] ways =
        [
            ("plain NOP (no move)", r.NopPatched), ("IOSQE_CQE_TARGET", r.NopTarget),
            ("NOP + MSG_RING re-post", r.NopMsgRing),
        ];
        foreach (var (label, m) in ways)
            md.Line(m.ContainsKey("skipped") ? $"| {label} | skipped | |"
                : Inv($"| {label} | {D(m, "ns_per_op"):F1} | {D(m, "ns_per_op") - plain:+0.0;-0.0} |"));
        if (!r.NopTarget.ContainsKey("skipped") && !r.NopMsgRing.ContainsKey("skipped"))
        {
            var extraFlag = D(r.NopTarget, "ns_per_op") - plain;
            var extraMsg = D(r.NopMsgRing, "ns_per_op") - plain;
            md.Line().Line(Unwrap(Inv($"""
                Moving a completion costs the kernel path {extraFlag:F0} instructions and the MSG_RING re-post
                {extraMsg:F0}: **{extraMsg / extraFlag:F2}x** less kernel work with the flag.
                """)));
        }
        md.Line();
    }

    static void AppendDelivery(BenchMarkdown md, CrossRingBenchResult r)
    {
        md.Heading("(b) Delivering completions to another thread's ring (patched kernel, one VM run)");
        md.Line(Unwrap("""
            A source thread submits NOPs (batches of 32, at most 256 undelivered; with a full window it blocks until
            the target thread reports progress); a target thread owning its own ring reaps them and checks each
            user_data once. kernel: `IOSQE_CQE_TARGET`; relay: `CrossRingCompleter` relay path (completion on the
            source, `IORING_OP_MSG_RING` re-post by the source thread); kernel-defer and relay-defer: the same with a
            `SINGLE_ISSUER|DEFER_TASKRUN` target ring, whose CQEs are posted by the target thread's own
            `io_uring_enter` (task_work) rather than by the thread that completed the request; eventfd: the source
            thread reaps its CQEs into a `ConcurrentQueue` and writes an eventfd per batch, the target thread blocks
            in `read()`.
            """)).Line();
        md.Line(Unwrap("""
            Two runs of the same program: plain TCG (wall time, 2 vCPUs, disturbed by the host's load) and -icount
            (guest time = instructions executed by both vCPUs, so guest ns per completion is the instructions per
            completion when the threads are busy; the process CPU time is the guest's own accounting, in which a
            thread accrues guest time while QEMU runs the other vCPU, so with two busy threads it can reach twice the
            instruction count: compare it between paths only).
            """)).Line();
        md.TableHead(["path", "completions", "TCG: completions/s", "TCG: wall ns per completion",
                "TCG: sleeps per 1000 (source / target thread)", "icount: completions/s (guest time)",
                "icount: guest ns (= instructions) per completion", "icount: process CPU ns per completion"],
            ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
        foreach (var m in r.Deliver)
            md.Line(DeliveryRow(m, r.DeliverIcount.FirstOrDefault(x => x["path"] == m["path"])));
        AppendDeliveryFactors(md, r);
        md.Line().Line(Unwrap("""
            In every path the source thread almost never sleeps: it is the bottleneck, so the TCG throughput is the
            source thread's cost per completion. The kernel path does the delivery on that thread (in its
            `io_uring_enter`), the eventfd path only a queue push and one `write()` per batch there.
            """));
    }

    static string DeliveryRow(Dictionary<string, string> m, Dictionary<string, string>? ic)
        => m.ContainsKey("skipped") || ic == null || ic.ContainsKey("skipped")
            ? $"| {m["path"]} | skipped ({m.GetValueOrDefault("skipped")}) | | | | | | |"
            : Inv($"| {m["path"]} | {m["n"]} | {D(m, "ops_per_s"):F0} | {D(m, "ns_per_op"):F0} | ")
              + Inv($"{1000 * D(m, "source_sleeps") / D(m, "n"):F2} / {1000 * D(m, "target_sleeps") / D(m, "n"):F1} | ")
              + Inv($"{D(ic, "ops_per_s"):F0} | {D(ic, "ns_per_op"):F0} | {D(ic, "cpu_ns_per_op"):F0} |");

    /// <summary>Best kernel path against the best relay, per measure (higher or lower is better).</summary>
    static void AppendDeliveryFactors(BenchMarkdown md, CrossRingBenchResult r)
    {
        (string Label, IReadOnlyList<Dictionary<string, string>> Rows, string Key, bool HigherIsBetter)[] measures =
        [
            ("TCG throughput", r.Deliver, "ops_per_s", true),
            ("icount throughput", r.DeliverIcount, "ops_per_s", true),
            ("icount process CPU time", r.DeliverIcount, "cpu_ns_per_op", false),
        ];
        foreach (var (label, rows, key, higherIsBetter) in measures)
        {
            var kernels = rows.Where(m => IsKernelPath(m) && !m.ContainsKey("skipped")).ToList();
            var others = rows.Where(m => !IsKernelPath(m) && !m.ContainsKey("skipped")).ToList();
            if (kernels.Count == 0 || others.Count == 0) continue;
            var kernel = higherIsBetter ? kernels.MaxBy(m => D(m, key))! : kernels.MinBy(m => D(m, key))!;
            var best = higherIsBetter ? others.MaxBy(m => D(m, key))! : others.MinBy(m => D(m, key))!;
            var factor = higherIsBetter ? D(kernel, key) / D(best, key) : D(best, key) / D(kernel, key);
            md.Line().Line(Inv($"{label}: best kernel path ({kernel["path"]}) vs best relay ({best["path"]}): ")
                + Inv($"**{factor:F2}x** better."));
        }
    }

    /// <summary>kernel, kernel-defer: IOSQE_CQE_TARGET; everything else is a relay.</summary>
    static bool IsKernelPath(Dictionary<string, string> row)
        => row["path"].StartsWith("kernel", StringComparison.Ordinal);

    /// <summary>
    /// How far any kernel delivery could get against the best relay, from this run's own numbers: the request itself
    /// (submit, complete, reap: a plain NOP) is a floor no delivery mechanism goes below.
    /// </summary>
    internal static void AppendCeiling(BenchMarkdown md, Dictionary<string, string> nop,
        Dictionary<string, string> nopTarget, IReadOnlyList<Dictionary<string, string>> icountRows)
    {
        var relays = icountRows.Where(m => !IsKernelPath(m) && !m.ContainsKey("skipped")).ToList();
        if (relays.Count == 0) return;
        var best = relays.MinBy(m => D(m, "ns_per_op"))!;
        var plain = D(nop, "ns_per_op");
        var bestCost = D(best, "ns_per_op");
        var budget = bestCost / 2 - plain;
        md.Line().Line("### How far any kernel path could get on NOPs (from this run's numbers)").Line();
        var text = Unwrap(Inv($"""
            The best relay ({best["path"]}) costs {bestCost:F0} instructions per completion, both threads together;
            a plain NOP submitted, completed and reaped on one ring costs {plain:F0} (a). A kernel path that delivered
            for free would still cost the request itself, so it can be at most **{bestCost / plain:F2}x** cheaper
            than the best relay. To be 2x cheaper it would have to move a completion to another thread's ring, wake
            that thread and let it reap, in {budget:F0} instructions
            """));
        if (!nopTarget.ContainsKey("skipped"))
            text += Inv($"; moving it to another ring on one thread, without any wakeup, costs ")
                + Inv($"{D(nopTarget, "ns_per_op") - plain:F0} (a')");
        md.Line(text + ".");
    }

    internal static double D(Dictionary<string, string> m, string key)
        => double.Parse(m[key], CultureInfo.InvariantCulture);

    static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v)
        ? (v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText())
        : "";

    static double Num(JsonElement e, string name) => e.GetProperty(name).GetDouble();
}
