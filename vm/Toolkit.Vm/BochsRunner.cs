using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Toolkit.Infra;

namespace Toolkit.Vm;

/// <summary>
/// `vm run --emulator bochs`: boots a kernel in Bochs 2.7, whose `ryzen` CPU model has MONITORX/MWAITX (QEMU's TCG
/// has neither it nor WAITPKG). Bochs has no direct kernel boot and no virtio, so the kernel and an initramfs
/// (busybox, vm/bochs/init, the job and <see cref="VmOptions.ImageFiles"/>) go onto an ISO with Debian's ISOLINUX;
/// the host root is not shared, the command runs in the initramfs. The serial console reaches the host over a TCP
/// socket (Bochs' file mode buffers it until exit); the guest's status, its dmesg and the results come back as
/// console lines. Same watchdogs, exit codes and run directory as the QEMU path (<see cref="VmRunner"/>).
/// </summary>
public static class BochsRunner
{
    public const string Bochs = "bochs-bin";
    public const string DefaultCpu = "ryzen";
    /// <summary>Guest directory the image files and the job are in; the command's working directory.</summary>
    public const string GuestDir = "/toolkit";
    /// <summary>BIOS, ISOLINUX and the kernel's own start take about a minute here (docs/vm-benchmark.md).</summary>
    public static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(600);
    /// <summary>Emulated instructions per emulated second: the TSC runs at this rate (Bochs' clock is an
    /// instruction count with clock sync=none).</summary>
    public const int Ips = 50_000_000;

    const string DmesgPrefix = "toolkit-dmesg: ";
    const string ExitPrefix = "toolkit-init: exit ";

    /// <summary>Files the boot needs, each with the Debian package that has it (exit 230 names it).</summary>
    static readonly (string Path, string Package)[] Needed =
    [
        ("/usr/share/bochs/BIOS-bochs-latest", "bochsbios"),
        ("/usr/share/vgabios/vgabios.bin", "vgabios"),
        ("/usr/lib/ISOLINUX/isolinux.bin", "isolinux"),
        ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
    ];

    public static VmResult Run(VmOptions o)
    {
        CheckTools();
        if (!File.Exists(o.KernelImage))
            throw new ToolkitException(ExitCodes.NoKernelImage,
                $"no kernel image at {o.KernelImage}: build it first with `scripts/toolkit kernel build --flavour bochs`");
        if (o.Command.Count == 0) throw new ToolkitException(ExitCodes.Usage, "no command given to run in the guest");
        var cpu = o.CpuModel ?? DefaultCpu;
        CheckCpuModel(cpu);
        foreach (var f in o.ImageFiles)
            if (!File.Exists(f)) throw new ToolkitException(ExitCodes.Usage, $"image file {f} does not exist");
        var runDir = Path.GetFullPath(o.RunDir ?? Paths.NewRunDir("vm"));
        Directory.CreateDirectory(runDir);
        File.Delete(Path.Combine(runDir, "status"));
        var iso = BochsImage.Build(o, runDir);
        using var serial = new TcpListener(IPAddress.Loopback, 0);
        serial.Start();
        var port = ((IPEndPoint)serial.LocalEndpoint).Port;
        var rc = WriteConfig(o, runDir, cpu, iso, port);
        return Boot(o, runDir, rc, serial, $"bochs {cpu}");
    }

