using System.CommandLine;
using Toolkit.Bench;
using Toolkit.Kernel;
using Toolkit.Liburing;
using Toolkit.Suites;
using Toolkit.Vm;

namespace Toolkit;

/// <summary>
/// Builds the command tree from the commands each stage's project defines, in pipeline order, and
/// turns parse errors into exit 2. Nothing else happens here.
/// </summary>
public static class Cli
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("io_uring kernel-patch companion toolkit: build and boot patched kernels, " +
            "run the suites, generate bindings.")
        {
            KernelCommand.Create(),
            new Command("vm", "Boot a built kernel in QEMU and run commands or the suites inside it")
            {
                VmRunCommand.Create(), VmTest.Command(),
            },
            GuestCommand.Create(),
            LiburingSuite.Command(),
            Reliability.Command(),
            ReliabilityGuest.Command(),
            new Command("report", "Result files") { Totals.Command() },
            Review.ReviewCommand.Create(),
            IoUring.Interop.Generator.InteropCommands.Bindings(KernelSource.WithPatchedTree),
            LiburingCommand.Create(),
            new Command("bench", "Benchmarks.")
            {
                InteropBench.Command(), CqWordBench.Command(), VmBench.Command(), CrossRingBench.Command(),
            },
        };
        return Guard.Run(() => Invoke(root, args));
    }

    static int Invoke(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        // Bad usage is exit 2 (vm/README.md), with the parser's own message; System.CommandLine would print
        // the help and exit 1.
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) Console.Error.WriteLine($"toolkit: {e.Message}");
            Console.Error.WriteLine($"toolkit: see `{CommandPath(parsed)} --help`");
            return ExitCodes.Usage;
        }
        return parsed.Invoke();
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
}
