using System.CommandLine;

namespace Toolkit.Kernel;

/// <summary>The <c>kernel build</c> command.</summary>
public static class KernelCommand
{
    public static Command Create()
    {
        var flavour = KernelOptions.Flavour("--flavour", "Which kernel to build");
        var kernelBase = KernelOptions.Base();
        var series = KernelOptions.Series();
        var jobs = new Option<int>("--jobs", "-j")
        {
            Description = "Parallel compile jobs",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        var build = new Command("build", "Unpack the base's Debian linux-source once (6.12: installed; 7.3: fetched " +
            "from trixie-backports into the cache), apply kernel-patches/BASE/series (patched, debug), configure " +
            "(tinyconfig + vm/config fragments, dropped options are errors) and build bzImage out of tree with ccache.")
        {
            kernelBase, flavour, series, jobs,
        };
        build.SetAction(r => Guard.Run(() =>
        {
            var info = KernelBuild.Build(KernelBase.Parse(r.GetValue(kernelBase)!),
                KernelBuild.ParseFlavour(r.GetValue(flavour)!), Math.Max(1, r.GetValue(jobs)), r.GetValue(series));
            Console.WriteLine(info.Image);
            return ExitCodes.Ok;
        }));
        return new Command("kernel", "Kernel source and builds") { build };
    }
}
