using System.Security.Cryptography;
using System.Text;
using Toolkit.Infra;

namespace Toolkit.Kernel;

/// <summary>
/// Debian's linux-source-6.12 unpacked once into the cache as a git repository (tag <c>base</c>),
/// plus a second work tree on which kernel-patches/series is applied with <c>git am</c>.
/// Both flavour trees come from the same unpacked source, so baseline and patched differ
/// only by the series.
/// </summary>
public sealed class KernelSource
{
    public const string ExpectedSeries = "6.12";
    internal const string GitName = "toolkit";
    internal const string GitEmail = "toolkit@localhost";

    public required string PackageName { get; init; }
    public required string PackageVersion { get; init; }
    public required string Tarball { get; init; }
    public required string BaseTree { get; init; }
    public required string PatchedTree { get; init; }
    /// <summary>The kernel series this package carries (6.12 for every flavour; 6.1 for review's informational apply
    /// check).</summary>
    public string Series { get; init; } = ExpectedSeries;

    /// <summary>Finds the installed source package; TOOLKIT_LINUX_SOURCE_PACKAGE / _TARBALL override it (for
    /// tests).</summary>
    public static KernelSource Locate() => Locate(ExpectedSeries);

    /// <summary>
    /// Finds Debian's linux-source-<paramref name="series"/>. Only the 6.12 default honours the test
    /// overrides; other series (6.1) are only read by `review` to tell whether a patch would backport.
    /// </summary>
    public static KernelSource Locate(string series)
    {
        var isDefault = series == ExpectedSeries;
        var pkg = (isDefault ? Environment.GetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_PACKAGE") : null)
            ?? $"linux-source-{series}";
        var q = Proc.Run("dpkg-query", ["-W", "-f=${Version}|${Status}", pkg]);
        if (q.ExitCode != 0 || !q.Output.Contains("install ok installed"))
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"Debian package {pkg} is not installed: run scripts/install-deps (or apt-get install {pkg})");
        var version = q.Output.Split('|')[0].Trim();
        var tarball = (isDefault ? Environment.GetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_TARBALL") : null)
            ?? $"/usr/src/{pkg}.tar.xz";
        if (!File.Exists(tarball))
            throw new ToolkitException(
                ExitCodes.MissingDependency, $"{pkg} {version} is installed but {tarball} is missing: reinstall the " +
                    $"package");
        var root = Path.Combine(Paths.CacheRoot, "src");
        return new KernelSource
        {
            PackageName = pkg,
            PackageVersion = version,
            Tarball = tarball,
            BaseTree = Path.Combine(root, $"linux-source-{series}"),
            PatchedTree = Path.Combine(root, $"linux-patched-{series}"),
            Series = series,
        };
    }

    /// <summary>Unpacks under a lock, so concurrent toolkit processes unpack once.</summary>
    public void EnsureUnpackedLocked()
    {
        using var l = FileLock.Acquire(Path.Combine(Path.GetDirectoryName(BaseTree)!, ".unpack.lock"),
            "the kernel source unpack");
        EnsureUnpacked();
    }

    string PatchedLockPath => Path.Combine(Path.GetDirectoryName(PatchedTree)!, ".patched.lock");

    /// <summary>
    /// Brings the patched tree to the series and returns a shared lock that keeps it there: builds and
    /// readers hold it while they use the tree; re-applying a different series needs it exclusively.
    /// </summary>
    public FileLock UsePatchedTree(PatchSeries series)
    {
        while (true)
        {
            var shared = FileLock.Acquire(PatchedLockPath, "the patched kernel tree", shared: true);
            if (IsPatchedWith(series)) return shared;
            shared.Dispose();
            using (FileLock.Acquire(PatchedLockPath, "the patched kernel tree (to apply the series)"))
                EnsurePatched(series);
        }
    }

    bool IsPatchedWith(PatchSeries series)
    {
        var stamp = PatchedTree + ".series";
        return Directory.Exists(PatchedTree) && File.Exists(stamp) && File.ReadAllText(stamp).Trim() == series.Hash;
    }

    string VersionStamp => Path.Combine(BaseTree, ".git", "toolkit-source-version");

    /// <summary>Unpacks the tarball into the cache as a git repo, unless the same package version is already
    /// there.</summary>
    public void EnsureUnpacked()
    {
        var stampValue = $"{PackageName} {PackageVersion}";
        if (File.Exists(VersionStamp) && File.ReadAllText(VersionStamp).Trim() == stampValue)
            return;
        var parent = Path.GetDirectoryName(BaseTree)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".unpack-{Environment.ProcessId}");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        var log = Path.Combine(parent, "unpack.log");
        Progress.Step($"unpacking {Path.GetFileName(Tarball)} ({PackageVersion}) into {parent}");
        Proc.Check("tar", ["-xf", Tarball, "-C", tmp], ExitCodes.MissingDependency, $"unpacking {Tarball}",
            logFile: log);
        var unpacked = Directory.GetDirectories(tmp).SingleOrDefault()
            ?? throw new ToolkitException(
                ExitCodes.WrongSourceVersion, $"{Tarball} does not hold a single top-level directory");
        var makefileVersion = ReadMakefileVersion(unpacked);
        if (!makefileVersion.StartsWith(Series + ".", StringComparison.Ordinal))
        {
            Directory.Delete(tmp, true);
            throw new ToolkitException(ExitCodes.WrongSourceVersion,
                $"{Tarball} holds Linux {makefileVersion}, expected {Series}.x (package {PackageName} {PackageVersion})");
        }
        Progress.Step("recording the pristine source as git tag 'base'");
        // Debian's tarball ignores everything at the top level (.gitignore ends in "/*"): add by force.
        Git(unpacked, log, "init", "-q");
        Git(unpacked, log, "add", "-A", "-f", ".");
        Git(unpacked, log, "commit", "-q", "-m", $"Debian {PackageName} {PackageVersion}");
        Git(unpacked, log, "tag", "base");
        RemoveWorktree(PatchedTree, log);
        if (Directory.Exists(BaseTree)) Directory.Delete(BaseTree, true);
        Directory.Move(unpacked, BaseTree);
        Directory.Delete(tmp, true);
        File.WriteAllText(VersionStamp, stampValue + "\n");
    }

