using System.CommandLine;
using System.Globalization;
using Toolkit.Infra;
using Toolkit.Liburing;
using System.Text;

namespace Toolkit.Bench;

/// <summary>
/// <c>toolkit bench interop</c>: NOP throughput of liburing from C and from C# through the bindings
/// (per-helper P/Invoke and the managed fast path), in one run, written to docs/interop-benchmark.md.
/// </summary>
public static class InteropBench
{
    public static readonly int[] BatchSizes = [1, 8, 32, 128];
    static readonly string[] Variants = ["c", "pinvoke", "fast"];

    public static Command Command()
    {
        var seconds = new Option<double>("--seconds")
        {
            Description = "Measuring time per batch size and variant.", DefaultValueFactory = _ => 1.0,
        };
        var output = new Option<string?>("--output")
        {
            Description = "Markdown report path (default docs/interop-benchmark.md).",
        };
        var repetitions = new Option<int>("--repetitions")
        {
            Description = "Runs per variant and batch size (the median is reported).", DefaultValueFactory = _ => 5,
        };
        var interop = new Command("interop",
            "NOP throughput: C# through the bindings vs C with liburing 2.9, batch sizes 1, 8, 32, 128.")
        {
            seconds, output, repetitions,
        };
        interop.SetAction(parse => Guard.Run(() =>
            Run(parse.GetValue(seconds), parse.GetValue(output), parse.GetValue(repetitions))));
        return interop;
    }

