using System.CommandLine;
using Toolkit.Kernel;

namespace Toolkit.Vm;

/// <summary>The <c>vm run</c> command: boot a kernel and run one command in it.</summary>
public static class VmRunCommand
{
    sealed class Options
    {
        public readonly Option<string> Base = KernelOptions.Base();
        public readonly Option<string> Kernel = KernelOptions.Flavour("--kernel", "Which built kernel to boot");
        public readonly Option<string?> Image = KernelOptions.Image();
        public readonly Option<int> Timeout = VmCommandOptions.Timeout(600, "the guest command");
        public readonly Option<int?> BootTimeout = new("--boot-timeout")
        {
            Description = $"Seconds to reach init (exit {ExitCodes.BootTimeout}); default 60, 300 for the debug kernel",
        };
        public readonly Option<int> Memory = new("--memory")
        {
            Description = "Guest memory in MiB",
            DefaultValueFactory = _ => 2048,
        };
        public readonly Option<int> Cpus = new("--cpus") { Description = "Guest CPUs", DefaultValueFactory = _ => 2 };
        public readonly Option<bool> ICount = new("--icount")
        {
            Description = "Instruction-count mode (-icount): deterministic guest time for A/B cost measurements",
        };
        public readonly Option<bool> Smap = new("--smap")
        {
            Description = "Give the TCG guest SMAP (off by default: QEMU 7.2's TCG faults a user-mode IRETQ under " +
                "SMAP, which .NET executes); for commands that run no .NET",
        };
        public readonly Option<string[]> Env = new("--env", "-e")
        {
            Description = "Extra KEY=VALUE for the guest command's environment",
            AllowMultipleArgumentsPerToken = false,
        };
        public readonly Option<string> Emulator = VmCommandOptions.Emulator();
        public readonly Option<string?> Cpu = VmCommandOptions.Cpu();
        public readonly Option<string[]> ImageFile = new("--image-file")
        {
            Description = "Bochs: a host file to build into the boot image under /toolkit (where the command runs)",
        };
        public readonly Option<bool> Quiet = new("--quiet", "-q")
        {
            Description = "Do not copy the guest console to stdout (it is always kept in console.log)",
        };
        public readonly Argument<string[]> Command = new("command")
        {
            Description = "Command and arguments to run in the guest (after --)",
            Arity = ArgumentArity.OneOrMore,
        };
    }

    public static Command Create()
    {
        var o = new Options();
        var run = new Command("run", "Boot the kernel and run one command in the host's root (mounted read-only, " +
            $"with a writable overlay). Exit status: the command's own; {ExitCodes.VmFailure} VM failure, " +
            $"{ExitCodes.BootTimeout} boot timeout, {ExitCodes.CommandTimeout} command timeout, " +
            $"{ExitCodes.KernelPanic} panic/oops, {ExitCodes.KernelSplat} kernel splat, " +
            $"{ExitCodes.NoKernelImage} no kernel image, {ExitCodes.MissingDependency} missing tool.")
        {
            o.Base, o.Kernel, o.Image, o.Timeout, o.BootTimeout, o.Memory, o.Cpus, o.ICount, o.Smap, o.Env, o.Emulator,
            o.Cpu, o.ImageFile, o.Quiet, o.Command,
        };
        run.SetAction(r => Guard.Run(() => Run(r, o)));
        return run;
    }

    static int Run(ParseResult r, Options o)
    {
        var emulator = r.GetValue(o.Emulator)!;
        if (emulator != "bochs" && (r.GetValue(o.Cpu) != null || r.GetValue(o.ImageFile) is { Length: > 0 }))
            throw new ToolkitException(ExitCodes.Usage, "--cpu and --image-file are for --emulator bochs");
        var result = VmRunner.Run(new VmOptions
        {
            KernelImage = KernelOptions.ResolveImage(r.GetValue(o.Base)!, r.GetValue(o.Kernel)!, r.GetValue(o.Image)),
            Command = r.GetValue(o.Command)!,
            Timeout = TimeSpan.FromSeconds(r.GetValue(o.Timeout)),
            BootTimeout = r.GetValue(o.BootTimeout) is { } bt ? TimeSpan.FromSeconds(bt) : null,
            Cpus = r.GetValue(o.Cpus),
            ICount = r.GetValue(o.ICount),
            Smap = r.GetValue(o.Smap),
            Env = ParseEnv(r.GetValue(o.Env) ?? []),
            Emulator = emulator,
            CpuModel = r.GetValue(o.Cpu),
            ImageFiles = (r.GetValue(o.ImageFile) ?? []).Select(Path.GetFullPath).ToList(),
            // A Bochs guest's memory is Bochs' own allocation: the QEMU default of 2 GiB is more than it needs.
            MemoryMiB = emulator == "bochs" && r.GetResult(o.Memory) is null ? 512 : r.GetValue(o.Memory),
            Echo = r.GetValue(o.Quiet) ? null : Console.Out,
        });
        Console.Error.WriteLine(result.Summary());
        return result.ExitCode;
    }

    static Dictionary<string, string> ParseEnv(IEnumerable<string> pairs)
    {
        var env = new Dictionary<string, string>();
        foreach (var kv in pairs)
        {
            var i = kv.IndexOf('=');
            if (i <= 0) throw new ToolkitException(ExitCodes.Usage, $"--env wants KEY=VALUE, got '{kv}'");
            env[kv[..i]] = kv[(i + 1)..];
        }
        return env;
    }
}
