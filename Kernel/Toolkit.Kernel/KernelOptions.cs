using System.CommandLine;

namespace Toolkit.Kernel;

/// <summary>The command-line options that pick a kernel, shared by every command that boots or builds one.</summary>
public static class KernelOptions
{
    public static Option<string> Flavour(string name, string description,
        string defaultFlavour = "patched") => new(name)
        {
            Description = description + " (baseline, patched, debug or bochs)",
            DefaultValueFactory = _ => defaultFlavour,
            CustomParser = r =>
            {
                var v = r.Tokens.Count > 0 ? r.Tokens[0].Value : defaultFlavour;
                if (!KernelBuild.TryParseFlavour(v, out _, out var error)) r.AddError(error);
                return v;
            },
        };

    /// <summary>
    /// --base: the kernel base to build or boot (<see cref="KernelBase.All"/>), default <see cref="KernelBase.Default"/>;
    /// the one place it is parsed, so every command prints the same error (exit 2).
    /// </summary>
    public static Option<string> Base() => new("--base")
    {
        Description = $"Kernel base ({string.Join(", ", KernelBase.All.Select(b => b.Name))}; " +
            $"default {KernelBase.Default.Name}): which Debian linux-source and which kernel-patches/BASE/ series",
        DefaultValueFactory = _ => KernelBase.Default.Name,
        CustomParser = r =>
        {
            var v = r.Tokens.Count > 0 ? r.Tokens[0].Value : KernelBase.Default.Name;
            if (!KernelBase.TryParse(v, out _, out var error)) r.AddError(error);
            return v;
        },
    };

    /// <summary>--series DIR: a series folder instead of kernel-patches/BASE/ (one declaring another base: exit
    /// 239).</summary>
    public static Option<string?> Series() => new("--series")
    {
        Description = "Series folder to apply (a `series` file, optionally a `base` file naming its base; " +
            "default kernel-patches/BASE/)",
    };

    public static Option<string?> Image() => new("--kernel-image")
    {
        Description = "Boot this bzImage instead of a flavour's build (e.g. a reviewer's own kernel)",
    };

    /// <summary>
    /// The image to boot: the one given with --kernel-image, else the base's flavour build, which must exist
    /// (exit 236 naming the `kernel build` that makes it).
    /// </summary>
    public static string ResolveImage(string kernelBase, string flavour, string? image)
    {
        if (image != null) return Path.GetFullPath(image);
        var (b, f) = (KernelBase.Parse(kernelBase), KernelBuild.ParseFlavour(flavour));
        var path = KernelBuild.ImagePath(b, f);
        if (!File.Exists(path))
            throw new ToolkitException(ExitCodes.NoKernelImage, $"no {f.Name()} {b.Name} kernel image at {path}: " +
                $"build it first with `scripts/toolkit kernel build --base {b.Name} --flavour {f.Name()}`");
        return path;
    }
}
