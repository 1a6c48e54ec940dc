using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Toolkit.Infra;
using Toolkit.Kernel;

namespace Toolkit.Vm;

public sealed class VmOptions
{
    public required string KernelImage { get; init; }
    /// <summary>Command and arguments, run in the host's root inside the guest.</summary>
    public required IReadOnlyList<string> Command { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Time to reach init; null: 60 s, or 300 s for a debug (KASAN + lockdep) kernel, which boots far slower
    /// under TCG.</summary>
    public TimeSpan? BootTimeout { get; init; }
    public int MemoryMiB { get; init; } = 2048;
    public int Cpus { get; init; } = 2;
    public string WorkDir { get; init; } = Environment.CurrentDirectory;
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    /// <summary>Run directory (console log, status, results); a new one under artifacts/runs when null.</summary>
    public string? RunDir { get; init; }
    /// <summary>Copy the guest console to this writer as it arrives (null: keep it in the log only).</summary>
    public TextWriter? Echo { get; init; }
    /// <summary>Deterministic instruction-count mode (QEMU -icount): guest time = instructions executed.</summary>
    public bool ICount { get; init; }
    /// <summary>
    /// Give the TCG guest SMAP. Off by default: QEMU 7.2's TCG faults user-mode IRETQ under SMAP, which the
    /// .NET runtime executes (see TcgCpu). Turn it on for runs that execute no .NET in the guest.
    /// </summary>
    public bool Smap { get; init; }
    /// <summary>
    /// When set, a guest command that prints no console line starting with <see cref="ProgressPrefix"/> for this
    /// long is killed like a timed-out one: a harness that announces every test can then be stopped when the
    /// guest has stopped making progress (kernel deadlock, unkillable test), long before the whole run's timeout.
    /// </summary>
    public TimeSpan? ProgressTimeout { get; init; }
    public string ProgressPrefix { get; init; } = "";
    /// <summary>"auto" (probe KVM by a real boot), "kvm" or "tcg".</summary>
    public string Accel { get; init; } = "auto";
    /// <summary>"qemu", or "bochs" (<see cref="BochsRunner"/>: a CPU model with MONITORX/MWAITX, no 9p).</summary>
    public string Emulator { get; init; } = "qemu";
    /// <summary>Bochs only: the CPU model (default <see cref="BochsRunner.DefaultCpu"/>).</summary>
    public string? CpuModel { get; init; }
    /// <summary>Bochs only: host files built into the boot image under /toolkit/ (the command runs there).</summary>
    public IReadOnlyList<string> ImageFiles { get; init; } = [];
}

public sealed record VmResult(int ExitCode, string Outcome, int? GuestStatus, string RunDir, string ConsoleLog,
    double BootToInitSeconds, double TotalSeconds, string Accel, string? Panic, IReadOnlyList<Splat> Splats,
    string? Kernel)
{
    /// <summary>Short human summary: the outcome line, then any splat or panic text.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"vm: {Outcome} (exit {ExitCode}); accel {Accel}; boot to init {BootToInitSeconds:F2} s; total {TotalSeconds:F1} s");
        sb.AppendLine($"vm: console log {ConsoleLog}");
        if (Panic != null) sb.AppendLine($"vm: kernel panic: {Panic}");
        foreach (var s in Splats)
        {
            sb.AppendLine($"vm: kernel {s.Kind} at console line {s.Line}:");
            foreach (var l in s.Text.Take(25)) sb.AppendLine("    " + l);
        }
        return sb.ToString().TrimEnd();
    }
}

