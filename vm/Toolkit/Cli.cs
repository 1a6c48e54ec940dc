using System.CommandLine;

namespace Toolkit;

/// <summary>Builds the command tree. Each area contributes its own subcommand.</summary>
public static class Cli
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("io_uring kernel-patch companion toolkit: build and boot patched kernels, run the suites, generate bindings.");
        IoUring.Interop.Generator.InteropCommands.AddTo(root); // bindings, liburing, bench interop
        try
        {
            return root.Parse(args).Invoke();
        }
        catch (ToolkitException e)
        {
            Console.Error.WriteLine($"toolkit: {e.Message}");
            return e.ExitCode;
        }
    }
}
