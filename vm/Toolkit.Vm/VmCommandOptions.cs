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
}