    /// <summary>The kernel version the Makefile declares (e.g. 6.12.117).</summary>
    public static string ReadMakefileVersion(string tree)
    {
        var vals = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(Path.Combine(tree, "Makefile")).Take(10))
        {
            var parts = line.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2) vals[parts[0]] = parts[1];
        }
        return $"{vals.GetValueOrDefault("VERSION")}.{vals.GetValueOrDefault("PATCHLEVEL")}.{vals.GetValueOrDefault("SUBLEVEL")}";
    }

    /// <summary>
    /// Brings the patched work tree to base + series. Only re-applies when the series hash changed, and
    /// uses git checkout so files the series does not touch keep their timestamps (incremental rebuilds).
    /// </summary>
    public void EnsurePatched(PatchSeries series)
    {
        var log = Path.Combine(Path.GetDirectoryName(PatchedTree)!, "patch.log");
        var stamp = PatchedTree + ".series";
        if (IsPatchedWith(series))
            return;
        if (!Directory.Exists(Path.Combine(PatchedTree, ".git")))
        {
            RemoveWorktree(PatchedTree, log);
            Git(BaseTree, log, "worktree", "add", "-q", "-f", "-B", "patched", PatchedTree, "base");
        }
        else
        {
            Proc.Run("git", ["-C", PatchedTree, "am", "--abort"], logFile: log);
            Git(PatchedTree, log, "checkout", "-q", "-f", "-B", "patched", "base");
            Git(PatchedTree, log, "clean", "-q", "-f", "-d");
        }
        File.Delete(stamp);
        Progress.Step($"applying {series.Patches.Count} patch(es) from kernel-patches/series ({series.Hash[..12]})");
        for (var i = 0; i < series.Patches.Count; i++)
        {
            var patch = series.Patches[i];
            if (GitAm(PatchedTree, patch, log)) continue;
            var detail = Proc.Run("git", ["-C", PatchedTree, "apply", "--check", "-v", patch]).Output;
            throw new ToolkitException(ExitCodes.PatchDoesNotApply,
                $"patch {Path.GetRelativePath(Paths.RepoRoot, patch)} does not apply to {PackageName} {PackageVersion}" +
                $" (after {i} earlier patch(es)); log: {log}\n{Proc.Tail(detail, 40)}");
        }
        File.WriteAllText(stamp, series.Hash + "\n");
    }

    /// <summary>
    /// Runs <paramref name="use"/> on the patched tree brought to the committed series, holding the tree's
    /// shared lock until it returns, so no other toolkit process re-applies a series under the reader.
    /// </summary>
    public static T WithPatchedTree<T>(Func<string, T> use)
    {
        var src = Locate();
        src.EnsureUnpackedLocked();
        using var patchedLock = src.UsePatchedTree(PatchSeries.Load(Paths.KernelPatchesDir));
        return use(src.PatchedTree);
    }

    static void RemoveWorktree(string path, string log)
    {
        if (Directory.Exists(path)) Directory.Delete(path, true);
        // The patched tree's name carries its series: its base repository is the same series' source.
        var baseTree = Path.Combine(Path.GetDirectoryName(path)!, Path.GetFileName(path).Replace("linux-patched-",
            "linux-source-"));
        if (Directory.Exists(Path.Combine(baseTree, ".git")))
            Proc.Run("git", ["-C", baseTree, "worktree", "prune"], logFile: log);
    }

    /// <summary>
    /// Applies one format-patch file as a commit (the one place the toolkit runs git am); on failure the
    /// half-applied state is aborted, so the tree is left at the last applied patch.
    /// </summary>
    public static bool GitAm(string tree, string patch, string log)
    {
        var r = Proc.Run("git", ["-C", tree, "-c", $"user.name={GitName}", "-c", $"user.email={GitEmail}",
            "am", "-q", "--keep-cr", patch], logFile: log);
        if (r.ExitCode == 0) return true;
        Proc.Run("git", ["-C", tree, "am", "--abort"], logFile: log);
        return false;
    }

    public static void Git(string dir, string log, params string[] args) =>
        Proc.Check("git", ["-C", dir, "-c", $"user.name={GitName}", "-c", $"user.email={GitEmail}", .. args],
            ExitCodes.MissingDependency, $"git {args[0]} in {dir}", logFile: log);
}

