using System.CommandLine;
using System.Globalization;
using Toolkit.Infra;
using Toolkit.Liburing;
using static Toolkit.Bench.BenchMarkdown;

namespace Toolkit.Bench;

/// <summary>The machine a benchmark ran on, as its report states it.</summary>
public sealed record BenchHost(string Kernel, int Cpus, string CpuModel, string DotnetVersion)
{
    public static BenchHost Current()
        => new(HostKernel(), Environment.ProcessorCount, BenchMarkdown.CpuModel(), Environment.Version.ToString());
}

/// <summary>
/// One <c>bench interop</c> run: NOPs/s samples per variant ("c", "pinvoke", "fast", "managed", "managed-aot") and
/// batch size, how they were taken (run length, repetitions, the CPU every process was pinned to, if any), and the
/// echo servers' samples.
/// </summary>
public sealed record InteropBenchResult(
    IReadOnlyDictionary<string, Dictionary<int, List<double>>> Samples, string LiburingVersion, string LiburingSeries,
    double Seconds, int Repetitions, int? PinnedCpu, BenchHost Host, EchoBenchResult? Echo = null);

/// <summary>
/// <c>toolkit bench interop</c>: NOP throughput of liburing from C and from C# through the bindings
/// (per-helper P/Invoke and the managed fast path), in one run, written to docs/interop-benchmark.md.
/// </summary>
public static class InteropBench
{
    public static readonly int[] BatchSizes = [1, 8, 32, 128];
    static readonly string[] Variants = ["c", "pinvoke", "fast", "managed", "managed-aot"];

    public static Command Command()
    {
        var seconds = new Option<double>("--seconds")
        {
            Description = "Measuring time per batch size and variant.",
            DefaultValueFactory = _ => 1.0,
        };
        var output = new Option<string?>("--output")
        {
            Description = "Markdown report path (default docs/interop-benchmark.md).",
        };
        var repetitions = new Option<int>("--repetitions")
        {
            Description = "Runs per variant and batch size (the median is reported).",
            DefaultValueFactory = _ => 5,
        };
        var echoSeconds = new Option<double>("--echo-seconds")
        {
            Description = "Client run per echo sample (0: skip the echo servers).",
            DefaultValueFactory = _ => 3.0,
        };
        var interop = new Command("interop",
            "NOP throughput: C# through the bindings and the managed layer (JIT and NativeAOT) vs C with liburing " +
            "2.15, batch sizes 1, 8, 32, 128; then the echo sample's io_uring server vs its System.Net.Sockets twin.")
        {
            seconds, output, repetitions, echoSeconds,
        };
        interop.SetAction(parse => Guard.Run(() =>
            Run(parse.GetValue(seconds), parse.GetValue(output), parse.GetValue(repetitions),
                parse.GetValue(echoSeconds))));
        return interop;
    }

    public static int Run(double seconds, string? output, int repetitions = 5, double echoSeconds = 3)
    {
        if (seconds <= 0 || repetitions <= 0 || echoSeconds < 0)
            throw new ToolkitException(ExitCodes.Usage,
                "--seconds and --repetitions must be positive, --echo-seconds not negative");
        var report = Render(Measure(seconds, repetitions, echoSeconds));
        var path = Path.GetFullPath(output ?? Path.Combine(Paths.RepoRoot, "docs", "interop-benchmark.md"));
        Save(path, report);
        Console.Out.Write(report);
        Console.Error.WriteLine($"wrote {path}");
        return ExitCodes.Ok;
    }

