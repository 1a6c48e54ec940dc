namespace IoUring.Interop.Generator;

/// <summary>Locations inside the repository and the per-user cache, found without absolute paths baked in.</summary>
public static class RepoPaths
{
    /// <summary>The repository root: the nearest ancestor holding Toolkit.sln (from the working directory, then from this assembly).</summary>
    public static string Root
    {
        get
        {
            foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            {
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                    if (File.Exists(Path.Combine(dir.FullName, "Toolkit.sln"))) return dir.FullName;
            }
            throw new InteropException(InteropFailure.InputMissing,
                "cannot find the repository root (no Toolkit.sln above the working directory or the toolkit binary)");
        }
    }

    /// <summary>~/.cache/uring-toolkit, shared with the kernel build parts of the toolkit.</summary>
    public static string CacheRoot
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = string.IsNullOrEmpty(xdg)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                : xdg;
            return Path.Combine(baseDir, "uring-toolkit");
        }
    }

    /// <summary>The unpacked Debian linux-source-6.12 tree the bindings are generated from by default.</summary>
    public static string DefaultKernelTree => Path.Combine(CacheRoot, "src", "linux-source-6.12");

    public static string InteropDir => Path.Combine(Root, "Interop");
    public static string LiburingPatchesDir => Path.Combine(Root, "liburing-tests", "liburing-patches");
}
