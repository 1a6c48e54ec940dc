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

    /// <summary>
    /// The tree the bindings are generated from by default: Debian's linux-source-6.12 with
    /// kernel-patches/series applied (the `patched` flavour's source), so the bindings carry the new UAPI.
    /// The toolkit CLI installs <see cref="DefaultKernelTreeProvider"/> to bring that tree up to date first.
    /// </summary>
    public static string DefaultKernelTree => DefaultKernelTreeProvider?.Invoke() ?? Path.Combine(CacheRoot, "src", "linux-patched-6.12");

    /// <summary>Set by the toolkit CLI: applies the current series to the patched tree and returns its path.</summary>
    public static Func<string>? DefaultKernelTreeProvider { get; set; }

    public static string InteropDir => Path.Combine(Root, "Interop");
    public static string LiburingPatchesDir => Path.Combine(Root, "liburing-tests", "liburing-patches");
}
