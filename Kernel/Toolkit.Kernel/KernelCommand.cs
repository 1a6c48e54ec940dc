using System.CommandLine;

namespace Toolkit.Kernel;

/// <summary>The <c>kernel build</c> command.</summary>
public static class KernelCommand
{
    public static Command Create()
    {
        var flavour = KernelOptions.Flavour("--flavour", "Which kernel to build");
        var jobs = new Option<int>("--jobs", "-j")
        {
            Description = "Parallel compile jobs",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        var build = new Command("build", "Unpack Debian's linux-source-6.12 once, apply kernel-patches/series " +
            "(patched, debug), configure (tinyconfig + vm/config fragments, dropped options are errors) and build " +
            "bzImage out of tree with ccache.")
        {
            flavour, jobs,
        };
        build.SetAction(r => Guard.Run(() =>
        {
            var info = KernelBuild.Build(KernelBuild.ParseFlavour(r.GetValue(flavour)!), Math.Max(1, r.GetValue(jobs)));
            Console.WriteLine(info.Image);
            return ExitCodes.Ok;
        }));
        return new Command("kernel", "Kernel source and builds") { build };
    }
}