    static void CheckTools()
    {
        if (Proc.Which(Bochs) == null)
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"{Bochs} is not installed: run scripts/install-deps (package bochs)");
        if (Proc.Which("xorriso") == null)
            throw new ToolkitException(ExitCodes.MissingDependency,
                "xorriso is not installed: run scripts/install-deps (package xorriso)");
        foreach (var (path, package) in Needed)
            if (!File.Exists(path))
                throw new ToolkitException(ExitCodes.MissingDependency,
                    $"{path} is missing: run scripts/install-deps (package {package})");
    }

    /// <summary>The CPU models this Bochs knows (`bochs-bin -q --help cpu`); an unknown one is bad usage.</summary>
    static void CheckCpuModel(string cpu)
    {
        var help = Proc.Run(Bochs, ["-q", "--help", "cpu"], timeout: TimeSpan.FromSeconds(60)).Output;
        var models = help.Split('\n').Select(l => l.Trim())
            .SkipWhile(l => !l.StartsWith("Supported CPU models", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => !l.Contains('[')).Where(l => l.Length > 0).ToList();
        if (models.Count > 0 && !models.Contains(cpu))
            throw new ToolkitException(ExitCodes.Usage,
                $"unknown Bochs CPU model '{cpu}'; this Bochs has: {string.Join(", ", models)}");
    }

    /// <summary>Writes bochsrc and the debugger's start-up commands; returns the bochsrc path.</summary>
    static string WriteConfig(VmOptions o, string runDir, string cpu, string iso, int port)
    {
        var rc = Path.Combine(runDir, "bochsrc");
        // Debian builds Bochs with its debugger, which stops before the first instruction: "c" continues.
        File.WriteAllText(Path.Combine(runDir, "bochs-debugger.rc"), "c\n");
        File.WriteAllText(rc, $"""
            # Written by `toolkit vm run --emulator bochs` (vm/README.md, "Bochs").
            megs: {o.MemoryMiB}
            cpu: model={cpu}, count={o.Cpus}, ips={Ips}, quantum=16
            romimage: file={Needed[0].Path}
            vgaromimage: file={Needed[1].Path}
            ata0-master: type=cdrom, path={iso}, status=inserted
            ata1: enabled=0
            boot: cdrom
            com1: enabled=1, mode=socket-client, dev=127.0.0.1:{port}
            # Debian's Bochs has no "nogui" display; rfb without waiting for a viewer is the quiet one (it listens on
            # 5900-5949 on all interfaces while Bochs runs: vm/README.md, "Bochs").
            display_library: rfb, options="timeout=0"
            # Guest time is the instruction count: runs do not depend on the host's load.
            clock: sync=none, time0=1
            # The speaker plugin aborts on a host without a sound card (ALSA); no sound at all.
            speaker: enabled=0
            sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
            log: {Path.Combine(runDir, "bochs.log")}
            panic: action=fatal
            error: action=report

            """.Replace("\r", ""));
        return rc;
    }

    static VmResult Boot(VmOptions o, string runDir, string rc, TcpListener serial, string emulator)
    {
        var args = new List<string> { "-q", "-f", rc, "-rc", Path.Combine(runDir, "bochs-debugger.rc") };
        File.WriteAllText(Path.Combine(runDir, "bochs-cmdline.txt"), Bochs + " " + string.Join(' ',
            args.Select(VmRunner.ShellQuote)) + "\n");
        var consoleLog = Path.Combine(runDir, "console.log");
        var console = new VmRunner.ConsoleState(o, Stopwatch.StartNew());
        using var log = new StreamWriter(consoleLog, append: false) { AutoFlush = true };
        using var p = Start(args, console);
        var reader = new Thread(() => ReadSerial(serial, p, o, console, log, runDir)) { IsBackground = true };
        reader.Start();
        var killedFor = VmRunner.Watch(p, o, console);
        serial.Stop();
        reader.Join(TimeSpan.FromSeconds(5));
        var total = console.Clock.Elapsed.TotalSeconds;
        var stderr = console.Stderr();
        if (stderr.Length > 0) File.WriteAllText(Path.Combine(runDir, "bochs-output.txt"), stderr);
        return VmRunner.Finish(o, runDir, consoleLog, emulator, console, killedFor, p.ExitCode, total);
    }

    /// <summary>Bochs' own stdout and stderr (debugger prompts, warnings) are kept apart from the guest console.</summary>
    static Process Start(List<string> args, VmRunner.ConsoleState console)
        => VmRunner.StartEmulator(Bochs, args, console, console.AddStderr);

    /// <summary>
    /// The guest's serial console, line by line: dmesg lines go to dmesg.txt, the rest to the console log and the
    /// watchdogs; init's exit line becomes the status file. Bochs powers off on init's `poweroff -f` (ACPI S5);
    /// should it not, it is stopped 30 s after the status arrived.
    /// </summary>
    static void ReadSerial(TcpListener serial, Process p, VmOptions o, VmRunner.ConsoleState console,
        StreamWriter log, string runDir)
    {
        try
        {
            using var client = serial.AcceptTcpClient();
            using var reader = new StreamReader(client.GetStream(), Encoding.Latin1);
            using var dmesg = new StreamWriter(Path.Combine(runDir, "dmesg.txt"), append: false);
            for (var line = reader.ReadLine(); line != null; line = reader.ReadLine())
            {
                line = line.TrimEnd('\r');
                if (line.StartsWith(DmesgPrefix, StringComparison.Ordinal))
                {
                    dmesg.WriteLine(line[DmesgPrefix.Length..]);
                    continue;
                }
                lock (console.Gate) log.WriteLine(line);
                console.Add(line);
                o.Echo?.WriteLine(line);
                if (line.StartsWith(ExitPrefix, StringComparison.Ordinal) &&
                    int.TryParse(line[ExitPrefix.Length..].Split(' ')[0], out var status))
                {
                    File.WriteAllText(Path.Combine(runDir, "status"), $"status={status}\n");
                    dmesg.Flush();
                    StopLater(p);
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or
                                       InvalidOperationException)
        {
            // The listener was stopped (Bochs ended or was killed): the console is complete.
        }
    }

    static void StopLater(Process p) => ThreadPool.QueueUserWorkItem(_ =>
    {
        if (p.WaitForExit(TimeSpan.FromSeconds(30))) return;
        try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    });
}
