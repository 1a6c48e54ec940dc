using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;
using static Toolkit.Bench.BenchMarkdown;

namespace Toolkit.Bench;

/// <summary>
/// `bench vm`: what the pipeline costs on this machine. Cold steps run in a throwaway cache
/// (TOOLKIT_CACHE) so the real cache is untouched; ccache is either shared (a new build directory
/// on a machine that has built before) or disabled (--cold: a first build on a fresh machine).
/// Results go to docs/vm-benchmark.md with the machine's load, since these machines are noisy.
/// </summary>
public static class VmBench
{
    public static Command Command()
    {
        var cold = new Option<string[]>("--cold")
        {
            Description =
            "Flavours to build from nothing with ccache disabled (slow: minutes each); default none",
            AllowMultipleArgumentsPerToken = true
        };
        var boots = new Option<int>("--boots")
        {
            Description = "Boots to take the median of",
            DefaultValueFactory = _ => 5
        };
        var output = BenchMarkdown.OutputOption("vm-benchmark.md");
        var kernelBase = KernelOptions.Base();
        var cmd = new Command("vm",
            "Measure source unpack, kernel builds (new build directory; --cold without ccache), a warm one-file edit " +
                "to result, " +
            "boot to init, guest dotnet start and a full `vm test`; write docs/vm-benchmark.md") { kernelBase, cold,
                boots, output };
        cmd.SetAction(r => Guard.Run(() => Run(KernelBase.Parse(r.GetValue(kernelBase)!), r.GetValue(cold) ?? [],
            Math.Max(1, r.GetValue(boots)), r.GetValue(output)!)));
        return cmd;
    }

    static int Run(KernelBase b, string[] coldFlavours, int boots, string output)
    {
        var md = BenchReport.Render(Measure(b, coldFlavours, boots));
        BenchMarkdown.Save(output, md, keepNotes: true);
        Console.WriteLine(md);
        Console.WriteLine($"written to {output}");
        return ExitCodes.Ok;
    }

