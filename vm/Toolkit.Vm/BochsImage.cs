using System.Text;
using Toolkit.Infra;

namespace Toolkit.Vm;

/// <summary>
/// The Bochs boot image: an ISO with Debian's ISOLINUX, the kernel, and an initramfs holding busybox, vm/bochs/init,
/// the job script and the run's image files under /toolkit. Built into the run directory (boot.iso), so every run
/// keeps the exact image it booted.
/// </summary>
public static class BochsImage
{
    /// <summary>
    /// The kernel command line. clearcpuid=mwaitx: with MWAITX the kernel's udelay() uses it
    /// (delay_halt_mwaitx), and under Bochs 2.7 that stalled the boot before the console came up; the flag only
    /// hides the bit from the kernel, user space still sees it in CPUID. tsc=reliable: the TSC is the instruction
    /// count, there is nothing for the clocksource watchdog to catch.
    /// </summary>
    public const string KernelArgs =
        "console=ttyS0,115200 clearcpuid=mwaitx tsc=reliable panic=-1 oops=panic loglevel=5";

    public static string Build(VmOptions o, string runDir)
    {
        var stage = Path.Combine(runDir, "iso");
        if (Directory.Exists(stage)) Directory.Delete(stage, recursive: true);
        Directory.CreateDirectory(Path.Combine(stage, "isolinux"));
        File.Copy("/usr/lib/ISOLINUX/isolinux.bin", Path.Combine(stage, "isolinux", "isolinux.bin"));
        File.Copy("/usr/lib/syslinux/modules/bios/ldlinux.c32", Path.Combine(stage, "isolinux", "ldlinux.c32"));
        File.WriteAllText(Path.Combine(stage, "isolinux", "isolinux.cfg"), $"""
            SERIAL 0 115200
            DEFAULT toolkit
            PROMPT 0
            TIMEOUT 0
            LABEL toolkit
              KERNEL /vmlinuz
              INITRD /initrd.img
              APPEND {KernelArgs}

            """.Replace("\r", ""));
        File.Copy(o.KernelImage, Path.Combine(stage, "vmlinuz"));
        using (var fs = File.Create(Path.Combine(stage, "initrd.img")))
            Initramfs.Write(fs, Entries(o));
        var iso = Path.Combine(runDir, "boot.iso");
        Proc.Check("xorriso", ["-as", "mkisofs", "-quiet", "-o", iso, "-b", "isolinux/isolinux.bin",
            "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", stage],
            ExitCodes.VmFailure, "making the Bochs boot ISO", logFile: Path.Combine(runDir, "xorriso.log"));
        Directory.Delete(stage, recursive: true);
        return iso;
    }

    static List<Initramfs.Entry> Entries(VmOptions o)
    {
        var init = Path.Combine(Paths.VmDir, "bochs", "init");
        if (!File.Exists(init)) throw new ToolkitException(ExitCodes.MissingDependency, $"{init} is missing");
        var exec = Initramfs.Permissions.Mode0755;
        var guestDir = BochsRunner.GuestDir.TrimStart('/');
        var entries = new List<Initramfs.Entry>
        {
            Initramfs.Entry.Dir("bin"), Initramfs.Entry.Dir("dev"), Initramfs.Entry.Dir("proc"),
            Initramfs.Entry.Dir("sys"), Initramfs.Entry.Dir("tmp"), Initramfs.Entry.Dir(guestDir),
            Initramfs.Entry.CharDev("dev/console", 5, 1, Initramfs.Permissions.Mode0600),
            Initramfs.Entry.File("bin/busybox", File.ReadAllBytes(Initramfs.StaticBusybox()), exec),
            Initramfs.Entry.File("init", File.ReadAllBytes(init), exec),
            Initramfs.Entry.File($"{guestDir}/job.sh", Encoding.UTF8.GetBytes(Job(o)), exec),
        };
        foreach (var f in o.ImageFiles)
            entries.Add(Initramfs.Entry.File($"{guestDir}/{Path.GetFileName(f)}", File.ReadAllBytes(f), exec));
        return entries;
    }

    /// <summary>The job: the command in /toolkit with a small fixed environment (nothing of the host's exists
    /// in this guest).</summary>
    static string Job(VmOptions o)
    {
        var sb = new StringBuilder("# Written by `toolkit vm run --emulator bochs`; run by vm/bochs/init.\n");
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = $"{BochsRunner.GuestDir}:/bin",
            ["HOME"] = "/tmp",
            ["TERM"] = "dumb",
            ["TOOLKIT_GUEST"] = "1",
        };
        foreach (var (k, v) in o.Env) env[k] = v;
        foreach (var (k, v) in env) sb.AppendLine($"export {k}={VmRunner.ShellQuote(v)}");
        sb.AppendLine($"cd {BochsRunner.GuestDir} || exit 125");
        sb.AppendLine("exec " + string.Join(' ', o.Command.Select(VmRunner.ShellQuote)));
        return sb.ToString();
    }
}
