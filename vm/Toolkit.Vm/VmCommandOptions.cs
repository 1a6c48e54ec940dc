using System.CommandLine;

namespace Toolkit.Vm;

/// <summary>Command-line options every command that boots a VM shares.</summary>
public static class VmCommandOptions
{
    public static Option<int> Timeout(int seconds, string what) => new("--timeout")
    {
        Description = $"Seconds {what} may run before QEMU is killed (exit {ExitCodes.CommandTimeout})",
        DefaultValueFactory = _ => seconds,
    };

    public static Option<string> Emulator() => new Option<string>("--emulator")
    {
        Description = "qemu, or bochs: Bochs 2.7 with a CPU model that has MONITORX/MWAITX; the guest runs from its " +
            "boot image (no host root), see vm/README.md",
        DefaultValueFactory = _ => "qemu",
    }.AcceptOnlyFromAmong("qemu", "bochs");

    public static Option<string?> Cpu() => new("--cpu")
    {
        Description = $"Bochs CPU model (default {BochsRunner.DefaultCpu}, the one with MONITORX; `bochs-bin -q --help " +
            "cpu` lists them)",
    };
}
