using System.Globalization;
using System.Text.Json;

using Toolkit.Bench;
using Toolkit.Kernel;

namespace Toolkit.Tests;

/// <summary>
/// The benchmark reports rendered from fixed results. The expected files in fixtures/bench are the docs/*-benchmark.md
/// reports as the benchmarks wrote them before their runners returned results (vm-benchmark.md without its
/// hand-written notes); each result below holds those reports' own numbers, so rendering must give the same bytes.
/// </summary>
public class BenchReportTests
{
    static readonly DateTime Date = new(2026, 11, 21, 5, 57, 0, DateTimeKind.Utc);

    static string Expected(string name)
        => File.ReadAllText(TestPaths.Fixture("bench", name));

    static KernelInfo Kernel(string flavour, string release, string series, int patches) =>
        new(flavour, "linux-source-6.12", "6.12.117-1~deb12u1", release, series, patches, "config", "/bzImage");

    [Test]
    public void VmReportIsTheTableOfItsRowsUnderTheMachineAndKernel()
    {
        VmBenchRow[] rows =
        [
            new("source unpack (tar + git base commit)", "25.41 s", "linux-source-6.12 tarball into a new cache"),
            new("kernel build, baseline, new build dir, warm ccache", "47.59 s", "tinyconfig + fragments + bzImage"),
            new("warm: touch io_uring/msg_ring.c → rebuild → boot → one test", "8.47 s",
                "rebuild 6.2 s; test cq-user-word exit 0; target ≤ 90 s"),
            new("boot to init (host wall, QEMU start → init)", "1.46 s",
                "median of 5; min 1.43 s, max 1.66 s; target ≤ 3 s"),
            new("boot to init (guest uptime at init)", "0.82 s", "kernel's own clock"),
            new("guest: `dotnet toolkit.dll --version`", "1.21 s",
                "host's dotnet over virtio-9p, measured in the guest"),
            new("full `vm test --kernel patched`", "41.22 s", "57 tests, exit 0; includes building the suites"),
        ];
        var result = new VmBenchResult(rows, Date, 2, 23, "tcg", "1.66", "1.79",
            Kernel("patched", "6.12.117-patched", "1dfbd15fa2b2" + new string('0', 52), 5));
        Assert.That(BenchReport.Render(result), Is.EqualTo(Expected("vm-benchmark.md")));
    }

    [Test]
    public void VmReportKeepsTheHandWrittenNotesOfThePreviousFile()
    {
        var dir = Directory.CreateTempSubdirectory("bench-report-").FullName;
        try
        {
            var path = Path.Combine(dir, "vm-benchmark.md");
            File.WriteAllText(path, "# old\n\n| a |\n\n## Notes\n\n- measured on an idle machine\n");
            BenchMarkdown.Save(path, "# new\n", keepNotes: true);
            Assert.That(File.ReadAllText(path), Is.EqualTo("# new\n\n## Notes\n\n- measured on an idle machine\n"));
            BenchMarkdown.Save(path, "# newer\n");
            Assert.That(File.ReadAllText(path), Is.EqualTo("# newer\n"), "the other reports have no notes to keep");
            Assert.That(File.Exists(path + ".tmp"), Is.False);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public void InteropReportHasOneRowPerBatchAndEverySample()
    {
        // The raw samples at the end of the report are all its numbers: medians, ratios and spread come from them.
        var samples = new Dictionary<string, Dictionary<int, List<double>>>();
        var sampleLines = Expected("interop-benchmark.md").Split('\n')
            .Where(l => l.StartsWith("- batch ", StringComparison.Ordinal));
        foreach (var line in sampleLines)
        {
            var (head, values) = (line.Split(": ")[0].Split(' '), line.Split(": ")[1]);
            var batches = samples.TryGetValue(head[3], out var b) ? b : samples[head[3]] = [];
            batches[int.Parse(head[2], CultureInfo.InvariantCulture)] =
                values.Split(", ").Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToList();
        }
        var result = new InteropBenchResult(samples, "2.9-1", "e3b0c44298fc", 1, 9, 1,
            new BenchHost("6.18.44-fc-v657", 2, "AMD EPYC", "10.0.12"));
        Assert.That(InteropBench.Render(result), Is.EqualTo(Expected("interop-benchmark.md")));
    }

    static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    static JsonElement PathRow(string path, string waiter, double notifyMedian, double notifyMean, double wakeMedian,
        double wakeP99, string word = "") => Json(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "path",
            ["path"] = path,
            ["waiter"] = waiter,
            ["notify_ns_median"] = notifyMedian,
            ["notify_ns_mean"] = notifyMean,
            ["wake_ns_median"] = wakeMedian,
            ["wake_ns_p99"] = wakeP99,
            ["word"] = word,
        }));

