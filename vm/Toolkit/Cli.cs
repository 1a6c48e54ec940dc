using System.CommandLine;
using Toolkit.Kernel;
using Toolkit.Vm;

namespace Toolkit;

/// <summary>Builds the command tree. Each area contributes its own subcommand.</summary>
public static class Cli
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("io_uring kernel-patch companion toolkit: build and boot patched kernels, run the suites, generate bindings.");
        root.Add(KernelCommand());
        root.Add(VmCommand());
        root.Add(Suites.GuestCommand.Create());
        root.Add(Suites.LiburingSuite.Command());
        root.Add(Suites.Reliability.Command());
        root.Add(Suites.ReliabilityGuest.Command());
        root.Add(new Command("report", "Result files") { Reports.Totals.Command() });
        root.Add(Review.ReviewCommand.Create());
        IoUring.Interop.Generator.InteropCommands.AddTo(root); // bindings, liburing, bench interop
        Bench(root).Add(Toolkit.Bench.CqWordBench.Command());
        // Each area adds its benchmark under the one `bench` command: Bench(root).Add(...).
        Bench(root).Add(Toolkit.Bench.VmBench.Command());
        Bench(root).Add(Toolkit.Bench.CrossRingBench.Command());
        IoUring.Interop.Generator.RepoPaths.DefaultKernelTreeProvider = Kernel.KernelSource.CurrentPatchedTree;
        try
        {
            var parsed = root.Parse(args);
            // Bad usage is exit 2 (vm/README.md), with the parser's own message; System.CommandLine would print the help and exit 1.
            if (parsed.Errors.Count > 0)
            {
                foreach (var e in parsed.Errors) Console.Error.WriteLine($"toolkit: {e.Message}");
                Console.Error.WriteLine($"toolkit: see `{CommandPath(parsed)} --help`");
                return ExitCodes.Usage;
            }
            return parsed.Invoke();
        }
        catch (ToolkitException e)
        {
            Console.Error.WriteLine($"toolkit: {e.Message}");
            return e.ExitCode;
        }
    }

    /// <summary>How the parsed command is typed: "scripts/toolkit vm test".</summary>
    static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var r = (System.CommandLine.Parsing.SymbolResult?)parsed.CommandResult; r != null; r = r.Parent)
            if (r is System.CommandLine.Parsing.CommandResult c) names.Add(c.Command.Name);
        names.Reverse();
        names[0] = "scripts/toolkit";
        return string.Join(' ', names);
    }

    /// <summary>The `bench` command (created by the interop commands); every benchmark is a subcommand of it.</summary>
    internal static Command Bench(RootCommand root) => root.Subcommands.Single(c => c.Name == "bench");

    /// <summary>Runs an action, turning toolkit errors into their message and exit code.</summary>
    public static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (ToolkitException e)
        {
            Console.Error.WriteLine($"toolkit: {e.Message}");
            return e.ExitCode;
        }
    }

    internal static Option<string> FlavourOption(string name, string description, string defaultFlavour = "patched") => new(name)
    {
        Description = description + " (baseline, patched or debug)",
        DefaultValueFactory = _ => defaultFlavour,
        CustomParser = r =>
        {
            var v = r.Tokens.Count > 0 ? r.Tokens[0].Value : defaultFlavour;
            if (v is not ("baseline" or "patched" or "debug")) r.AddError($"unknown kernel flavour '{v}' (baseline, patched or debug)");
            return v;
        },
    };

    static Command KernelCommand()
    {
        var flavour = FlavourOption("--flavour", "Which kernel to build");
        var jobs = new Option<int>("--jobs", "-j") { Description = "Parallel compile jobs", DefaultValueFactory = _ => Environment.ProcessorCount };
        var build = new Command("build", "Unpack Debian's linux-source-6.12 once, apply kernel-patches/series (patched, debug), configure " +
            "(tinyconfig + vm/config fragments, dropped options are errors) and build bzImage out of tree with ccache.")
        {
            flavour, jobs,
        };
        build.SetAction(r => Guard(() =>
        {
            var info = KernelBuild.Build(KernelBuild.ParseFlavour(r.GetValue(flavour)!), Math.Max(1, r.GetValue(jobs)));
            Console.WriteLine(info.Image);
            return ExitCodes.Ok;
        }));
        return new Command("kernel", "Kernel source and builds") { build };
    }

    static Command VmCommand()
    {
        var cmd = new Command("vm", "Boot a built kernel in QEMU and run commands or the suites inside it");
        cmd.Add(VmRunCommand());
        cmd.Add(Suites.VmTest.Command());
        return cmd;
    }

    internal static Option<string?> KernelImageOption() => new("--kernel-image")
    {
        Description = "Boot this bzImage instead of a flavour's build (e.g. a reviewer's own kernel)",
    };

    internal static Option<int> TimeoutOption(int seconds, string what) => new("--timeout")
    {
        Description = $"Seconds {what} may run before QEMU is killed (exit {ExitCodes.CommandTimeout})",
        DefaultValueFactory = _ => seconds,
    };

    internal static string ResolveImage(string flavour, string? image) =>
        image != null ? Path.GetFullPath(image) : KernelBuild.ImagePath(KernelBuild.ParseFlavour(flavour));

    static Command VmRunCommand()
    {
        var kernel = FlavourOption("--kernel", "Which built kernel to boot");
        var image = KernelImageOption();
        var timeout = TimeoutOption(600, "the guest command");
        var bootTimeout = new Option<int?>("--boot-timeout") { Description = $"Seconds to reach init (exit {ExitCodes.BootTimeout}); default 60, 300 for the debug kernel" };
        var memory = new Option<int>("--memory") { Description = "Guest memory in MiB", DefaultValueFactory = _ => 2048 };
        var cpus = new Option<int>("--cpus") { Description = "Guest CPUs", DefaultValueFactory = _ => 2 };
        var icount = new Option<bool>("--icount") { Description = "Instruction-count mode (-icount): deterministic guest time for A/B cost measurements" };
        var smap = new Option<bool>("--smap") { Description = "Give the TCG guest SMAP (off by default: QEMU 7.2's TCG faults a user-mode IRETQ under SMAP, which .NET executes); for commands that run no .NET" };
        var env = new Option<string[]>("--env", "-e") { Description = "Extra KEY=VALUE for the guest command's environment", AllowMultipleArgumentsPerToken = false };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Do not copy the guest console to stdout (it is always kept in console.log)" };
        var command = new Argument<string[]>("command") { Description = "Command and arguments to run in the guest (after --)", Arity = ArgumentArity.OneOrMore };
        var run = new Command("run", "Boot the kernel and run one command in the host's root (mounted read-only, with a writable overlay). " +
            $"Exit status: the command's own; {ExitCodes.VmFailure} VM failure, {ExitCodes.BootTimeout} boot timeout, " +
            $"{ExitCodes.CommandTimeout} command timeout, {ExitCodes.KernelPanic} panic/oops, {ExitCodes.KernelSplat} kernel splat, " +
            $"{ExitCodes.NoKernelImage} no kernel image, {ExitCodes.MissingDependency} missing tool.")
        {
            kernel, image, timeout, bootTimeout, memory, cpus, icount, smap, env, quiet, command,
        };
        run.SetAction(r => Guard(() =>
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
                KernelImage = ResolveImage(r.GetValue(kernel)!, r.GetValue(image)),
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
