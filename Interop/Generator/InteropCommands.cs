using System.CommandLine;
using System.Diagnostics;

namespace IoUring.Interop.Generator;

/// <summary>The toolkit subcommands owned by the interop work: <c>bindings</c>, <c>liburing</c> and <c>bench interop</c>.</summary>
public static class InteropCommands
{
    /// <summary>Adds the interop commands to the toolkit's root command.</summary>
    public static void AddTo(RootCommand root)
    {
        root.Add(Bindings());
        root.Add(Liburing());
        root.Add(Bench());
    }

    /// <summary>Runs an action, turning <see cref="InteropException"/> into its message and exit code.</summary>
    static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (InteropException e)
        {
            Console.Error.WriteLine($"toolkit: {e.Message}");
            return e.ExitCode;
        }
    }

    static Command Bindings()
    {
        var check = new Option<bool>("--check") { Description = "Do not write; exit 237 and print the diff when the committed bindings are stale." };
        var kernelTree = new Option<string?>("--kernel-tree") { Description = "Kernel source tree whose include/uapi/linux/io_uring.h is bound (default: Debian's linux-source-6.12 with kernel-patches/series applied, in the cache)." };
        var liburingPrefix = new Option<string?>("--liburing-prefix") { Description = "Use an existing liburing install prefix instead of the cached Debian 2.9 build." };
        var generate = new Command("generate", "Regenerate the C# bindings, C layout asserts and NUnit layout tables under Interop/.");
        generate.Add(check);
        generate.Add(kernelTree);
        generate.Add(liburingPrefix);
        generate.SetAction(parse => Guard(() =>
        {
            var watch = Stopwatch.StartNew();
            var clang = new ClangDriver();
            var inputs = BindingsGenerator.ResolveInputs(parse.GetValue(kernelTree), parse.GetValue(liburingPrefix), Console.Error);
            var output = BindingsGenerator.Generate(inputs, clang, Console.Error);
            var root = RepoPaths.Root;
            if (parse.GetValue(check))
            {
                var diff = BindingsGenerator.Diff(output, root);
                if (diff.Length > 0)
                {
                    Console.Out.Write(diff);
                    Console.Error.WriteLine("toolkit: generated bindings are stale; run `scripts/toolkit bindings generate` and commit the result");
                    return InteropExitCodes.GeneratorError;
                }
                Console.Error.WriteLine($"bindings up to date ({output.Files.Count} files, {watch.Elapsed.TotalSeconds:F1}s)");
                return InteropExitCodes.Ok;
            }
            BindingsGenerator.Write(output, root);
            Console.Error.WriteLine($"wrote {output.Files.Count} files: {output.Records} records, {output.Constants} constants, {output.Functions} functions, {output.Skipped} declarations listed as not bound ({watch.Elapsed.TotalSeconds:F1}s)");
            return InteropExitCodes.Ok;
        }));
        var feed = new Option<string>("--output") { Description = "Folder (local NuGet feed) to write the .nupkg to.", DefaultValueFactory = _ => "artifacts/feed" };
        var pack = new Command("pack", "dotnet pack IoUring.Interop with the cached liburing natives (runtimes/linux-x64/native).");
        pack.Add(feed);
        pack.SetAction(parse => Guard(() =>
        {
            var install = LiburingBuild.Ensure(log: Console.Error);
            var result = PackageBuilder.Pack(install, Path.GetFullPath(parse.GetValue(feed)!));
            Console.Out.WriteLine(result);
            return InteropExitCodes.Ok;
        }));
        var bindings = new Command("bindings", "C# bindings for liburing and the io_uring UAPI.");
        bindings.Add(generate);
        bindings.Add(pack);
        return bindings;
    }

    static Command Liburing()
    {
        var force = new Option<bool>("--force") { Description = "Rebuild even when the cache holds a complete build." };
        var build = new Command("build", "Build liburing 2.9 from Debian's source package (plus liburing-tests/liburing-patches/series) into ~/.cache/uring-toolkit/liburing/.");
        build.Add(force);
        build.SetAction(parse => Guard(() =>
        {
            var install = LiburingBuild.Ensure(new LiburingBuildOptions { Force = parse.GetValue(force) }, Console.Error);
            Console.Out.WriteLine($"version {install.Version}");
            Console.Out.WriteLine($"series-hash {install.SeriesHash}");
            Console.Out.WriteLine($"source {install.SourceDir}");
            Console.Out.WriteLine($"prefix {install.Prefix}");
            return InteropExitCodes.Ok;
        }));
        var liburing = new Command("liburing", "liburing built from Debian's source package.");
        liburing.Add(build);
        return liburing;
    }

    static Command Bench()
    {
        var seconds = new Option<double>("--seconds") { Description = "Measuring time per batch size and variant.", DefaultValueFactory = _ => 1.0 };
        var output = new Option<string?>("--output") { Description = "Markdown report path (default docs/interop-benchmark.md)." };
        var repetitions = new Option<int>("--repetitions") { Description = "Runs per variant and batch size (the median is reported).", DefaultValueFactory = _ => 5 };
        var interop = new Command("interop", "NOP throughput: C# through the bindings vs C with liburing 2.9, batch sizes 1, 8, 32, 128.");
        interop.Add(seconds);
        interop.Add(output);
        interop.Add(repetitions);
        interop.SetAction(parse => Guard(() => InteropBench.Run(parse.GetValue(seconds), parse.GetValue(output), parse.GetValue(repetitions))));
        var bench = new Command("bench", "Benchmarks.");
        bench.Add(interop);
        return bench;
    }
}