    static List<JsonElement> NopRows(params (int Batch, double NsPerNop)[] rows)
        => rows.Select(r => Json(FormattableString.Invariant(
            $$"""{"batch": {{r.Batch}}, "ns_per_nop": {{r.NsPerNop}}}"""))).ToList();

    [Test]
    public void CqWordReportHasBothSectionsAndTheStoreFactor()
    {
        List<JsonElement> paths =
        [
            Json("""
                {"kind": "info", "describe": "wait instruction: Pause — pause loop
                 (CPU has neither WAITPKG nor MONITORX); cpuid waitpkg=no monitorx=no"}
                """.Replace("\n ", " ")),
            PathRow("cq word store", "Pause polling the word", 130.4, 382, 1087, 66680694,
                "kernel CQ user word (IORING_FEAT_CQ_USER_WORD), on cq.tail's cache line"),
            PathRow("MSG_RING (word protocol, waiter asleep)", "io_uring_wait_cqe", 14101, 205373, 7952, 14055519),
            PathRow("eventfd write", "read(2) on the eventfd", 10085, 49116, 5639, 15666842),
            PathRow("eventfd write", "io_uring POLL_ADD on the eventfd", 13610, 83572, 7962, 16651105),
            PathRow("futex wake", "FUTEX_WAIT", 9945, 83269, 5418, 113440),
            Json("""{"kind": "tight", "n": 200000, "ns_per_notify": 4216.5}"""),
        ];
        var icount = new Dictionary<string, List<JsonElement>>
        {
            ["baseline"] = NopRows((1, 959.9), (1, 959.8), (1, 960.0), (32, 320.7), (32, 320.44), (32, 320.4)),
            ["patched"] = NopRows((1, 966.8), (1, 966.6), (1, 967.0), (32, 321.6), (32, 321.6), (32, 321.6)),
        };
        var result = new CqWordBenchResult(paths, icount, Kernel("baseline", "6.12.117-baseline", "none", 0),
            Kernel("patched", "6.12.117-patched",
                "575065e7745b617b8593255b6a0a93e4a942400749c98dd8bd27358e0426e9de", 5),
            [("paths", "tcg"), ("icount-baseline", "tcg"), ("icount-patched", "tcg")], 2000, 50000,
            new DateTime(2026, 11, 21, 2, 58, 0, DateTimeKind.Utc),
            new BenchHost("6.18.44-fc-v657", 2, "AMD EPYC", "10.0.12"));
        Assert.That(BenchReport.Render(result), Is.EqualTo(Expected("cq-word-benchmark.md")));
    }

    static Dictionary<string, string> Row(params (string Key, object Value)[] cells)
        => cells.ToDictionary(c => c.Key, c => Convert.ToString(c.Value, CultureInfo.InvariantCulture)!);

    static Dictionary<string, string> Delivery(string path, double opsPerS, double nsPerOp, int sourceSleeps,
        int targetSleeps)
        => Row(("path", path), ("n", 100000), ("ops_per_s", opsPerS), ("ns_per_op", nsPerOp),
            ("source_sleeps", sourceSleeps), ("target_sleeps", targetSleeps));