/// <summary>
/// Boots a kernel in QEMU with the toolkit initramfs and runs one command in the guest.
/// Everything the guest prints is kept in the run directory's console.log.
/// </summary>
public static class VmRunner
{
    public const string Qemu = "qemu-system-x86_64";
    static readonly string[] PassedEnv = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "DOTNET_ROOT"];

    public static VmResult Run(VmOptions o)
    {
        if (o.Emulator == "bochs") return BochsRunner.Run(o);
        if (o.Emulator != "qemu")
            throw new ToolkitException(ExitCodes.Usage, $"unknown emulator '{o.Emulator}' (qemu or bochs)");
        if (Proc.Which(Qemu) == null)
            throw new ToolkitException(
                ExitCodes.MissingDependency, $"{Qemu} is not installed: run scripts/install-deps (package " +
                    $"qemu-system-x86)");
        if (!File.Exists(o.KernelImage))
            throw new ToolkitException(
                ExitCodes.NoKernelImage, $"no kernel image at {o.KernelImage}: build it first with `scripts/toolkit " +
                    $"kernel build`");
        if (o.Command.Count == 0) throw new ToolkitException(ExitCodes.Usage, "no command given to run in the guest");
        var initrd = Initramfs.Ensure();
        var runDir = o.RunDir ?? Paths.NewRunDir("vm");
        Directory.CreateDirectory(runDir);
        runDir = Path.GetFullPath(runDir);
        var accel = ChooseAccel(o);
        return Boot(o, runDir, initrd, accel);
    }

    static VmResult Boot(VmOptions o, string runDir, string initrd, string accel)
    {
        WriteJob(o, runDir);
        File.Delete(Path.Combine(runDir, "status"));
        File.Delete(Path.Combine(runDir, "dmesg.txt"));
        var args = QemuArgs(o, runDir, initrd, accel);
        File.WriteAllText(Path.Combine(runDir, "qemu-cmdline.txt"), Qemu + " " + string.Join(' ',
            args.Select(ShellQuote)) + "\n");
        var consoleLog = Path.Combine(runDir, "console.log");
        var console = new ConsoleState(o, Stopwatch.StartNew());
        using var log = new StreamWriter(consoleLog, append: false) { AutoFlush = true };
        using var p = StartQemu(args, o, console, log);
        var killedFor = Watch(p, o, console);
        var total = console.Clock.Elapsed.TotalSeconds;
        var stderr = console.Stderr();
        if (stderr.Length > 0) File.WriteAllText(Path.Combine(runDir, "qemu-stderr.txt"), stderr);
        return Finish(o, runDir, consoleLog, accel, console, killedFor, p.ExitCode, total);
    }

    /// <summary>
    /// What the console has shown so far, updated by QEMU's output thread and read by the watchdogs:
    /// every field is only touched under the lock.
    /// </summary>
    internal sealed class ConsoleState(VmOptions o, Stopwatch clock)
    {
        public readonly object Gate = new();
        public readonly Stopwatch Clock = clock;
        public readonly List<string> Lines = [];
        readonly StringBuilder stderr = new();
        public double BootToInit = double.NaN;
        public DateTime? ExecAt, PanicAt, ProgressAt;

        public void Add(string line)
        {
            lock (Gate)
            {
                Lines.Add(line);
                if (double.IsNaN(BootToInit) && line.StartsWith("toolkit-init: start", StringComparison.Ordinal))
                    BootToInit = Clock.Elapsed.TotalSeconds;
                if (ExecAt == null && line.StartsWith("toolkit-init: exec", StringComparison.Ordinal))
                    ExecAt = DateTime.UtcNow;
                if (PanicAt == null && line.Contains("Kernel panic - not syncing")) PanicAt = DateTime.UtcNow;
                if (o.ProgressTimeout != null && line.StartsWith(o.ProgressPrefix, StringComparison.Ordinal))
                    ProgressAt = DateTime.UtcNow;
            }
        }

        public void AddStderr(string line) { lock (Gate) stderr.AppendLine(line); }
        public string Stderr() { lock (Gate) return stderr.ToString(); }
    }

    /// <summary>Starts QEMU with its console copied line by line to the log, the state and the echo writer.</summary>
    static Process StartQemu(List<string> args, VmOptions o, ConsoleState console, StreamWriter log)
        => StartEmulator(Qemu, args, console, line =>
        {
            line = line.TrimEnd('\r');
            lock (console.Gate) log.WriteLine(line);
            console.Add(line);
            o.Echo?.WriteLine(line);
        });

    /// <summary>
    /// Starts an emulator with stdin closed, its stderr kept in the console state and each stdout line given to
    /// <paramref name="onStdout"/>; exit 240 when it cannot start.
    /// </summary>
    internal static Process StartEmulator(string program, List<string> args, ConsoleState console,
        Action<string> onStdout)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data != null) onStdout(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) console.AddStderr(e.Data); };
        try { p.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            p.Dispose();
            throw new ToolkitException(ExitCodes.VmFailure, $"cannot start {program}: {e.Message}");
        }
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>
    /// Waits for QEMU to exit; kills it when a watchdog fires: 5 s after a panic, no init within the boot
    /// timeout, the command past its timeout, or no progress line for the progress timeout. Returns which.
    /// </summary>
    internal static string? Watch(Process p, VmOptions o, ConsoleState console)
    {
        string? killedFor = null;
        var start = DateTime.UtcNow;
        var bootTimeout = EffectiveBootTimeout(o);
        while (!p.WaitForExit(100))
        {
            var now = DateTime.UtcNow;
            lock (console.Gate)
            {
                var booted = !double.IsNaN(console.BootToInit);
                if (console.PanicAt is { } pa && now - pa > TimeSpan.FromSeconds(5)) killedFor = "panic";
                else if (!booted && now - start > bootTimeout) killedFor = "boot-timeout";
                // The command's time starts when init runs it (or, before init says so, when init started):
                // never at QEMU's start, or a slow boot would eat a short timeout.
                else if (booted && now - (console.ExecAt ?? start + TimeSpan.FromSeconds(console.BootToInit))
                         > o.Timeout)
                    killedFor = "timeout";
                else if (o.ProgressTimeout is { } pt && console.ExecAt is { } exec &&
                         now - (console.ProgressAt ?? exec) > pt)
                    killedFor = "stalled";
            }
            if (killedFor == null) continue;
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            break;
        }
        p.WaitForExit();
        return killedFor;
    }

    /// <summary>Classifies the finished run (console, init's dmesg, its status); writes result.json.</summary>
    internal static VmResult Finish(VmOptions o, string runDir, string consoleLog, string accel, ConsoleState console,
        string? killedFor, int qemuExit, double total)
    {
        List<string> all;
        double bootToInit;
        lock (console.Gate) (all, bootToInit) = ([.. console.Lines], console.BootToInit);
        var dmesgFile = Path.Combine(runDir, "dmesg.txt");
        var analysis = ConsoleAnalyzer.Analyze(all);
        // dmesg (saved by init) holds messages below the console loglevel: scan it too.
        var dmesgSplats = File.Exists(dmesgFile) ? ConsoleAnalyzer.Analyze(File.ReadAllLines(dmesgFile)).Splats : [];
        var splats = analysis.Splats.Concat(dmesgSplats.Where(d => !analysis.Splats.Any(c =>
            c.Kind == d.Kind))).ToList();
        int? guestStatus = ReadStatus(Path.Combine(runDir, "status"));

        var (code, outcome) = Classify(killedFor, analysis, guestStatus, splats.Count, qemuExit, console.Stderr(), o);
        var kernelInfo = KernelBuild.InfoOf(o.KernelImage);
        var kernel = kernelInfo == null ? o.KernelImage
            : $"{kernelInfo.KernelRelease} ({kernelInfo.Flavour}, base {kernelInfo.BaseName}, {kernelInfo.BaseVersion}, " +
              $"series {kernelInfo.SeriesHash[..Math.Min(12, kernelInfo.SeriesHash.Length)]})";
        var result = new VmResult(code, outcome, guestStatus, runDir, consoleLog,
            double.IsNaN(bootToInit) ? -1 : bootToInit,
            total, accel, analysis.Panic, splats, kernel);
        File.WriteAllText(Path.Combine(runDir, "result.json"), JsonSerializer.Serialize(new
        {
            result.ExitCode,
            result.Outcome,
            result.GuestStatus,
            result.BootToInitSeconds,
            result.TotalSeconds,
            result.Accel,
            result.Panic,
            Splats = splats.Select(s => new { s.Kind, s.Line, s.Text }),
            KernelInfo = kernelInfo,
            Command = o.Command,
        }, new JsonSerializerOptions { WriteIndented = true }));
        return result;
    }

    /// <summary>Maps what happened to the documented exit codes. Pure, so it is unit-tested.</summary>
    public static (int Code, string Outcome) Classify(string? killedFor, ConsoleAnalyzer.Result a, int? guestStatus,
        int splats,
        int qemuExit, string qemuStderr, VmOptions o)
    {
        var emulator = o.Emulator == "bochs" ? "Bochs" : "QEMU";
        if (a.Panic != null || killedFor == "panic")
            return (ExitCodes.KernelPanic, $"kernel panic: {a.Panic ?? "(no message)"}");
        if (killedFor == "boot-timeout")
            return (ExitCodes.BootTimeout, $"guest did not reach init within {EffectiveBootTimeout(o).TotalSeconds:F0} s");
        if (killedFor == "timeout")
            return (ExitCodes.CommandTimeout, $"guest command timed out after {o.Timeout.TotalSeconds:F0} s");
        if (killedFor == "stalled")
            return (ExitCodes.CommandTimeout, $"guest made no progress for {o.ProgressTimeout?.TotalSeconds:F0} s (no '{o.ProgressPrefix}' line); {emulator} killed");
        if (guestStatus is { } s)
        {
            if (splats > 0) return (ExitCodes.KernelSplat, $"command exited {s} but the kernel log has {splats} splat(s)");
            return (s, s == 0 ? "command passed" : $"command exited {s}");
        }
        if (a.InitError != null) return (ExitCodes.VmFailure, $"guest init failed: {a.InitError}");
        if (!a.InitStarted) return (ExitCodes.VmFailure, $"{emulator} exited ({qemuExit}) before the guest reached init" +
            (qemuStderr.Length > 0 ? ": " + Proc.Tail(qemuStderr.Trim(), 5) : ""));
        return (ExitCodes.VmFailure, $"guest stopped without reporting a status ({emulator} exit {qemuExit})");
    }

    /// <summary>The boot timeout in force: the one given, else 60 s, 300 s for a debug (KASAN + lockdep)
    /// kernel, or <see cref="BochsRunner.BootTimeout"/> under Bochs.</summary>
    public static TimeSpan EffectiveBootTimeout(VmOptions o) => o.BootTimeout ?? (o.Emulator == "bochs"
        ? BochsRunner.BootTimeout
        : TimeSpan.FromSeconds(KernelBuild.InfoOf(o.KernelImage)?.Flavour == "debug" ? 300 : 60));

    static int? ReadStatus(string file)
    {
        if (!File.Exists(file)) return null;
        foreach (var line in File.ReadAllLines(file))
            if (line.StartsWith("status=", StringComparison.Ordinal) && int.TryParse(line[7..], out var v)) return v;
        return null;
    }

    static void WriteJob(VmOptions o, string runDir)
    {
        var sb = new StringBuilder("# Written by `toolkit vm run`; run by the guest's init in the host's root.\n");
        var env = new Dictionary<string, string>
        {
            ["DOTNET_GCHeapHardLimit"] = "0x40000000",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        };
        foreach (var k in PassedEnv)
            if (Environment.GetEnvironmentVariable(k) is { } v) env[k] = v;
        foreach (var (k, v) in o.Env) env[k] = v;
        // The guest's stdout is a serial line, not the host's terminal: no escape sequences.
        env["TERM"] = "dumb";
        env["TOOLKIT_GUEST"] = "1";
        env["TOOLKIT_RUN_DIR"] = runDir;
        foreach (var (k, v) in env.OrderBy(kv => kv.Key,
            StringComparer.Ordinal)) sb.AppendLine($"export {k}={ShellQuote(v)}");
        sb.AppendLine($"cd {ShellQuote(o.WorkDir)} || exit 125");
        sb.AppendLine("exec " + string.Join(' ', o.Command.Select(ShellQuote)));
        File.WriteAllText(Path.Combine(runDir, "job.sh"), sb.ToString());
    }

    /// <summary>
    /// The TCG CPU model. QEMU 7.2's TCG does the stack reads of a user-mode IRETQ as supervisor accesses,
    /// so with SMAP on they fault with a "supervisor read access in user mode" page fault the kernel turns
    /// into an oops. The .NET runtime restores thread contexts with IRETQ (e.g. after suspending threads for
    /// a GC), so a guest running .NET panics at random with SMAP on. Runs that execute no .NET may ask for SMAP
    /// (<see cref="VmOptions.Smap"/>, `vm run --smap`): it catches kernel code touching user memory directly.
    /// </summary>
    static string TcgCpu(VmOptions o) => o.Smap ? "max" : "max,smap=off";

    static List<string> QemuArgs(VmOptions o, string runDir, string initrd, string accel)
    {
        var args = new List<string> { "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none", "-monitor",
            "none", "-serial", "stdio" };
        if (accel == "kvm") args.AddRange(["-accel", "kvm", "-cpu", "host"]);
        else if (o.ICount) args.AddRange(["-accel", "tcg,thread=single", "-cpu", TcgCpu(o), "-icount",
            "shift=0,align=off,sleep=off"]);
        else args.AddRange(["-accel", "tcg,thread=multi", "-cpu", TcgCpu(o)]);
        args.AddRange(["-machine", "pc", "-smp", o.Cpus.ToString(), "-m", $"{o.MemoryMiB}M"]);
        args.AddRange(["-kernel", o.KernelImage, "-initrd", initrd]);
        args.AddRange([
            "-append", $"console=ttyS0 panic=-1 oops=panic loglevel=5 reboot=t {ClockArgs(accel)}{PciArgs}toolkit.job={runDir} toolkit.workdir={o.WorkDir}"]);
        args.AddRange(["-device", "virtio-serial-pci,id=vser",
            "-chardev", $"file,id=status,path={Path.Combine(runDir, "status")}",
            "-device", "virtserialport,bus=vser.0,chardev=status,name=toolkit.status"]);
        args.AddRange(["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"]);
        args.AddRange(["-virtfs", $"local,path={runDir},mount_tag=out,security_model=none,multidevs=remap"]);
        return args;
    }

    /// <summary>
    /// Under TCG, timer interrupts (hence jiffies) arrive late when the host is busy, so the clocksource
    /// watchdog wrongly marks the TSC unstable and the guest falls back to jiffies (10 ms resolution).
    /// QEMU's emulated TSC follows the host clock, so it is the better reference: trust it.
    /// </summary>
    static string ClockArgs(string accel) => accel == "kvm" ? "" : "tsc=reliable ";

    /// <summary>
    /// ACPI is enabled only as the TSC's calibration reference. PCI interrupt routing stays on the legacy
    /// PIRQ table: evaluating the _PRT AML is slow enough under TCG (and KASAN) to hit ACPICA's loop
    /// timeout, which leaves the virtio devices without interrupts and the 9p mounts hanging.
    /// </summary>
    const string PciArgs = "pci=noacpi ";

    /// <summary>
    /// KVM only counts when a real boot with it works and the guest's clocksource says kvm-clock; the
    /// answer is cached per QEMU binary and host kernel. TOOLKIT_ACCEL=kvm|tcg overrides the probe.
    /// </summary>
    static string ChooseAccel(VmOptions o)
    {
        var forced = o.Accel != "auto" ? o.Accel : Environment.GetEnvironmentVariable("TOOLKIT_ACCEL");
        if (forced is "kvm" or "tcg") return forced;
        if (!string.IsNullOrEmpty(forced)) throw new ToolkitException(
            ExitCodes.Usage, $"unknown accelerator '{forced}' (auto, kvm or tcg)");
        if (o.ICount) return "tcg";
        var qemuId = new FileInfo(Proc.Which(Qemu)!).LastWriteTimeUtc.Ticks + "-" + Environment.OSVersion.Version;
        var cache = Path.Combine(Paths.CacheRoot, "kvm-probe.txt");
        if (File.Exists(cache))
        {
            var parts = File.ReadAllText(cache).Trim().Split('|');
            if (parts.Length >= 3 && parts[0] == qemuId)
            {
                if (parts[1] == "tcg") Progress.Notice($"KVM unusable ({parts[2]}); using TCG");
                return parts[1];
            }
        }
        string verdict, reason;
        if (!File.Exists("/dev/kvm")) (verdict, reason) = ("tcg", "/dev/kvm does not exist");
        else
        {
            var probeDir = Paths.NewRunDir("kvm-probe");
            var probe = Boot(new VmOptions
            {
                KernelImage = o.KernelImage,
                Command = ["/bin/true"],
                Timeout = TimeSpan.FromSeconds(20),
                BootTimeout = TimeSpan.FromSeconds(20),
                MemoryMiB = 256,
                Cpus = 1,
                Accel = "kvm",
            }, probeDir, Initramfs.Ensure(), "kvm");
            var cs = ConsoleAnalyzer.Analyze(File.ReadAllLines(probe.ConsoleLog)).Clocksource;
            if (probe.ExitCode == 0 && cs == "kvm-clock") (verdict, reason) = ("kvm", "probe boot used kvm-clock");
            else
            {
                var qemuErr = Path.Combine(probeDir, "qemu-stderr.txt");
                var why = File.Exists(qemuErr) ? File.ReadLines(qemuErr).FirstOrDefault(l => l.Length > 0) : null;
                (verdict,
                    reason) =
                        ("tcg", $"probe boot with -accel kvm failed: {why ?? probe.Outcome}, clocksource {cs ?? "unknown"}; log {probeDir}");
            }
        }
        // One line: the notice is printed on every TCG run.
        reason = string.Join(' ', reason.Split('\n',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Replace('|', '/');
        if (reason.Length > 240) reason = reason[..240] + "...";
        File.WriteAllText(cache, $"{qemuId}|{verdict}|{reason}\n");
        if (verdict == "tcg") Progress.Notice($"KVM unusable ({reason}); using TCG");
        return verdict;
    }

    public static string ShellQuote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? s : "'"
            + s.Replace("'", "'\\''") + "'";
}
