using System.CommandLine;
using System.Globalization;
using System.Text;
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
        var rounds = new Option<int>("--rounds") { Description = "Handoffs per wakeup path", DefaultValueFactory = _ => 3000 };
        var nops = new Option<int>("--nops") { Description = "NOPs per icount measurement", DefaultValueFactory = _ => 100_000 };
        var output = new Option<string?>("--output") { Description = "Markdown report (default docs/cq-word-benchmark.md)" };
        var cmd = new Command("cq-word", "Reserved CQ user word: notifier cost and wake latency per wakeup path (patched kernel, one VM run), " +
            "and NOP round-trip cost baseline vs patched under QEMU -icount; writes docs/cq-word-benchmark.md") { rounds, nops, output };
        cmd.SetAction(r => Guard.Run(() => Run(r.GetValue(rounds), r.GetValue(nops), r.GetValue(output))));
        return cmd;
    }

    static int Run(int rounds, int nops, string? output)
    {
        if (rounds <= 0 || nops <= 0) throw new ToolkitException(ExitCodes.Usage, "--rounds and --nops must be positive");
        var images = new Dictionary<string, string>();
        foreach (var flavour in new[] { "baseline", "patched" })
        {
            var image = KernelBuild.ImagePath(KernelBuild.ParseFlavour(flavour));
            if (!File.Exists(image)) throw new ToolkitException(ExitCodes.NoKernelImage, $"no {flavour} kernel at {image}: run `scripts/toolkit kernel build --flavour {flavour}`");
            images[flavour] = image;
        }
        var runDir = Paths.NewRunDir("bench-cq-word");
        var benchDir = Path.Combine(Paths.RepoRoot, "artifacts", "cq-word-bench");
        Progress.Step("building Bench/Wakeup.Bench");
        Proc.Check("dotnet", ["build", Path.Combine(Paths.RepoRoot, "Bench", "Wakeup.Bench", "Wakeup.Bench.csproj"), "-c", "Release", "-o", benchDir, "--nologo", "-v", "quiet", "-clp:NoSummary"],
            ExitCodes.BuildFailed, "building Bench/Wakeup.Bench", logFile: Path.Combine(runDir, "build.log"));
        var dll = Path.Combine(benchDir, "Wakeup.Bench.dll");

        var rows = new List<JsonElement>();
        var vms = new List<(string What, VmResult Vm)>();
        List<JsonElement> Guest(string what, string flavour, bool icount, params string[] args)
        {
            // Only the VM's own run directory is shared writable with the guest.
            var vmDir = Path.Combine(runDir, what);
            var file = Path.Combine(vmDir, "bench.jsonl");
            Progress.Step($"{what}: booting {flavour}{(icount ? " with -icount" : "")}");
            var vm = VmRunner.Run(new VmOptions
            {
                KernelImage = images[flavour],
                Command = ["dotnet", dll, .. args, "--out", file],
                Timeout = TimeSpan.FromMinutes(20),
                WorkDir = Paths.RepoRoot,
                RunDir = vmDir,
                ICount = icount,
                // Under -icount every guest instruction counts, also the JIT's background tier-up and OSR: compile
                // fully optimised up front so the measured loop runs the same code in every repetition.
                Env = icount ? new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0", ["DOTNET_TieredPGO"] = "0" } : new Dictionary<string, string>(),
                Cpus = 2,
                Echo = null,
            });
            vms.Add((what, vm));
            if (vm.ExitCode != 0) throw new ToolkitException(vm.ExitCode, $"{what} failed in the VM:\n{vm.Summary()}");
            var got = File.ReadLines(file).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
            foreach (var g in got) Console.WriteLine(g.GetRawText());
            return got;
        }

        Directory.CreateDirectory(runDir);
        var paths = Guest("paths", "patched", false, "notify", "--rounds", rounds.ToString(CultureInfo.InvariantCulture));
        var icount = new Dictionary<string, List<JsonElement>>();
        foreach (var flavour in new[] { "baseline", "patched" })
        {
            icount[flavour] = Guest($"icount-{flavour}", flavour, true, "nops", "--total", nops.ToString(CultureInfo.InvariantCulture), "--batch", "1,32");
        }

        var report = Report(paths, icount, images, vms, rounds, nops);
        var path = Path.GetFullPath(output ?? Path.Combine(Paths.RepoRoot, "docs", "cq-word-benchmark.md"));
        File.WriteAllText(path + ".tmp", report);
        File.Move(path + ".tmp", path, true);
        Console.Out.Write(report);
        Console.Error.WriteLine($"wrote {path}; raw results in {runDir}");
        return ExitCodes.Ok;
    }

    static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? (v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()) : "";
    static double Num(JsonElement e, string name) => e.GetProperty(name).GetDouble();

    static string Report(List<JsonElement> paths, Dictionary<string, List<JsonElement>> icount, Dictionary<string, string> images,
        List<(string What, VmResult Vm)> vms, int rounds, int nops)
    {
        var inv = CultureInfo.InvariantCulture;
        var info = paths.First(r => Str(r, "kind") == "info");
        KernelInfo? Info(string flavour) => KernelBuild.InfoOf(images[flavour]);
        var (b, p) = (Info("baseline"), Info("patched"));
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        var sb = new StringBuilder();
        sb.Append("# CQ user word: wakeup paths and CQE delivery cost\n\n");
        sb.Append("Written by `scripts/toolkit bench cq-word` (re-run it to refresh this file; raw JSON lines stay in the run directory).\n\n");
        sb.Append(inv, $"- Date (UTC): {DateTime.UtcNow:yyyy-MM-dd HH:mm}\n");
        sb.Append(inv, $"- Host: {Environment.ProcessorCount} CPUs ({model}), host kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, .NET {Environment.Version}; the machine is shared, so wall-clock numbers are noisy\n");
        sb.Append(inv, $"- Patched kernel: {p?.KernelRelease} (series {p?.SeriesHash}, {p?.SeriesPatches} patches); baseline: {b?.KernelRelease} (series {b?.SeriesHash})\n");
        sb.Append(inv, $"- VM: QEMU accel {string.Join(", ", vms.Select(v => $"{v.What}={v.Vm.Accel}").Distinct())}; 2 vCPUs\n");
        sb.Append(inv, $"- {Str(info, "describe")} (guest CPUID under QEMU TCG)\n\n");

        sb.Append("## Notifier cost and wake latency (patched kernel, one VM run, TCG)\n\n");
        sb.Append(inv, $"{rounds} handoffs per path after a warm-up. Each round: the notifier waits until the waiter is about to wait, ");
        sb.Append("lets 100 µs pass for the blocking paths (so the waiter really sleeps), takes a timestamp, notifies, takes another ");
        sb.Append("(*notify* = what the notifying thread pays), and waits for the ack; the waiter takes a timestamp when it runs again ");
        sb.Append("(*wake* = notify start to waiter running). Guest wall-clock under TCG: emulated, so absolute values are far above ");
        sb.Append("hardware; the ratios between paths are the point.\n\n");
        sb.Append("| path | waiter | notify median (ns) | notify mean (ns) | wake median (ns) | wake p99 (ns) |\n|---|---|---:|---:|---:|---:|\n");
        var pathRows = paths.Where(r => Str(r, "kind") == "path").ToList();
        foreach (var r in pathRows)
            sb.Append(inv, $"| {Str(r, "path")} | {Str(r, "waiter")} | {Num(r, "notify_ns_median"):F0} | {Num(r, "notify_ns_mean"):F0} | {Num(r, "wake_ns_median"):F0} | {Num(r, "wake_ns_p99"):F0} |\n");
        var tight = paths.FirstOrDefault(r => Str(r, "kind") == "tight");
        if (tight.ValueKind != JsonValueKind.Undefined)
            sb.Append(inv, $"\nStore path back to back (no waiter, {Num(tight, "n"):F0} calls): {Num(tight, "ns_per_notify"):F1} ns per Notify() on average ");
            sb.Append("(16-bit store + full fence + state load). This is a mean over wall-clock time and so includes every moment the vCPU thread " +
                "was preempted on the shared host (the p99 column shows how large those stalls are); the medians above are the representative figures.\n");
        var store = pathRows.First(r => Str(r, "path") == "cq word store");
        var cheapestSyscall = pathRows.Where(r => Str(r, "path") != "cq word store").Min(r => Num(r, "notify_ns_median"));
        var factor = cheapestSyscall / Math.Max(1, Num(store, "notify_ns_median"));
        sb.Append(inv, $"\nNotifier: the store path costs **{factor:F0}x less** (median) than the cheapest syscall path " +
            $"({(factor >= 10 ? "meets" : "does not meet")} the expected >= 10x). Word used: {Str(store, "word")}.\n\n");

        sb.Append("## CQE delivery cost, baseline vs patched (QEMU -icount shift=0)\n\n");
        sb.Append(inv, $"Single-threaded TCG with `-icount shift=0`: one guest nanosecond per instruction, so the numbers are instruction counts ");
        sb.Append(inv, $"of the whole round trip (C# get_sqe/prep via LiburingFast, `io_uring_submit_and_wait`, kernel NOP issue and CQE post, reap). ");
        sb.Append(inv, $"{nops} NOPs per repetition after 20000 warm-up NOPs, 3 repetitions per kernel and batch size.\n\n");
        sb.Append("| batch | baseline ns/NOP (reps) | patched ns/NOP (reps) | patched / baseline |\n|---:|---|---|---:|\n");
        foreach (var batch in new[] { 1, 32 })
        {
            double[] Vals(string f) => icount[f].Where(r => (int)Num(r, "batch") == batch).Select(r => Num(r, "ns_per_nop")).ToArray();
            var (bv, pv) = (Vals("baseline"), Vals("patched"));
            var ratio = pv.Order().ElementAt(pv.Length / 2) / bv.Order().ElementAt(bv.Length / 2);
            sb.Append(inv, $"| {batch} | {string.Join(", ", bv.Select(v => v.ToString("F1", inv)))} | {string.Join(", ", pv.Select(v => v.ToString("F1", inv)))} | {ratio:F4} |\n");
        }
        sb.Append("\nThe CQ user word series adds one `WRITE_ONCE()` at ring setup and nothing on the submission or completion path, so a ratio of ~1 is expected. ");
        sb.Append(inv, $"The patched image is whatever `kernel build --flavour patched` last built into the shared cache: here {p?.SeriesPatches} patches (series hash above), ");
        sb.Append("so when that is more than this series' two, the ratio covers the other series too. The JIT runs without tiering in these runs, so the ");
        sb.Append("repetitions differ only by what is left non-deterministic in the guest (timer interrupts).\n");
        return sb.ToString();
    }
}
