namespace Toolkit.Infra;

/// <summary>Where things live: the repository (found from the running tool) and the build cache outside it.</summary>
public static class Paths
{
    static string? repoRoot;

    /// <summary>The repository root: the nearest ancestor of the working directory or the tool holding
    /// Toolkit.sln.</summary>
    public static string RepoRoot => repoRoot ??= FindRepoRoot();

    /// <summary>
    /// Build cache (kernel sources, build trees, initramfs, run logs). Outside the repo's tracked files so a
    /// clean clone reuses it; TOOLKIT_CACHE overrides the default ~/.cache/uring-toolkit.
    /// </summary>
    public static string CacheRoot
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("TOOLKIT_CACHE");
            if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = string.IsNullOrEmpty(xdg)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                : xdg;
            return Path.Combine(baseDir, "uring-toolkit");
        }
    }

    /// <summary>Per-run output (console logs, results) under the repo's ignored artifacts/ folder, so nothing is
    /// lost.</summary>
    public static string RunsRoot => Path.Combine(RepoRoot, "artifacts", "runs");

    public static string VmDir => Path.Combine(RepoRoot, "vm");
    public static string KernelPatchesDir => Path.Combine(RepoRoot, "kernel-patches");
    public static string InteropDir => Path.Combine(RepoRoot, "Interop");
    public static string LiburingTestsDir => Path.Combine(RepoRoot, "liburing-tests");
    public static string LiburingPatchesDir => Path.Combine(LiburingTestsDir, "liburing-patches");

    static string FindRepoRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Toolkit.sln")))
                    return dir.FullName;
        }
        throw new ToolkitException(ExitCodes.Usage,
            "cannot find the repository root (no Toolkit.sln above the working directory)");
    }

    /// <summary>Makes a fresh, uniquely named run directory: artifacts/runs/&lt;kind&gt;-&lt;utc
    /// time&gt;-&lt;n&gt;.</summary>
    public static string NewRunDir(string kind)
    {
        Directory.CreateDirectory(RunsRoot);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss");
        for (var n = 0; ; n++)
        {
            var dir = Path.Combine(RunsRoot, $"{kind}-{stamp}-{n}");
            try
            {
                if (Directory.Exists(dir)) continue;
                Directory.CreateDirectory(dir);
                return dir;
            }
            catch (IOException) when (n < 100) { }
        }
    }
}
