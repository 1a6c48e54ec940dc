using System.Globalization;
using System.Text;
using System.Text.Json;
using static Toolkit.Bench.BenchMarkdown;
using Row = System.Collections.Generic.Dictionary<string, string>;

namespace Toolkit.Bench;

/// <summary>
/// The delivery-latency part of `bench cross-ring`: the guest's `part=latency` lines (TCG, 2 vCPUs), the same
/// workloads with an idle source under -icount on 1 vCPU (CPU per completion = instructions), and the
/// `part=handoff` lines (thread-per-core echo).
/// </summary>
public sealed record CrossRingLatencyResult(IReadOnlyList<Row> Latency, IReadOnlyList<Row> IdleIcount,
    IReadOnlyList<Row> Handoff)
{
    /// <summary>(c') the matrix again in wall-clock time (TCG, 2 vCPUs): host noise included.</summary>
    public IReadOnlyList<Row> LatencyWallClock { get; init; } = [];

    public static readonly string[] Paths = ["kernel", "msgring", "eventfd"];
    public static readonly string[] Workloads = ["recv", "recv-multishot", "timeout", "async-read"];
    public static readonly string[] Relays = ["msgring", "eventfd"];

    /// <summary>The case the headline speed-up is read from: single-shot recv, default setup, 1 ms slices.</summary>
    const string HeadWorkload = "recv", HeadSetup = "default";
    const int HeadSlice = 1000;

    public Row? Find(IReadOnlyList<Row> rows, string workload, string setup, int slice, string path)
        => rows.FirstOrDefault(m => m["workload"] == workload && m["setup"] == setup
            && m["slice_us"] == slice.ToString(CultureInfo.InvariantCulture) && m["path"] == path
            && !m.ContainsKey("skipped"));

    /// <summary>The relay with the lowest <paramref name="cost"/> for a case, or null when none ran.</summary>
    public (string Path, double Value)? BestRelay(IReadOnlyList<Row> rows, string workload, string setup, int slice,
        Func<Row, double> cost)
        => Relays.Select(p => Find(rows, workload, setup, slice, p)).Where(m => m != null)
            .Select(m => (m!["path"], cost(m))).OrderBy(x => x.Item2).Cast<(string, double)?>().FirstOrDefault();

    /// <summary>Best relay's p99 / kernel p99 for a case; null when the kernel path did not run.</summary>
    public double? P99Speedup(string workload, string setup, int slice) => P99Speedup(Latency, workload, setup, slice);

    public double? P99Speedup(IReadOnlyList<Row> rows, string workload, string setup, int slice)
    {
        var k = Find(rows, workload, setup, slice, "kernel");
        var best = BestRelay(rows, workload, setup, slice, m => BenchReport.D(m, "p99_us"));
        return k == null || best == null ? null : best.Value.Value / BenchReport.D(k, "p99_us");
    }

    /// <summary>Instructions per completion of both event-loop threads and the rest of the process, not the writer.</summary>
    public static double Cpu(Row m)
        => BenchReport.D(m, "cpu_a_ns") + BenchReport.D(m, "cpu_b_ns") + BenchReport.D(m, "cpu_other_ns");

    /// <summary>Kernel path / best relay, CPU per completion with an idle source (-icount, 1 vCPU).</summary>
    public double? IdleCpuRatio(string workload)
    {
        var k = Find(IdleIcount, workload, HeadSetup, 0, "kernel");
        var best = BestRelay(IdleIcount, workload, HeadSetup, 0, Cpu);
        return k == null || best == null ? null : Cpu(k) / best.Value.Value;
    }

    public double? BusySourceP99Speedup => P99Speedup(HeadWorkload, HeadSetup, HeadSlice);
    public double? BusySourceP99SpeedupWallClock => P99Speedup(LatencyWallClock, HeadWorkload, HeadSetup, HeadSlice);

    /// <summary>
    /// The issue's CPU measure ("today 1.09x"): (b') NOP delivery to another thread's ring under -icount, process
    /// CPU per completion, best kernel path / best relay.
    /// </summary>
    public static double? CpuPerCompletionRatio(IReadOnlyList<Row> deliverIcount)
    {
        var ran = deliverIcount.Where(m => !m.ContainsKey("skipped")).ToList();
        var kernel = ran.Where(m => m["path"].StartsWith("kernel", StringComparison.Ordinal)).ToList();
        var relays = ran.Except(kernel).ToList();
        if (kernel.Count == 0 || relays.Count == 0) return null;
        return kernel.Min(m => BenchReport.D(m, "cpu_ns_per_op")) / relays.Min(m => BenchReport.D(m, "cpu_ns_per_op"));
    }

    public IEnumerable<(string Setup, int Slice)> Cases() => Cases(Latency);

    public static IEnumerable<(string Setup, int Slice)> Cases(IReadOnlyList<Row> rows)
        => rows.Select(m => (m["setup"], int.Parse(m["slice_us"], CultureInfo.InvariantCulture))).Distinct();
}