/// <summary>kernel-patches/series: patch files in order; '#' starts a comment. An empty series is valid.</summary>
public sealed class PatchSeries
{
    public required IReadOnlyList<string> Patches { get; init; }
    /// <summary>SHA-256 over the series file and every patch it lists: names the exact patched source.</summary>
    public required string Hash { get; init; }
    /// <summary>
    /// The features the series brings: the names in the `feature` file of each folder it takes patches from
    /// (kernel-patches/README.md), in series order.
    /// </summary>
    public IReadOnlyList<string> Features { get; init; } = [];

    /// <summary>A series folder's declaration of the feature(s) its patches bring: one name per line.</summary>
    public const string FeatureFile = "feature";

    public static PatchSeries Load(string dir)
    {
        var seriesFile = Path.Combine(dir, "series");
        if (!File.Exists(seriesFile))
            throw new ToolkitException(
                ExitCodes.Usage, $"{seriesFile} is missing (an empty file is a valid empty series)");
        var patches = new List<string>();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var lineNo = 0;
        foreach (var raw in File.ReadLines(seriesFile))
        {
            lineNo++;
            var line = raw.Split('#')[0].Trim();
            if (line.Length == 0) continue;
            var full = Path.GetFullPath(Path.Combine(dir, line));
            if (!File.Exists(full))
                throw new ToolkitException(
                    ExitCodes.PatchDoesNotApply, $"{seriesFile}:{lineNo}: patch file '{line}' does not exist");
            patches.Add(full);
            sha.AppendData(Encoding.UTF8.GetBytes(line + "\n"));
            sha.AppendData(File.ReadAllBytes(full));
        }
        return new PatchSeries
        {
            Patches = patches,
            Hash = Convert.ToHexStringLower(sha.GetHashAndReset()),
            Features = LoadFeatures(dir, patches),
        };
    }

    static List<string> LoadFeatures(string dir, IReadOnlyList<string> patches)
    {
        var features = new List<string>();
        foreach (var folder in patches.Select(p => Path.GetDirectoryName(p)!).Distinct())
        {
            var file = Path.Combine(folder, FeatureFile);
            if (!File.Exists(file)) continue;
            var lineNo = 0;
            foreach (var raw in File.ReadLines(file))
            {
                lineNo++;
                var name = raw.Split('#')[0].Trim();
                if (name.Length == 0) continue;
                if (!Toolkit.Contract.Features.Known.Contains(name))
                    throw new ToolkitException(ExitCodes.Usage, $"{Path.GetRelativePath(dir, file)}:{lineNo}: " +
                        $"unknown feature '{name}' (known: {string.Join(", ", Toolkit.Contract.Features.Known)})");
                if (!features.Contains(name)) features.Add(name);
            }
        }
        return features;
    }
}