    static Dictionary<string, string> Icount(string path, double opsPerS, double nsPerOp, double cpuNsPerOp)
        => Row(("path", path), ("n", 100000), ("ops_per_s", opsPerS), ("ns_per_op", nsPerOp),
            ("cpu_ns_per_op", cpuNsPerOp));

    [Test]
    public void CrossRingReportHasEverySectionAndTheCeiling()
    {
        var result = new CrossRingBenchResult(100000,
            new Dictionary<int, double> { [1] = 939.17, [32] = 293.31 },
            new Dictionary<int, double> { [1] = 936.43, [32] = 294.12 },
            Row(("path", "nop"), ("ns_per_op", "310.0")), Row(("path", "nop"), ("ns_per_op", "310.9")),
            Row(("path", "nop-target"), ("ns_per_op", "628.7")), Row(("path", "nop-msgring"), ("ns_per_op", "1037.5")),
            ["310.2", "310.1", "310.0", "310.1", "310.1"], ["311.1", "310.9", "311.0", "311.0", "310.9"],
            [
                Delivery("kernel", 140193, 7133, 1138, 180), Delivery("relay", 51996, 19232, 341, 650),
                Delivery("eventfd", 97341, 10273, 1587, 280), Delivery("kernel-defer", 62383, 16030, 226, 1880),
                Delivery("relay-defer", 60575, 16508, 186, 1620),
            ],
            [
                Icount("kernel", 1130396, 885, 1670), Icount("relay", 189941, 5265, 1622),
                Icount("eventfd", 1475305, 678, 675),
                Icount("kernel-defer", 1228980, 814, 810), Icount("relay-defer", 178512, 5602, 2430),
            ],
            new DateTime(2026, 12, 1, 11, 26, 0, DateTimeKind.Utc), 2, "8.09",
            Kernel("baseline", "6.12.117-baseline", "none", 0),
            Kernel("patched", "6.12.117-patched", "fbb57f2d538b" + "0000", 5));
        Assert.That(BenchReport.Render(result, "plot.svg"), Is.EqualTo(Expected("cross-ring-benchmark.md")));
    }

    [Test]
    public void CrossRingReportMarksSkippedPathsAndLeavesOutTheirComparisons()
    {
        var skipped = Row(("path", "nop-target"), ("skipped", "no-feature"));
        var result = new CrossRingBenchResult(1000,
            new Dictionary<int, double> { [1] = 900, [32] = 300 },
            new Dictionary<int, double> { [1] = 900, [32] = 300 },
            Row(("path", "nop"), ("ns_per_op", "300")), Row(("path", "nop"), ("ns_per_op", "300")), skipped,
            Row(("path", "nop-msgring"), ("ns_per_op", "1000")), ["300"], ["300"],
            [Row(("path", "kernel"), ("skipped", "no-feature")), Delivery("eventfd", 1000, 1000, 1, 1)],
            [Row(("path", "kernel"), ("skipped", "no-feature")), Icount("eventfd", 1000, 900, 900)],
            Date, 2, "1.00", Kernel("baseline", "b", "none", 0), Kernel("patched", "p", "0123456789abcdef", 5));
        var md = BenchReport.Render(result, "plot.svg");
        Assert.That(md, Does.Contain("| IOSQE_CQE_TARGET | skipped | |\n"));
        Assert.That(md, Does.Contain("| kernel | skipped (no-feature) | | | | | | |\n"));
        Assert.That(md, Does.Not.Contain("Moving a completion costs"), "needs both moves");
        Assert.That(md, Does.Not.Contain("best kernel path"), "no kernel path ran");
        var ceiling = md[md.IndexOf("### How far", StringComparison.Ordinal)..];
        Assert.That(ceiling, Does.Contain("at most **3.00x**").And.Not.Contain("(a')"));
    }