    /// <summary>Builds both programs in a scratch directory and takes every sample.</summary>
    public static InteropBenchResult Measure(double seconds, int repetitions, double echoSeconds = 0)
    {
        var liburing = LiburingBuild.Ensure(log: Console.Error);
        var work = Directory.CreateTempSubdirectory("uring-bench-").FullName;
        try
        {
            var (cBench, csBench, aotBench) = BuildPrograms(liburing, work);
            // Both sides run pinned to the same CPU: with 2 cores an unpinned .NET process shares them with its
            // JIT/GC threads and migrates, which made C# look 10-25% slower than it is in trial runs.
            var cpu = Environment.ProcessorCount - 1;
            var taskset = Proc.Which("taskset");
            var env = new Dictionary<string, string>
            {
                ["IOURING_INTEROP_NATIVE_DIR"] = liburing.LibDir,
                ["DOTNET_NOLOGO"] = "1",
            };
            var samples = Variants.ToDictionary(v => v, _ => BatchSizes.ToDictionary(b => b, _ => new List<double>()));
            var secondsText = seconds.ToString(CultureInfo.InvariantCulture);
            foreach (var batch in BatchSizes)
            {
                for (var rep = 0; rep < repetitions; rep++)
                {
                    // Interleave the variants so drifts in host load hit all of them alike.
                    foreach (var variant in Variants)
                    {
                        var batchText = batch.ToString(CultureInfo.InvariantCulture);
                        List<string> command = variant switch
                        {
                            "c" => [cBench, batchText, secondsText],
                            "managed-aot" => [aotBench, "managed", batchText, secondsText],
                            _ => ["dotnet", csBench, variant, batchText, secondsText],
                        };
                        if (taskset is not null)
                            command.InsertRange(0, [taskset, "-c", cpu.ToString(CultureInfo.InvariantCulture)]);
                        samples[variant][batch].Add(NopsPerSecond(command, env, variant, batch));
                    }
                }
                Console.Error.WriteLine($"batch {batch,3}: "
                    + string.Join("  ", Variants.Select(v => $"{v} {Median(samples[v][batch]) / 1e6:F2} M/s")));
            }
            // The echo servers are measured with three runs each (they take seconds per sample, not one).
            var echo = echoSeconds > 0 ? EchoBench.Measure(work, env, echoSeconds, Math.Min(repetitions, 3)) : null;
            return new InteropBenchResult(samples, liburing.Version, liburing.SeriesHash, seconds, repetitions,
                taskset is not null ? cpu : null, BenchHost.Current(), echo);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    /// <summary>nop_bench.c with gcc against the built liburing, and Bench/IoUring.Interop.Bench with dotnet
    /// build and with a NativeAOT publish.</summary>
    static (string C, string CSharp, string Aot) BuildPrograms(LiburingInstall liburing, string work)
    {
        var root = Paths.RepoRoot;
        var cBench = Path.Combine(work, "nop_bench");
        var gcc = Proc.Capture(Proc.Require("gcc", "build the C benchmark"), ["-O2", "-o", cBench,
            Path.Combine(root, "Bench", "IoUring.Interop.Bench", "nop_bench.c"), "-I", liburing.IncludeDir, "-L",
                liburing.LibDir,
            "-luring", $"-Wl,-rpath,{liburing.LibDir}"]);
        if (!gcc.Succeeded) throw new ToolkitException(ExitCodes.BuildFailed,
                $"building nop_bench.c failed:\n{gcc.StdErr}");
        var csDir = Path.Combine(work, "cs");
        var project = Path.Combine(root, "Bench", "IoUring.Interop.Bench", "IoUring.Interop.Bench.csproj");
        var build = Proc.Capture("dotnet", ["build", project, "-c", "Release", "-o", csDir, "-nologo", "-v", "q"]);
        if (!build.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"building the C# benchmark failed:\n{build.StdOut}{build.StdErr}");
        var aotDir = Path.Combine(work, "aot");
        var publish = Proc.Capture("dotnet", ["publish", project, "-c", "Release", "-p:PublishAot=true", "-o", aotDir,
            "-nologo", "-v", "q"]);
        if (!publish.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"publishing the C# benchmark with NativeAOT failed:\n{publish.StdOut}{publish.StdErr}");
        return (cBench, Path.Combine(csDir, "IoUring.Interop.Bench.dll"),
            Path.Combine(aotDir, "IoUring.Interop.Bench"));
    }

    /// <summary>One run of a benchmark program; its output is "... ... NOPS_PER_SECOND".</summary>
    static double NopsPerSecond(List<string> command, Dictionary<string, string> env, string variant, int batch)
    {
        var run = Proc.Capture(command[0], command.Skip(1), env: env);
        if (!run.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"{variant} benchmark (batch {batch}) failed: {run.StdErr}");
        return double.Parse(run.StdOut.Trim().Split(' ')[2], CultureInfo.InvariantCulture);
    }

    /// <summary>docs/interop-benchmark.md for one run.</summary>
    public static string Render(InteropBenchResult r)
    {
        var pinned = r.PinnedCpu is null ? "" : $", every process pinned to CPU {r.PinnedCpu} (taskset)";
        var md = new BenchMarkdown().Head("io_uring NOP throughput: C# bindings vs C (liburing)",
            "Written by `scripts/toolkit bench interop` (re-run it to refresh this file).",
        [
            Inv($"Host kernel {r.Host.Kernel}, {r.Host.Cpus} CPUs ({r.Host.CpuModel}), .NET {r.Host.DotnetVersion}"),
            Inv($"liburing {r.LiburingVersion} (Debian source, series {r.LiburingSeries}); C built with gcc -O2"),
            Inv($"Each cell: median of {r.Repetitions} runs of {r.Seconds:0.##} s, variants interleaved{pinned}."),
            "Round: BATCH × (get_sqe + prep_nop + user_data), one `io_uring_submit_and_wait(BATCH)`, reap all CQEs.",
            "**C# P/Invoke**: every liburing helper through its liburing-ffi export. **C# fast path**: `LiburingFast` "
            + "(managed get_sqe/prep/CQ peek+advance, byte-for-byte tested against the C helpers); "
            + "submit stays a native call.",
            .. Managed(r) ? [ManagedNote] : Array.Empty<string>(),
        ]);
        NopTable(md, r);
        var c32Samples = r.Samples["c"][32];
        var c32 = Median(c32Samples);
        var best32 = Math.Max(Median(r.Samples["pinvoke"][32]), Median(r.Samples["fast"][32]));
        md.Line().Line(Inv($"Target (C# ≥ 95% of C at batch 32): **{(best32 >= 0.95 * c32 ? "met" : "not met")}** ")
            + Inv($"({best32 / c32:P1} with the faster C# variant).")).Line();
        if (Managed(r))
        {
            var jit = Median(r.Samples["managed"][32]) / c32;
            var aot = Median(r.Samples["managed-aot"][32]) / c32;
            md.Line(Inv($"Target (managed layer ≥ 95% of C at batch 32): ")
                + Inv($"JIT **{(jit >= 0.95 ? "met" : "not met")}** ")
                + Inv($"({jit:P1}), NativeAOT **{(aot >= 0.95 ? "met" : "not met")}** ({aot:P1}).")).Line();
        }
        var spread = (c32Samples.Max() - c32Samples.Min()) / c32;
        md.Line(Inv($"Run-to-run spread of C alone at batch 32 on this host: {spread:P0} of its median ")
            + Inv($"(min {c32Samples.Min() / 1e6:F2}, max {c32Samples.Max() / 1e6:F2} M/s); ")
            + "ratios closer to 100 % than that are within noise.").Line();
        md.Line("Raw samples (NOPs/s):").Line();
        foreach (var batch in BatchSizes)
            foreach (var v in Variants.Where(r.Samples.ContainsKey))
                md.Bullet(Inv($"batch {batch} {v}: ")
                    + string.Join(", ", r.Samples[v][batch].Select(x => Inv($"{x:F0}"))));
        if (r.Echo is not null)
        {
            md.Line();
            EchoBench.Render(md, r.Echo);
        }
        return md.ToString();
    }

    static bool Managed(InteropBenchResult r) => r.Samples.ContainsKey("managed");

    const string ManagedNote = "**managed**: the managed layer (`Ring.GetSqe().Nop`, `SubmitAndWait`, `foreach` over "
        + "`Ring.Completions()`), JIT; **managed AOT**: the same program published with NativeAOT.";

    static void NopTable(BenchMarkdown md, InteropBenchResult r)
    {
        var managed = Managed(r);
        md.TableHead(
            ["batch", "C (M NOPs/s)", "C# P/Invoke (M NOPs/s)", "P/Invoke / C", "C# fast path (M NOPs/s)",
                "fast path / C", .. managed ? new[] { "managed (M NOPs/s)", "managed / C", "managed AOT (M NOPs/s)",
                    "AOT / C" } : []],
            [.. Enumerable.Repeat("---:", managed ? 10 : 6)], compactSeparators: true);
        foreach (var batch in BatchSizes)
        {
            var c = Median(r.Samples["c"][batch]);
            var cells = new List<string> { Inv($"{batch}"), Inv($"{c / 1e6:F2}") };
            foreach (var v in Variants.Skip(1).Where(r.Samples.ContainsKey))
            {
                var x = Median(r.Samples[v][batch]);
                cells.AddRange([Inv($"{x / 1e6:F2}"), Inv($"{x / c:P0}")]);
            }
            md.Row(cells);
        }
    }
}
