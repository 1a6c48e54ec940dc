using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;

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
        var cold = new Option<string[]>("--cold") { Description = "Flavours to build from nothing with ccache disabled (slow: minutes each); default none", AllowMultipleArgumentsPerToken = true };
        var boots = new Option<int>("--boots") { Description = "Boots to take the median of", DefaultValueFactory = _ => 5 };
        var output = new Option<string>("--output") { Description = "Markdown report", DefaultValueFactory = _ => Path.Combine(Paths.RepoRoot, "docs", "vm-benchmark.md") };
        var cmd = new Command("vm", "Measure source unpack, kernel builds (new build directory; --cold without ccache), a warm one-file edit to result, " +
            "boot to init, guest dotnet start and a full `vm test`; write docs/vm-benchmark.md") { cold, boots, output };
        cmd.SetAction(r => Guard.Run(() => Run(r.GetValue(cold) ?? [], Math.Max(1, r.GetValue(boots)), r.GetValue(output)!)));
        return cmd;
    }

    sealed record Row(string What, string Value, string Note);

    static int Run(string[] coldFlavours, int boots, string output)
    {
        var rows = new List<Row>();
        var toolkit = Path.Combine(AppContext.BaseDirectory, "toolkit.dll");
        var loadBefore = HostLoad.OneMinute();

        // 1. Unpack + first build of the baseline in a scratch cache, ccache shared.
        var scratch = Path.Combine(Path.GetTempPath(), $"toolkit-bench-{Environment.ProcessId}");
        try
        {
            var (unpack, build) = ScratchBuild(toolkit, scratch, "baseline", ccache: true);
            rows.Add(new("source unpack (tar + git base commit)", Secs(unpack), "linux-source-6.12 tarball into a new cache"));
            rows.Add(new("kernel build, baseline, new build dir, warm ccache", Secs(build), "tinyconfig + fragments + bzImage"));
            foreach (var f in coldFlavours)
            {
                Directory.Delete(scratch, true);
                var (_, coldBuild) = ScratchBuild(toolkit, scratch, f, ccache: false);
                rows.Add(new($"kernel build, {f}, cold (ccache disabled)", Secs(coldBuild), "what a fresh machine pays"));
            }
        }
        finally
        {
            if (Directory.Exists(scratch)) Directory.Delete(scratch, true);
        }

        // 2. Warm edit: touch a file of the patched tree, rebuild, boot, run one test.
        var warm = Stopwatch.StartNew();
        KernelSource.WithPatchedTree(tree => Touch(Path.Combine(tree, "io_uring", "msg_ring.c")));
        var rebuild = Stopwatch.StartNew();
        var info = KernelBuild.Build(Flavour.Patched, Environment.ProcessorCount);
        var rebuildSecs = rebuild.Elapsed.TotalSeconds;
        var oneTest = Directory.GetFiles(Path.Combine(Paths.RepoRoot, "artifacts", "liburing-tests")).Where(f => !f.EndsWith(".d")).Order().FirstOrDefault();
        var warmRun = VmRunner.Run(new VmOptions { KernelImage = info.Image, Command = oneTest != null ? [oneTest] : ["true"], WorkDir = Paths.RepoRoot });
        rows.Add(new("warm: touch io_uring/msg_ring.c → rebuild → boot → one test", Secs(warm.Elapsed.TotalSeconds),
            $"rebuild {rebuildSecs:F1} s; test {(oneTest != null ? Path.GetFileName(oneTest) : "true")} exit {warmRun.ExitCode}; target ≤ 90 s"));

        // 3. Boot to init, median of several boots of the patched kernel.
        var bootTimes = new List<double>();
        var uptimes = new List<double>();
        for (var i = 0; i < boots; i++)
        {
            var b = VmRunner.Run(new VmOptions { KernelImage = info.Image, Command = ["true"], WorkDir = Paths.RepoRoot });
            bootTimes.Add(b.BootToInitSeconds);
            var start = File.ReadLines(b.ConsoleLog).FirstOrDefault(l => l.StartsWith("toolkit-init: start"));
            if (start != null && double.TryParse(start.Split("uptime=")[1].Split(' ')[0], CultureInfo.InvariantCulture, out var up)) uptimes.Add(up);
        }
        rows.Add(new("boot to init (host wall, QEMU start → init)", Secs(Median(bootTimes)), $"median of {boots}; min {bootTimes.Min():F2} s, max {bootTimes.Max():F2} s; target ≤ 3 s"));
        if (uptimes.Count > 0) rows.Add(new("boot to init (guest uptime at init)", Secs(Median(uptimes)), "kernel's own clock"));

        // 4. Guest dotnet start: a managed hello (the toolkit printing its version), timed inside the guest.
        var dn = VmRunner.Run(new VmOptions
        {
            KernelImage = info.Image, WorkDir = Paths.RepoRoot,
            Command = ["sh", "-c", $"a=$(date +%s%N); dotnet {toolkit} --version >/dev/null; b=$(date +%s%N); echo dotnet-ns=$((b-a)) > \"$TOOLKIT_RUN_DIR/dotnet.txt\""],
        });
        var dnFile = Path.Combine(dn.RunDir, "dotnet.txt");
        if (File.Exists(dnFile))
            rows.Add(new("guest: `dotnet toolkit.dll --version`", Secs(long.Parse(File.ReadAllText(dnFile).Trim().Split('=')[1]) / 1e9), "host's dotnet over virtio-9p, measured in the guest"));

        // 5. Full vm test on the patched kernel.
        var full = Stopwatch.StartNew();
        var report = Suites.VmTest.Run(info.Image, "all", 1800, 120, TextWriter.Null);
        rows.Add(new("full `vm test --kernel patched`", Secs(full.Elapsed.TotalSeconds),
            $"{report.Suites.Sum(s => s.Tests.Count)} tests, exit {report.ExitCode}; includes building the suites"));

        var loadAfter = HostLoad.OneMinute();
        var md = new StringBuilder();
        md.AppendLine("# VM pipeline benchmark");
        md.AppendLine();
        md.AppendLine("Written by `scripts/toolkit bench vm` (re-run it to refresh this file; `--cold baseline patched debug` adds builds with ccache disabled).");
        md.AppendLine();
        md.AppendLine($"- date (UTC): {DateTime.UtcNow:yyyy-MM-dd HH:mm}");
        md.AppendLine($"- machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB; accel {warmRun.Accel}; load average {loadBefore} before, {loadAfter} after");
        md.AppendLine($"- kernel: {info.KernelRelease} ({info.BaseVersion}, series {info.SeriesHash[..12]}, {info.SeriesPatches} patches)");
        md.AppendLine();
        md.AppendLine("| what | time | note |");
        md.AppendLine("| --- | ---: | --- |");
        foreach (var row in rows) md.AppendLine($"| {row.What} | {row.Value} | {row.Note} |");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var previous = File.Exists(output) ? File.ReadAllText(output) : "";
        var notesAt = previous.IndexOf("\n## Notes", StringComparison.Ordinal);
        var notes = notesAt >= 0 ? previous[notesAt..] : "";
        File.WriteAllText(output, md + notes);
        Console.WriteLine(md.ToString());
        Console.WriteLine($"written to {output}");
        return ExitCodes.Ok;
    }

    /// <summary>Runs `kernel build` in a child toolkit with its own cache; returns (unpack, build) seconds from its step lines.</summary>
    static (double Unpack, double Build) ScratchBuild(string toolkit, string cache, string flavour, bool ccache)
    {
        var env = new Dictionary<string, string?> { ["TOOLKIT_CACHE"] = cache };
        if (!ccache) env["CCACHE_DISABLE"] = "1";
        var marks = new Dictionary<string, double>();
        var sw = Stopwatch.StartNew();
        Progress.Step($"bench: building {flavour} in a scratch cache {cache} (ccache {(ccache ? "shared" : "disabled")})");
        var r = Proc.Run("dotnet", [toolkit, "kernel", "build", "--flavour", flavour], workDir: Paths.RepoRoot, env: env, onLine: line =>
        {
            if (line.Contains("] unpacking ")) marks["unpack"] = sw.Elapsed.TotalSeconds;
            if (line.Contains("] configuring ")) marks["configure"] = sw.Elapsed.TotalSeconds;
        });
        var total = sw.Elapsed.TotalSeconds;
        if (r.ExitCode != 0) throw new ToolkitException(ExitCodes.BuildFailed, $"bench: scratch {flavour} build failed:\n{Proc.Tail(r.Output, 20)}");
        var unpack = marks.TryGetValue("configure", out var c) ? c - marks.GetValueOrDefault("unpack") : 0;
        return (unpack, total - (marks.TryGetValue("configure", out var c2) ? c2 : 0));
    }

    static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    static string Secs(double s) => s.ToString("F2", CultureInfo.InvariantCulture) + " s";

    static bool Touch(string file)
    {
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow);
        return true;
    }
}