    static Dictionary<string, string> Lat(string workload, string setup, int slice, string path, double p99,
        double cpuA = 100, double cpuB = 100, double cpuOther = 10)
    {
        var cdf = string.Join(",", CrossRingLatencyPlot.Percentiles.Select(p => (p99 * p / 99).ToString("F1",
            CultureInfo.InvariantCulture)));
        return Row(("part", "latency"), ("workload", workload), ("setup", setup), ("slice_us", slice), ("path", path),
            ("n", 1000), ("p50_us", p99 / 2), ("p99_us", p99), ("p999_us", p99 * 1.1), ("max_us", p99 * 1.2),
            ("cpu_a_ns", cpuA), ("cpu_b_ns", cpuB), ("cpu_writer_ns", 5), ("cpu_other_ns", cpuOther), ("cdf_us", cdf));
    }

    static readonly Dictionary<string, string>[] DeliverIcount =
    [
        Icount("kernel", 1130396, 885, 1670), Icount("relay", 189941, 5265, 1622), Icount("eventfd", 1475305, 678, 675),
        Icount("kernel-defer", 1228980, 814, 810), Icount("relay-defer", 178512, 5602, 2430),
    ];

    static CrossRingLatencyResult LatencyResult() => new(
        [
            Lat("recv", "default", 1000, "kernel", 80), Lat("recv", "default", 1000, "msgring", 1600),
            Lat("recv", "default", 1000, "eventfd", 1200), Lat("recv", "coop", 1000, "kernel", 1000),
            Lat("recv", "coop", 1000, "msgring", 1100), Lat("recv", "coop", 1000, "eventfd", 1050),
            Row(("part", "latency"), ("workload", "timeout"), ("setup", "default"), ("slice_us", 1000),
                ("path", "kernel"), ("skipped", "no-feature")),
            Lat("timeout", "default", 1000, "eventfd", 900),
        ],
        [
            Lat("recv", "default", 0, "kernel", 50, 900, 800, 100), Lat("recv", "default", 0, "msgring", 60, 1500, 700, 100),
            Lat("recv", "default", 0, "eventfd", 55, 1200, 700, 100),
        ],
        [Row(("part", "handoff"), ("path", "kernel"), ("n", 5000), ("requests_per_s", 2500), ("p50_us", 300),
            ("p99_us", 900), ("p999_us", 2000), ("max_us", 3000), ("server_cpu_ns", 40000))])
    {
        LatencyWallClock =
        [
            Lat("recv", "default", 1000, "kernel", 800), Lat("recv", "default", 1000, "msgring", 1600),
            Lat("recv", "default", 1000, "eventfd", 2000),
        ],
    };

    [Test]
    public void CrossRingLatencyHeadlinesAreBestRelayOverKernel()
    {
        var r = LatencyResult();
        // p99: best relay (eventfd, 1200) / kernel (80); CPU: kernel 1800 / best relay (eventfd, 2000).
        Assert.That(r.BusySourceP99Speedup, Is.EqualTo(15.0).Within(1e-9));
        Assert.That(r.IdleCpuRatio("recv"), Is.EqualTo(0.9).Within(1e-9));
        Assert.That(r.IdleCpuRatio("timeout"), Is.Null, "no idle rows");
        // (b'): best kernel path (kernel-defer, 810) / best relay (eventfd, 675).
        Assert.That(CrossRingLatencyResult.CpuPerCompletionRatio(DeliverIcount), Is.EqualTo(1.2).Within(1e-9));
        Assert.That(r.P99Speedup("timeout", "default", 1000), Is.Null, "the kernel path was skipped");
        Assert.That(r.P99Speedup("recv", "coop", 1000), Is.EqualTo(1.05).Within(1e-9));
        Assert.That(r.BusySourceP99SpeedupWallClock, Is.EqualTo(2.0).Within(1e-9), "msgring 1600 / kernel 800");
    }

