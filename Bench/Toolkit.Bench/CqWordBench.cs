using System.CommandLine;
using System.Globalization;
using System.Text.Json;

using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;

namespace Toolkit.Bench;

/// <summary>
/// `toolkit bench cq-word`: builds Bench/Wakeup.Bench, then
/// (1) one patched-kernel VM run (TCG, 2 vCPUs) measuring, side by side, the notifier's cost and the waiter's wake
///     latency for the CQ-word store, MSG_RING, eventfd (read / io_uring poll) and futex paths;
/// (2) the same NOP round-trip workload on the baseline and the patched kernel under `-icount shift=0`, where guest
///     nanoseconds are instructions, so the A/B ratio of CQE delivery cost is deterministic.
/// Writes docs/cq-word-benchmark.md.
/// </summary>
public static class CqWordBench
{
    public static Command Command()
    {
        var rounds = new Option<int>("--rounds")
        {
            Description = "Handoffs per wakeup path",
            DefaultValueFactory = _ => 3000
        };
        var nops = new Option<int>("--nops")
        {
            Description = "NOPs per icount measurement",
            DefaultValueFactory = _ => 100_000
        };
        var output = new Option<string?>("--output")
        {
            Description =
            "Markdown report (default docs/cq-word-benchmark.md)"
        };
        var kernelBase = KernelOptions.Base();
        var cmd = new Command("cq-word",
            "Reserved CQ user word: notifier cost and wake latency per wakeup path (patched kernel, one VM run), " +
            "and NOP round-trip cost baseline vs patched under QEMU -icount; writes docs/cq-word-benchmark.md")
        {
            kernelBase, rounds, nops, output,
        };
        cmd.SetAction(r => Guard.Run(() => Run(KernelBase.Parse(r.GetValue(kernelBase)!), r.GetValue(rounds),
            r.GetValue(nops), r.GetValue(output))));
        return cmd;
    }

    static int Run(KernelBase b, int rounds, int nops, string? output)
    {
        if (rounds <= 0 || nops <= 0) throw new ToolkitException(ExitCodes.Usage,
            "--rounds and --nops must be positive");
        var images = Images(b);
        var runDir = Paths.NewRunDir("bench-cq-word");
        var report = BenchReport.Render(Measure(images, runDir, BuildBench(runDir), rounds, nops));
        var path = Path.GetFullPath(output ?? Path.Combine(Paths.RepoRoot, "docs", "cq-word-benchmark.md"));
        BenchMarkdown.Save(path, report);
        Console.Out.Write(report);
        Console.Error.WriteLine($"wrote {path}; raw results in {runDir}");
        return ExitCodes.Ok;
    }

    /// <summary>The cached baseline and patched images; this bench never builds a kernel.</summary>
    static Dictionary<string, string> Images(KernelBase b)
    {
        var images = new Dictionary<string, string>();
        foreach (var flavour in new[] { "baseline", "patched" })
        {
            var image = KernelBuild.ImagePath(b, KernelBuild.ParseFlavour(flavour));
            if (!File.Exists(image))
                throw new ToolkitException(ExitCodes.NoKernelImage,
                    $"no {flavour} kernel at {image}: run `scripts/toolkit kernel build --base {b.Name} " +
                    $"--flavour {flavour}`");
            images[flavour] = image;
        }
        return images;
    }

    /// <summary>Builds Bench/Wakeup.Bench into artifacts/; returns its dll.</summary>
    static string BuildBench(string runDir)
    {
        var benchDir = Path.Combine(Paths.RepoRoot, "artifacts", "cq-word-bench");
        Progress.Step("building Bench/Wakeup.Bench");
        var project = Path.Combine(Paths.RepoRoot, "Bench", "Wakeup.Bench", "Wakeup.Bench.csproj");
        Proc.Check("dotnet",
            ["build", project, "-c", "Release", "-o", benchDir, "--nologo", "-v", "quiet", "-clp:NoSummary"],
            ExitCodes.BuildFailed, "building Bench/Wakeup.Bench", logFile: Path.Combine(runDir, "build.log"));
        return Path.Combine(benchDir, "Wakeup.Bench.dll");
    }

    static CqWordBenchResult Measure(Dictionary<string, string> images, string runDir, string dll, int rounds, int nops)
    {
        var vms = new List<(string What, VmResult Vm)>();
        List<JsonElement> Guest(string what, string flavour, bool icount, params string[] args)
        {
            var (vm, rows) = RunGuest(images[flavour], runDir, dll, what, flavour, icount, args);
            vms.Add((what, vm));
            return rows;
        }

        Directory.CreateDirectory(runDir);
        var paths = Guest("paths", "patched", false, "notify", "--rounds",
            rounds.ToString(CultureInfo.InvariantCulture));
        var icount = new Dictionary<string, List<JsonElement>>();
        foreach (var flavour in new[] { "baseline", "patched" })
            icount[flavour] = Guest($"icount-{flavour}", flavour, true, "nops", "--total",
                nops.ToString(CultureInfo.InvariantCulture), "--batch", "1,32");

        KernelInfo? Info(string flavour) => KernelBuild.InfoOf(images[flavour]);
        return new CqWordBenchResult(paths, icount, Info("baseline"), Info("patched"),
            vms.Select(v => (v.What, v.Vm.Accel)).ToList(), rounds, nops, DateTime.UtcNow, BenchHost.Current());
    }

    /// <summary>
    /// One VM run of the bench program; returns the VM's result and the JSON lines the program wrote.
    /// </summary>
    static (VmResult Vm, List<JsonElement> Rows) RunGuest(string image, string runDir, string dll, string what,
        string flavour, bool icount, string[] args)
    {
        // Only the VM's own run directory is shared writable with the guest.
        var vmDir = Path.Combine(runDir, what);
        var file = Path.Combine(vmDir, "bench.jsonl");
        Progress.Step($"{what}: booting {flavour}{(icount ? " with -icount" : "")}");
        var vm = VmRunner.Run(new VmOptions
        {
            KernelImage = image,
            Command = ["dotnet", dll, .. args, "--out", file],
            Timeout = TimeSpan.FromMinutes(20),
            WorkDir = Paths.RepoRoot,
            RunDir = vmDir,
            ICount = icount,
            // Under -icount every guest instruction counts, also the JIT's background tier-up and OSR: compile
            // fully optimised up front so the measured loop runs the same code in every repetition.
            Env = icount
                ? new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0", ["DOTNET_TieredPGO"] = "0" }
                : new Dictionary<string, string>(),
            Cpus = 2,
            Echo = null,
        });
        if (vm.ExitCode != 0) throw new ToolkitException(vm.ExitCode, $"{what} failed in the VM:\n{vm.Summary()}");
        var got = File.ReadLines(file).Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        foreach (var g in got) Console.WriteLine(g.GetRawText());
        return (vm, got);
    }
}
