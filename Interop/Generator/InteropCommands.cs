using System.CommandLine;
using System.Diagnostics;

namespace IoUring.Interop.Generator;

/// <summary>The <c>bindings</c> command: generate and check the bindings, pack the package.</summary>
public static class InteropCommands
{
    /// <summary>Runs a function on the default kernel tree while that tree is held (see KernelSource).</summary>
    public delegate int WithKernelTree(Func<string, int> use);

    /// <summary>
    /// The bindings command. Without --kernel-tree the UAPI comes from the tree <paramref name="withDefaultTree"/>
    /// holds (the toolkit passes the patched tree, kept at the committed series while the generator reads it).
    /// </summary>
    public static Command Bindings(WithKernelTree withDefaultTree)
    {
        var check = new Option<bool>("--check")
        {
            Description = "Do not write; exit 237 and print the diff when the committed bindings are stale.",
        };
        var kernelTree = new Option<string?>("--kernel-tree")
        {
            Description = "Kernel source tree whose include/uapi/linux/io_uring.h is bound (default: Debian's " +
                "linux-source-7.3 with kernel-patches/7.3/series applied, in the cache).",
        };
        var liburingPrefix = new Option<string?>("--liburing-prefix")
        {
            Description = "Use an existing liburing install prefix instead of the cached Debian liburing build (2.15).",
        };
        var generate = new Command("generate",
            "Regenerate the C# bindings, C layout asserts and NUnit layout tables under Interop/.")
        {
            check, kernelTree, liburingPrefix,
        };
        generate.SetAction(parse => Guard.Run(() =>
        {
            int Run(string tree) => Generate(tree, parse.GetValue(liburingPrefix), parse.GetValue(check));
            return parse.GetValue(kernelTree) is { } tree ? Run(tree) : withDefaultTree(Run);
        }));
        return new Command("bindings", "C# bindings for liburing and the io_uring UAPI.") { generate, Pack() };
    }

    static int Generate(string kernelTree, string? liburingPrefix, bool check)
    {
        var watch = Stopwatch.StartNew();
        var inputs = BindingsGenerator.ResolveInputs(kernelTree, liburingPrefix, Console.Error);
        var output = BindingsGenerator.Generate(inputs, new ClangDriver(), Console.Error);
        var root = Paths.RepoRoot;
        if (check)
        {
            var diff = BindingsGenerator.Diff(output, root);
            if (diff.Length > 0)
            {
                Console.Out.Write(diff);
                Console.Error.WriteLine("toolkit: generated bindings are stale; " +
                    "run `scripts/toolkit bindings generate` and commit the result");
                return ExitCodes.GeneratorError;
            }
            Console.Error.WriteLine(
                $"bindings up to date ({output.Files.Count} files, {watch.Elapsed.TotalSeconds:F1}s)");
            return ExitCodes.Ok;
        }
        BindingsGenerator.Write(output, root);
        Console.Error.WriteLine($"wrote {output.Files.Count} files: {output.Records} records, " +
            $"{output.Constants} constants, {output.Functions} functions, {output.Skipped} declarations " +
            $"listed as not bound ({watch.Elapsed.TotalSeconds:F1}s)");
        return ExitCodes.Ok;
    }

    static Command Pack()
    {
        var feed = new Option<string>("--output")
        {
            Description = "Folder (local NuGet feed) to write the .nupkg to.",
            DefaultValueFactory = _ => "artifacts/feed",
        };
        var pack = new Command("pack",
            "dotnet pack IoUring.Interop with the cached liburing natives (runtimes/linux-x64/native).") { feed };
        pack.SetAction(parse => Guard.Run(() =>
        {
            var install = LiburingBuild.Ensure(log: Console.Error);
            Console.Out.WriteLine(PackageBuilder.Pack(install, Path.GetFullPath(parse.GetValue(feed)!)));
            return ExitCodes.Ok;
        }));
        return pack;
    }
}
