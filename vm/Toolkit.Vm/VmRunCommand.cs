using System.CommandLine;
using Toolkit.Kernel;

namespace Toolkit.Vm;

/// <summary>The <c>vm run</c> command: boot a kernel and run one command in it.</summary>
public static class VmRunCommand
{
    public static Command Create()
    {
        var kernel = KernelOptions.Flavour("--kernel", "Which built kernel to boot");
        var image = KernelOptions.Image();
        var timeout = VmCommandOptions.Timeout(600, "the guest command");
        var bootTimeout = new Option<int?>(
            "--boot-timeout")
        {
            Description = $"Seconds to reach init (exit {ExitCodes.BootTimeout}); default 60, " +
                $"300 for the debug kernel"
        };
        var memory = new Option<int>("--memory")
        {
            Description = "Guest memory in MiB",
            DefaultValueFactory = _ => 2048
        };
        var cpus = new Option<int>("--cpus") { Description = "Guest CPUs", DefaultValueFactory = _ => 2 };
        var icount = new Option<bool>("--icount")
        {
            Description =
            "Instruction-count mode (-icount): deterministic guest time for A/B cost measurements"
        };
        var smap = new Option<bool>("--smap")
        {
            Description =
            "Give the TCG guest SMAP (off by default: QEMU 7.2's TCG faults a user-mode IRETQ under SMAP, which .NET " +
                "executes); for commands that run no .NET"
        };
        var env = new Option<string[]>("--env",
            "-e")
        {
            Description = "Extra KEY=VALUE for the guest command's environment",
            AllowMultipleArgumentsPerToken = false
        };
        var quiet = new Option<bool>("--quiet",
            "-q")
        { Description = "Do not copy the guest console to stdout (it is always kept in console.log)" };
        var command = new Argument<string[]>("command")
        {
            Description =
            "Command and arguments to run in the guest (after --)",
            Arity = ArgumentArity.OneOrMore
        };
        var run = new Command("run",
            "Boot the kernel and run one command in the host's root (mounted read-only, with a writable overlay). " +
            $"Exit status: the command's own; {ExitCodes.VmFailure} VM failure, {ExitCodes.BootTimeout} boot timeout, " +
            $"{ExitCodes.CommandTimeout} command timeout, {ExitCodes.KernelPanic} panic/oops, {ExitCodes.KernelSplat} kernel splat, " +
            $"{ExitCodes.NoKernelImage} no kernel image, {ExitCodes.MissingDependency} missing tool.")
        {
            kernel, image, timeout, bootTimeout, memory, cpus, icount, smap, env, quiet, command,
        };
        run.SetAction(r => Guard.Run(() =>
        {
            var extra = new Dictionary<string, string>();
            foreach (var kv in r.GetValue(env) ?? [])
            {
                var i = kv.IndexOf('=');
                if (i <= 0) throw new ToolkitException(ExitCodes.Usage, $"--env wants KEY=VALUE, got '{kv}'");
                extra[kv[..i]] = kv[(i + 1)..];
            }
            var result = VmRunner.Run(new VmOptions
            {
                KernelImage = KernelOptions.ResolveImage(r.GetValue(kernel)!, r.GetValue(image)),
                Command = r.GetValue(command)!,
                Timeout = TimeSpan.FromSeconds(r.GetValue(timeout)),
                BootTimeout = r.GetValue(bootTimeout) is { } bt ? TimeSpan.FromSeconds(bt) : null,
                MemoryMiB = r.GetValue(memory),
                Cpus = r.GetValue(cpus),
                ICount = r.GetValue(icount),
                Smap = r.GetValue(smap),
                Env = extra,
                Echo = r.GetValue(quiet) ? null : Console.Out,
            });
            Console.Error.WriteLine(result.Summary());
            return result.ExitCode;
        }));
        return run;
    }
}