    static VmBenchResult Measure(KernelBase b, string[] coldFlavours, int boots)
    {
        var toolkit = Path.Combine(AppContext.BaseDirectory, "toolkit.dll");
        var loadBefore = HostLoad.OneMinute();
        var rows = ScratchBuilds(b, toolkit, coldFlavours);
        var (info, accel, warm) = WarmEdit(b);
        rows.Add(warm);
        rows.AddRange(Boots(info, boots));
        if (GuestDotnet(info, toolkit) is { } dotnet) rows.Add(dotnet);
        rows.Add(FullVmTest(info));
        return new VmBenchResult(rows, DateTime.UtcNow, Environment.ProcessorCount,
            GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30), accel, loadBefore, HostLoad.OneMinute(), info);
    }

    /// <summary>
    /// Unpack + first build of the baseline in a scratch cache, ccache shared; then the --cold flavours.
    /// </summary>
    static List<VmBenchRow> ScratchBuilds(KernelBase b, string toolkit, string[] coldFlavours)
    {
        var rows = new List<VmBenchRow>();
        var scratch = Path.Combine(Path.GetTempPath(), $"toolkit-bench-{Environment.ProcessId}");
        try
        {
            var (unpack, build) = ScratchBuild(b, toolkit, scratch, "baseline", ccache: true);
            rows.Add(new("source unpack (tar + git base commit)", Secs(unpack),
                $"{b.Package} tarball into a new cache" +
                (b.Origin == SourceOrigin.Backports ? " (after fetching the package)" : "")));
            rows.Add(new("kernel build, baseline, new build dir, warm ccache", Secs(build),
                "tinyconfig + fragments + bzImage"));
            foreach (var f in coldFlavours)
            {
                Directory.Delete(scratch, true);
                var (_, coldBuild) = ScratchBuild(b, toolkit, scratch, f, ccache: false);
                rows.Add(new($"kernel build, {f}, cold (ccache disabled)", Secs(coldBuild),
                    "what a fresh machine pays"));
            }
        }
        finally
        {
            if (Directory.Exists(scratch)) Directory.Delete(scratch, true);
        }
        return rows;
    }

    /// <summary>Warm edit: touch a file of the patched tree, rebuild, boot, run one test.</summary>
    static (KernelInfo Info, string Accel, VmBenchRow Row) WarmEdit(KernelBase b)
    {
        // The C tests are built first (a fresh clone has none yet), outside the timed edit; the first is the test.
        var logDir = Directory.CreateTempSubdirectory("toolkit-bench-ctests-").FullName;
        var oneTest = Suites.CTests.Build(logDir, 60).Select(t => t.Path).FirstOrDefault();
        var warm = Stopwatch.StartNew();
        KernelSource.WithPatchedTree(b, tree => Touch(Path.Combine(tree, "io_uring", "msg_ring.c")));
        var rebuild = Stopwatch.StartNew();
        var info = KernelBuild.Build(b, Flavour.Patched, Environment.ProcessorCount);
        var rebuildSecs = rebuild.Elapsed.TotalSeconds;
        var warmRun = VmRunner.Run(new VmOptions
        {
            KernelImage = info.Image,
            Command = oneTest != null ? [oneTest] : ["true"],
            WorkDir = Paths.RepoRoot,
        });
        var test = oneTest != null ? Path.GetFileName(oneTest) : "true";
        return (info, warmRun.Accel, new("warm: touch io_uring/msg_ring.c → rebuild → boot → one test",
            Secs(warm.Elapsed.TotalSeconds),
            $"rebuild {rebuildSecs:F1} s; test {test} exit {warmRun.ExitCode}; target ≤ 90 s"));
    }

    /// <summary>
    /// Boot to init, median of several boots of the patched kernel: host wall and the guest's own uptime.
    /// </summary>
    static List<VmBenchRow> Boots(KernelInfo info, int boots)
    {
        var bootTimes = new List<double>();
        var uptimes = new List<double>();
        for (var i = 0; i < boots; i++)
        {
            var b = VmRunner.Run(new VmOptions
            {
                KernelImage = info.Image,
                Command = ["true"],
                WorkDir = Paths.RepoRoot
            });
            bootTimes.Add(b.BootToInitSeconds);
            var start = File.ReadLines(b.ConsoleLog).FirstOrDefault(l => l.StartsWith("toolkit-init: start"));
            if (start != null
                && double.TryParse(start.Split("uptime=")[1].Split(' ')[0], CultureInfo.InvariantCulture, out var up))
                uptimes.Add(up);
        }
        var rows = new List<VmBenchRow>
        {
            new("boot to init (host wall, QEMU start → init)", Secs(Median(bootTimes)),
                $"median of {boots}; min {bootTimes.Min():F2} s, max {bootTimes.Max():F2} s; target ≤ 3 s"),
        };
        if (uptimes.Count > 0) rows.Add(new("boot to init (guest uptime at init)", Secs(Median(uptimes)),
            "kernel's own clock"));
        return rows;
    }

    /// <summary>
    /// Guest dotnet start: a managed hello (the toolkit printing its version), timed inside the guest.
    /// </summary>
    static VmBenchRow? GuestDotnet(KernelInfo info, string toolkit)
    {
        var dn = VmRunner.Run(new VmOptions
        {
            KernelImage = info.Image,
            WorkDir = Paths.RepoRoot,
            Command = ["sh", "-c", $"a=$(date +%s%N); dotnet {toolkit} --version >/dev/null; b=$(date +%s%N); "
                + "echo dotnet-ns=$((b-a)) > \"$TOOLKIT_RUN_DIR/dotnet.txt\""],
        });
        var dnFile = Path.Combine(dn.RunDir, "dotnet.txt");
        if (!File.Exists(dnFile)) return null;
        var seconds = long.Parse(File.ReadAllText(dnFile).Trim().Split('=')[1]) / 1e9;
        return new("guest: `dotnet toolkit.dll --version`", Secs(seconds),
            "host's dotnet over virtio-9p, measured in the guest");
    }

    static VmBenchRow FullVmTest(KernelInfo info)
    {
        var full = Stopwatch.StartNew();
        var report = Suites.VmTest.Run(info.Image, "all", 1800, 120, TextWriter.Null);
        return new("full `vm test --kernel patched`", Secs(full.Elapsed.TotalSeconds),
            $"{report.Suites.Sum(s => s.Tests.Count)} tests, exit {report.ExitCode}; includes building the suites");
    }

    /// <summary>
    /// Runs `kernel build` in a child toolkit with its own cache; returns (unpack, build) seconds from its step lines.
    /// </summary>
    static (double Unpack, double Build) ScratchBuild(KernelBase b, string toolkit, string cache, string flavour,
        bool ccache)
    {
        var env = new Dictionary<string, string?> { ["TOOLKIT_CACHE"] = cache };
        if (!ccache) env["CCACHE_DISABLE"] = "1";
        var marks = new Dictionary<string, double>();
        var sw = Stopwatch.StartNew();
        Progress.Step($"bench: building {flavour} in a scratch cache {cache} (ccache {(ccache ? "shared" : "disabled")})");
        var r = Proc.Run("dotnet", [toolkit, "kernel", "build", "--base", b.Name, "--flavour", flavour],
            workDir: Paths.RepoRoot,
            env: env, onLine: line =>
        {
            if (line.Contains("] unpacking ")) marks["unpack"] = sw.Elapsed.TotalSeconds;
            if (line.Contains("] configuring ")) marks["configure"] = sw.Elapsed.TotalSeconds;
        });
        var total = sw.Elapsed.TotalSeconds;
        if (r.ExitCode != 0) throw new ToolkitException(
            ExitCodes.BuildFailed, $"bench: scratch {flavour} build failed:\n{Proc.Tail(r.Output, 20)}");
        var unpack = marks.TryGetValue("configure", out var c) ? c - marks.GetValueOrDefault("unpack") : 0;
        return (unpack, total - (marks.TryGetValue("configure", out var c2) ? c2 : 0));
    }

    static string Secs(double s) => s.ToString("F2", CultureInfo.InvariantCulture) + " s";

    static bool Touch(string file)
    {
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow);
        return true;
    }
}