    [Test]
    public void CrossRingLatencyJsonCarriesTheHeadlineKeysAndEveryRow()
    {
        var b = new CrossRingBenchResult(1000, new Dictionary<int, double>(), new Dictionary<int, double>(),
            Row(("path", "nop"), ("ns_per_op", "300")), Row(("path", "nop"), ("ns_per_op", "301.5")),
            Row(("path", "nop-target"), ("ns_per_op", "600")), Row(("path", "nop-msgring"), ("ns_per_op", "1000")),
            [], [], [], DeliverIcount, Date, 2, "1.00", Kernel("baseline", "b", "none", 0),
            Kernel("patched", "p", "0123456789abcdef", 5))
        { Latency = LatencyResult() };
        using var json = JsonDocument.Parse(CrossRingLatencyReport.Json(b.Latency!, b));
        var root = json.RootElement;
        Assert.That(root.GetProperty("busy_source_p99_speedup").GetDouble(), Is.EqualTo(15.0));
        Assert.That(root.GetProperty("cpu_per_completion_ratio").GetDouble(), Is.EqualTo(1.2));
        Assert.That(root.GetProperty("idle_cpu_per_completion_ratio").GetProperty("recv").GetDouble(), Is.EqualTo(0.9));
        Assert.That(root.GetProperty("plain_nop_ratio").GetDouble(), Is.EqualTo(1.005));
        Assert.That(root.GetProperty("latency").GetArrayLength(), Is.EqualTo(8));
        Assert.That(root.GetProperty("busy_source_p99_speedup_wall_clock").GetDouble(), Is.EqualTo(2.0));
        Assert.That(root.GetProperty("latency_wall_clock").GetArrayLength(), Is.EqualTo(3));
        var first = root.GetProperty("latency")[0];
        Assert.That(first.GetProperty("p99_us").GetDouble(), Is.EqualTo(80));
        Assert.That(first.GetProperty("cdf_us").GetArrayLength(), Is.EqualTo(CrossRingLatencyPlot.Percentiles.Length));
        Assert.That(root.GetProperty("handoff")[0].GetProperty("path").GetString(), Is.EqualTo("kernel"));
    }

    [Test]
    public void CrossRingLatencyPlotIsWellFormedSvgWithALinePerPathThatRan()
    {
        var svg = System.Xml.Linq.XDocument.Parse(CrossRingLatencyPlot.Svg(LatencyResult()));
        var ns = System.Xml.Linq.XNamespace.Get("http://www.w3.org/2000/svg");
        Assert.That(svg.Root!.Name, Is.EqualTo(ns + "svg"));
        // default setup has one slice (1 ms) in this result: one panel, three paths.
        Assert.That(svg.Descendants(ns + "polyline").Count(), Is.EqualTo(3));
    }

    [Test]
    public void CrossRingLatencySectionsNameTheTargetsAndSkippedCases()
    {
        var md = new BenchMarkdown();
        CrossRingLatencyReport.AppendHeadline(md, LatencyResult(), DeliverIcount);
        CrossRingLatencyReport.Append(md, LatencyResult(), "/x/cross-ring-benchmark-latency.svg");
        var text = md.ToString();
        Assert.That(text, Does.Contain("**15.00x** (target ≥ 10x); in wall-clock TCG time (c'): 2.00x"));
        Assert.That(text, Does.Contain("\n| 1 ms | msgring | 1000 | 800 | 1600 |"), "(c') rows");
        Assert.That(text, Does.Contain("**1.200** (target ≤ 1)"));
        Assert.That(text, Does.Contain("recv **0.900**, recv-multishot **n/a**"));
        Assert.That(text, Does.Contain("](cross-ring-benchmark-latency.svg)"));
        Assert.That(text, Does.Contain("| default | 1 ms | kernel | skipped |"));
        Assert.That(text, Does.Contain("| kernel | 5000 | 2500 | 300 | 900 | 2000 | 3000 | 40000 |"));
    }
}
