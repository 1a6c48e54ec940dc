namespace IoUring.Interop.Generator;

/// <summary>
/// Runs clang-14 over a translation unit. Everything the generator knows about the C side
/// (declarations, layouts, constant values) comes from clang through these calls.
/// </summary>
public sealed class ClangDriver
{
    public string ClangPath { get; }

    public ClangDriver(string? clangPath = null)
    {
        var requested = clangPath ?? Environment.GetEnvironmentVariable("IOURING_INTEROP_CLANG") ?? "clang-14";
        ClangPath = Proc.Which(requested)
            ?? throw new ToolkitException(ExitCodes.MissingDependency,
                $"{requested} not found; the bindings generator needs clang 14 (apt-get install clang-14, or run " +
                    $"scripts/install-deps)");
    }

    /// <summary>Arguments shared by every invocation: the target is fixed because the bindings are linux-x64
    /// only.</summary>
    static IEnumerable<string> CommonArgs(IEnumerable<string> includeDirs)
    {
        yield return "--target=x86_64-linux-gnu";
        yield return "-std=gnu11";
        foreach (var dir in includeDirs) { yield return "-I"; yield return dir; }
    }

    /// <summary>Compiles <paramref name="source"/> with -fsyntax-only plus <paramref name="extra"/>; throws with
    /// clang's diagnostics on error.</summary>
    public string SyntaxOnly(string source, IReadOnlyList<string> includeDirs, string what, params string[] extra)
    {
        var result = RunOnSource(source, includeDirs, ["-fsyntax-only", .. extra]);
        if (!result.Succeeded)
            throw new ToolkitException(
                ExitCodes.BuildFailed, $"clang could not parse {what}:\n{Diagnostics(result.StdErr)}");
        return result.StdOut;
    }

    /// <summary>Like <see cref="SyntaxOnly"/> but returns the result so a caller can interpret errors itself.</summary>
    public CapturedProcess RunOnSource(string source, IReadOnlyList<string> includeDirs, IEnumerable<string> extra)
    {
        var dir = Directory.CreateTempSubdirectory("uring-interop-clang-");
        try
        {
            var file = Path.Combine(dir.FullName, "probe.c");
            File.WriteAllText(file, source);
            return Proc.Capture(ClangPath, [.. CommonArgs(includeDirs), .. extra, file], dir.FullName);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    /// <summary>Compiles and links a C program, runs it, returns its stdout.</summary>
    public string CompileAndRun(string source, IReadOnlyList<string> includeDirs, string what)
    {
        var dir = Directory.CreateTempSubdirectory("uring-interop-probe-");
        try
        {
            var file = Path.Combine(dir.FullName, "probe.c");
            var exe = Path.Combine(dir.FullName, "probe");
            File.WriteAllText(file, source);
            var compile = Proc.Capture(ClangPath, [.. CommonArgs(includeDirs), "-w", "-o", exe, file], dir.FullName);
            if (!compile.Succeeded)
                throw new ToolkitException(
                    ExitCodes.BuildFailed, $"clang could not compile the {what}:\n{Diagnostics(compile.StdErr)}");
            var run = Proc.Capture(exe, [], dir.FullName);
            if (!run.Succeeded)
                throw new ToolkitException(
                    ExitCodes.GeneratorError, $"the {what} exited with {run.ExitCode}: {run.StdErr}");
            return run.StdOut;
        }
        finally
        {
            dir.Delete(true);
        }
    }

    /// <summary>Keeps clang's error lines (and the lines right after them) so the user sees what failed, not pages of
    /// warnings.</summary>
    public static string Diagnostics(string stderr)
    {
        var lines = stderr.Split('\n');
        var keep = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Contains("error:") || lines[i].Contains("fatal error:"))
            {
                for (var j = Math.Max(0, i - 1); j < Math.Min(lines.Length, i + 3); j++)
                    if (!keep.Contains(lines[j])) keep.Add(lines[j]);
            }
        }
        var text = keep.Count > 0 ? string.Join('\n', keep.Take(60)) : stderr.Trim();
        return text.Length > 0 ? text : "(clang printed no diagnostics)";
    }
}