/// <summary>Renders <see cref="CrossRingLatencyResult"/> as Markdown sections, the JSON file and the CDF plot.</summary>
public static class CrossRingLatencyReport
{
    public static void Append(BenchMarkdown md, CrossRingLatencyResult r, string plotFile)
    {
        AppendBusySource(md, r, plotFile);
        AppendWallClock(md, r);
        AppendIdle(md, r);
        AppendHandoff(md, r);
    }

    static string F(double? v, string format = "F2") => v == null ? "n/a" : v.Value.ToString(format, Inv0);

    static readonly CultureInfo Inv0 = CultureInfo.InvariantCulture;

    public static void AppendHeadline(BenchMarkdown md, CrossRingLatencyResult r, IReadOnlyList<Row> deliverIcount)
    {
        md.Heading("Headline (written to the JSON file too)");
        md.Bullet($"`busy_source_p99_speedup` = best relay's p99 / kernel path's p99, single-shot recv, default "
            + $"source setup, 1 ms compute slices, -icount (c): **{F(r.BusySourceP99Speedup)}x** (target ≥ 10x); "
            + $"in wall-clock TCG time (c'): {F(r.BusySourceP99SpeedupWallClock)}x.");
        md.Bullet($"`cpu_per_completion_ratio` = best kernel path / best relay, process CPU per completion delivering "
            + $"NOPs to another thread's ring under -icount, (b'): **{F(CrossRingLatencyResult.CpuPerCompletionRatio(
                deliverIcount), "F3")}** (target ≤ 1).");
        md.Bullet("`idle_cpu_per_completion_ratio` = the same with real I/O and an idle source, per workload (d): "
            + string.Join(", ", CrossRingLatencyResult.Workloads.Select(w => $"{w} **{F(r.IdleCpuRatio(w), "F3")}**"))
            + ".");
        md.Line();
    }

    static void AppendBusySource(BenchMarkdown md, CrossRingLatencyResult r, string plotFile)
    {
        md.Heading("(c) Delivery latency while the submitting thread is busy (patched kernel, -icount, 2 vCPUs)");
        md.Line(Unwrap("""
            Thread A owns ring A and runs a compute slice between event-loop iterations (0 = an idle A blocked in
            `io_uring_enter`); every request it submits is aimed at ring B, whose thread waits in
            `io_uring_enter` (or, for eventfd, in `read()`). A sample is the time from the event to B holding the
            CQE: recv = a writer thread's one-byte write to one of 8 socket pairs (at exponential random intervals,
            mean 300 us, only to a socket whose receive is armed); recv-multishot = the same with a multishot recv
            and a buffer ring B recycles into; timeout = an absolute CLOCK_MONOTONIC deadline 0.1-2 ms ahead;
            async-read = the submission of an `IOSQE_ASYNC` 64-byte read of a tmpfs file (io-wq). kernel =
            `IOSQE_CQE_TARGET`; msgring = A reaps and re-posts with `IORING_OP_MSG_RING` (result and flags
            passed); eventfd = A reaps into a queue and writes an eventfd once per batch. B hands slots back to A
            through a queue (and a MSG_RING wake-up when A is idle), the same on every path. Run under -icount:
            guest time is instructions executed (one per ns), so the host's load does not move these numbers; the
            two vCPUs take turns on one host thread, which is part of what the floor (the idle rows) measures.
            """)).Line();
        md.Line($"![delivery latency CDF, recv, default setup]({Path.GetFileName(plotFile)})").Line();
        md.Line("p99 speed-up (best relay's p99 / kernel p99) per case:").Line();
        AppendSpeedups(md, r, r.Latency);
        var cases = r.Cases().ToList();
        foreach (var w in CrossRingLatencyResult.Workloads)
        {
            md.Line($"#### {w}").Line();
            md.TableHead(["setup", "slice", "path", "samples", "p50 us", "p99 us", "p99.9 us", "max us"],
                ["---", "---:", "---", "---:", "---:", "---:", "---:", "---:"]);
            foreach (var (setup, slice) in cases)
                foreach (var p in CrossRingLatencyResult.Paths)
                {
                    var m = r.Find(r.Latency, w, setup, slice, p);
                    if (m == null) { md.Row([setup, SliceName(slice), p, "skipped", "", "", "", ""]); continue; }
                    md.Row([setup, SliceName(slice), p, m["n"], m["p50_us"], m["p99_us"], m["p999_us"], m["max_us"]]);
                }
            md.Line();
        }
        md.Line(Unwrap("""
            Where the kernel path cannot help: with a `COOP_TASKRUN` or `DEFER_TASKRUN` source, a receive's or a
            timeout's completion runs as task_work of thread A, which waits until A enters the kernel (no
            interrupting IPI), exactly like a relay waits for A to reap; io-wq completions of a `COOP_TASKRUN`
            ring are posted by the io-wq worker itself and still leave at once.
            """)).Line();
    }

    static void AppendSpeedups(BenchMarkdown md, CrossRingLatencyResult r, IReadOnlyList<Row> rows)
    {
        var cases = CrossRingLatencyResult.Cases(rows).ToList();
        md.TableHead(["workload", .. cases.Select(c => $"{c.Setup}, {SliceName(c.Slice)}")],
            ["---", .. cases.Select(_ => "---:")]);
        foreach (var w in CrossRingLatencyResult.Workloads)
            md.Row([w, .. cases.Select(c => F(r.P99Speedup(rows, w, c.Setup, c.Slice)))]);
        md.Line();
    }

    static void AppendWallClock(BenchMarkdown md, CrossRingLatencyResult r)
    {
        if (r.LatencyWallClock.Count == 0) return;
        md.Heading("(c') The same in wall-clock time (TCG, 2 vCPUs, 1 s per case)");
        md.Line(Unwrap("""
            Each vCPU is a host thread here, so wake-ups across vCPUs cost host scheduling: the idle floor is
            hundreds of microseconds rather than the tens of (c), and the speed-ups shrink where the slice is not
            much longer than that floor. p99 speed-up per case:
            """)).Line();
        AppendSpeedups(md, r, r.LatencyWallClock);
        md.TableHead(["single-shot recv, default setup", "path", "samples", "p50 us", "p99 us", "p99.9 us"],
            ["---", "---", "---:", "---:", "---:", "---:"]);
        foreach (var (setup, slice) in CrossRingLatencyResult.Cases(r.LatencyWallClock).Where(c => c.Setup == "default"))
            foreach (var p in CrossRingLatencyResult.Paths)
            {
                var m = r.Find(r.LatencyWallClock, "recv", setup, slice, p);
                if (m != null) md.Row([SliceName(slice), p, m["n"], m["p50_us"], m["p99_us"], m["p999_us"]]);
            }
        md.Line();
    }

    static string SliceName(int us) => us switch
    {
        0 => "idle",
        < 1000 => $"{us} us",
        _ => $"{us / 1000} ms",
    };

    static void AppendIdle(BenchMarkdown md, CrossRingLatencyResult r)
    {
        md.Heading("(d) Waking an idle target: CPU per completion (-icount, 1 vCPU)");
        md.Line(Unwrap("""
            The idle-source cases of (c), default setup, again under -icount with one vCPU: each thread's CPU time
            is then the instructions it executed, and the threads take turns, so nothing is counted twice.
            Instructions per completion: A (source), B (target), the rest of the process (the runtime, io-wq); the
            writer thread, the same for every path, is left out.
            """)).Line();
        md.TableHead(["workload", "path", "completions", "A", "B", "rest", "total", "vs best relay",
            "sleeps per completion (A / B)", "p50 us (guest)"],
            ["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
        foreach (var w in CrossRingLatencyResult.Workloads)
        {
            var best = r.BestRelay(r.IdleIcount, w, "default", 0, CrossRingLatencyResult.Cpu);
            foreach (var p in CrossRingLatencyResult.Paths)
            {
                var m = r.Find(r.IdleIcount, w, "default", 0, p);
                if (m == null) continue;
                var cpu = CrossRingLatencyResult.Cpu(m);
                md.Row([w, p, m["n"], m["cpu_a_ns"], m["cpu_b_ns"], m["cpu_other_ns"], F(cpu, "F0"),
                    F(best == null ? null : cpu / best.Value.Value, "F3"),
                    $"{m.GetValueOrDefault("sleeps_a", "?")} / {m.GetValueOrDefault("sleeps_b", "?")}", m["p50_us"]]);
            }
        }
        md.Line();
    }

    static void AppendHandoff(BenchMarkdown md, CrossRingLatencyResult r)
    {
        md.Heading("(e) Thread-per-core handoff (patched kernel, TCG, 2 vCPUs)");
        md.Line(Unwrap("""
            An acceptor ring with a multishot accept on 127.0.0.1; each connection goes to one of two worker rings
            (round robin), which echo. kernel = the acceptor submits the connection's first recv with
            `IOSQE_CQE_TARGET` aimed at the worker; msgring = it posts the fd with `IORING_OP_MSG_RING` and the
            worker submits the recv; eventfd = it queues the fd and writes the worker's eventfd (read through the
            worker's ring). Two client threads loop: connect, one 32-byte request, its echo, close (RST); latency =
            connect to echo. Server CPU = the process's CPU time without the clients' threads.
            """)).Line();
        md.TableHead(["path", "requests", "requests/s", "p50 us", "p99 us", "p99.9 us", "max us", "server CPU ns/request"],
            ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
        foreach (var m in r.Handoff.Where(m => !m.ContainsKey("skipped")))
            md.Row([m["path"], m["n"], m["requests_per_s"], m["p50_us"], m["p99_us"], m["p999_us"], m["max_us"],
                m["server_cpu_ns"]]);
        md.Line();
    }

    /// <summary>docs/cross-ring-benchmark.json: the headline keys first, then every row as measured.</summary>
    public static string Json(CrossRingLatencyResult r, CrossRingBenchResult b)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            Number(j, "busy_source_p99_speedup", r.BusySourceP99Speedup);
            Number(j, "busy_source_p99_speedup_wall_clock", r.BusySourceP99SpeedupWallClock);
            Number(j, "cpu_per_completion_ratio", CrossRingLatencyResult.CpuPerCompletionRatio(b.DeliverIcount));
            j.WriteStartObject("idle_cpu_per_completion_ratio");
            foreach (var w in CrossRingLatencyResult.Workloads) Number(j, w, r.IdleCpuRatio(w));
            j.WriteEndObject();
            j.WriteString("date", b.Date.ToString("yyyy-MM-dd HH:mm", Inv0));
            j.WriteString("kernel", b.Patched.KernelRelease);
            j.WriteString("series", b.Patched.SeriesHash);
            j.WriteNumber("plain_nop_ratio", Math.Round(b.Ratio, 4));
            foreach (var (name, rows) in new[] { ("latency", r.Latency), ("latency_wall_clock", r.LatencyWallClock),
                ("idle_icount", r.IdleIcount), ("handoff", r.Handoff) })
            {
                j.WriteStartArray(name);
                foreach (var m in rows) WriteRow(j, m);
                j.WriteEndArray();
            }
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    static void Number(Utf8JsonWriter j, string key, double? v)
    {
        if (v == null) j.WriteNull(key);
        else j.WriteNumber(key, Math.Round(v.Value, 3));
    }

    /// <summary>A row with numbers as numbers (the CDF as an array), in the guest's field order.</summary>
    static void WriteRow(Utf8JsonWriter j, Row m)
    {
        j.WriteStartObject();
        foreach (var (k, v) in m.Where(kv => kv.Key != "part"))
        {
            if (k == "cdf_us")
            {
                j.WriteStartArray(k);
                foreach (var x in v.Split(',')) j.WriteNumberValue(double.Parse(x, Inv0));
                j.WriteEndArray();
            }
            else if (double.TryParse(v, NumberStyles.Float, Inv0, out var d)) j.WriteNumber(k, d);
            else j.WriteString(k, v);
        }
        j.WriteEndObject();
    }
}
