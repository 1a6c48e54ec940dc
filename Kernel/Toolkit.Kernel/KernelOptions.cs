using System.CommandLine;

namespace Toolkit.Kernel;

/// <summary>The command-line options that pick a kernel, shared by every command that boots or builds one.</summary>
public static class KernelOptions
{
    public static Option<string> Flavour(string name, string description,
        string defaultFlavour = "patched") => new(name)
        {
            Description = description + " (baseline, patched or debug)",
            DefaultValueFactory = _ => defaultFlavour,
            CustomParser = r =>
            {
                var v = r.Tokens.Count > 0 ? r.Tokens[0].Value : defaultFlavour;
                if (!KernelBuild.TryParseFlavour(v, out _, out var error)) r.AddError(error);
                return v;
            },
        };

    public static Option<string?> Image() => new("--kernel-image")
    {
        Description = "Boot this bzImage instead of a flavour's build (e.g. a reviewer's own kernel)",
    };

    /// <summary>The image to boot: the one given with --kernel-image, else the flavour's build.</summary>
    public static string ResolveImage(string flavour, string? image) =>
        image != null ? Path.GetFullPath(image) : KernelBuild.ImagePath(KernelBuild.ParseFlavour(flavour));
}