    public static int Run(double seconds, string? output, int repetitions = 5)
    {
        if (seconds <= 0 || repetitions <= 0) throw new ToolkitException(ExitCodes.Usage, "--seconds and --repetitions must be positive");
        var liburing = LiburingBuild.Ensure(log: Console.Error);
        var root = Paths.RepoRoot;
        var work = Directory.CreateTempSubdirectory("uring-bench-").FullName;
        try
        {
            var cBench = Path.Combine(work, "nop_bench");
            var gcc = Proc.Capture(Proc.Require("gcc", "build the C benchmark"), ["-O2", "-o", cBench,
                Path.Combine(root, "Bench", "IoUring.Interop.Bench", "nop_bench.c"), "-I", liburing.IncludeDir, "-L", liburing.LibDir, "-luring", $"-Wl,-rpath,{liburing.LibDir}"]);
            if (!gcc.Succeeded) throw new ToolkitException(ExitCodes.BuildFailed, $"building nop_bench.c failed:\n{gcc.StdErr}");
            var csDir = Path.Combine(work, "cs");
            var build = Proc.Capture("dotnet", ["build", Path.Combine(root, "Bench", "IoUring.Interop.Bench", "IoUring.Interop.Bench.csproj"), "-c", "Release", "-o", csDir, "-nologo", "-v", "q"]);
            if (!build.Succeeded) throw new ToolkitException(ExitCodes.BuildFailed, $"building the C# benchmark failed:\n{build.StdOut}{build.StdErr}");
            var csBench = Path.Combine(csDir, "IoUring.Interop.Bench.dll");

            // Both sides run pinned to the same CPU: with 2 cores an unpinned .NET process shares them with its
            // JIT/GC threads and migrates, which made C# look 10-25% slower than it is in trial runs.
            var cpu = Environment.ProcessorCount - 1;
            var taskset = Proc.Which("taskset");
            var env = new Dictionary<string, string> { ["IOURING_INTEROP_NATIVE_DIR"] = liburing.LibDir, ["DOTNET_NOLOGO"] = "1" };
            var samples = Variants.ToDictionary(v => v, _ => BatchSizes.ToDictionary(b => b, _ => new List<double>()));
            var secondsText = seconds.ToString(CultureInfo.InvariantCulture);
            foreach (var batch in BatchSizes)
            {
                for (var rep = 0; rep < repetitions; rep++)
                {
                    // Interleave the variants so drifts in host load hit all of them alike.
                    foreach (var variant in Variants)
                    {
                        List<string> command = variant == "c"
                            ? [cBench, batch.ToString(CultureInfo.InvariantCulture), secondsText]
                            : ["dotnet", csBench, variant, batch.ToString(CultureInfo.InvariantCulture), secondsText];
                        if (taskset is not null) command.InsertRange(0, [taskset, "-c", cpu.ToString(CultureInfo.InvariantCulture)]);
                        var run = Proc.Capture(command[0], command.Skip(1), env: env);
                        if (!run.Succeeded) throw new ToolkitException(ExitCodes.BuildFailed, $"{variant} benchmark (batch {batch}) failed: {run.StdErr}");
                        var parts = run.StdOut.Trim().Split(' ');
                        samples[variant][batch].Add(double.Parse(parts[2], CultureInfo.InvariantCulture));
                    }
                }
                Console.Error.WriteLine($"batch {batch,3}: " + string.Join("  ", Variants.Select(v => $"{v} {Median(samples[v][batch]) / 1e6:F2} M/s")));
            }
            var report = Report(samples, liburing, seconds, repetitions, taskset is not null ? cpu : null);
            var path = Path.GetFullPath(output ?? Path.Combine(root, "docs", "interop-benchmark.md"));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path + ".tmp", report);
            File.Move(path + ".tmp", path, true);
            Console.Out.Write(report);
            Console.Error.WriteLine($"wrote {path}");
            return ExitCodes.Ok;
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    static string Report(Dictionary<string, Dictionary<int, List<double>>> samples, LiburingInstall liburing, double seconds, int repetitions, int? cpu)
    {
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "unknown";
        var model = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
        var sb = new StringBuilder();
        sb.Append("# io_uring NOP throughput: C# bindings vs C (liburing)\n\n");
        sb.Append("Written by `scripts/toolkit bench interop` (re-run it to refresh this file).\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"- Host kernel {kernel}, {Environment.ProcessorCount} CPUs ({model}), .NET {Environment.Version}\n");
        sb.Append(CultureInfo.InvariantCulture, $"- liburing {liburing.Version} (Debian source, series {liburing.SeriesHash}); C built with gcc -O2\n");
        sb.Append(CultureInfo.InvariantCulture, $"- Each cell: median of {repetitions} runs of {seconds:0.##} s, variants interleaved{(cpu is null ? "" : $", every process pinned to CPU {cpu} (taskset)")}.\n");
        sb.Append("- Round: BATCH × (get_sqe + prep_nop + user_data), one `io_uring_submit_and_wait(BATCH)`, reap all CQEs.\n");
        sb.Append("- **C# P/Invoke**: every liburing helper through its liburing-ffi export. **C# fast path**: `LiburingFast` (managed get_sqe/prep/CQ peek+advance, byte-for-byte tested against the C helpers); submit stays a native call.\n\n");
        sb.Append("| batch | C (M NOPs/s) | C# P/Invoke (M NOPs/s) | P/Invoke / C | C# fast path (M NOPs/s) | fast path / C |\n");
        sb.Append("|---:|---:|---:|---:|---:|---:|\n");
        foreach (var batch in BatchSizes)
        {
            var c = Median(samples["c"][batch]);
            var p = Median(samples["pinvoke"][batch]);
            var f = Median(samples["fast"][batch]);
            sb.Append(CultureInfo.InvariantCulture, $"| {batch} | {c / 1e6:F2} | {p / 1e6:F2} | {p / c:P0} | {f / 1e6:F2} | {f / c:P0} |\n");
        }
        var c32 = Median(samples["c"][32]);
        var best32 = Math.Max(Median(samples["pinvoke"][32]), Median(samples["fast"][32]));
        sb.Append(CultureInfo.InvariantCulture, $"\nTarget (C# ≥ 95% of C at batch 32): **{(best32 >= 0.95 * c32 ? "met" : "not met")}** ({best32 / c32:P1} with the faster C# variant).\n\n");
        var c32Samples = samples["c"][32];
        var spread = (c32Samples.Max() - c32Samples.Min()) / c32;
        sb.Append(CultureInfo.InvariantCulture, $"Run-to-run spread of C alone at batch 32 on this host: {spread:P0} of its median (min {c32Samples.Min() / 1e6:F2}, max {c32Samples.Max() / 1e6:F2} M/s); ratios closer to 100 % than that are within noise.\n\n");
        sb.Append("Raw samples (NOPs/s):\n\n");
        foreach (var batch in BatchSizes)
            foreach (var v in Variants)
                sb.Append(CultureInfo.InvariantCulture, $"- batch {batch} {v}: {string.Join(", ", samples[v][batch].Select(x => x.ToString("F0", CultureInfo.InvariantCulture)))}\n");
        return sb.ToString();
    }
}
