using System.Security.Cryptography;
using System.Text;
using Toolkit.Infra;

namespace Toolkit.Kernel;

/// <summary>
/// A base's Debian linux-source package (<see cref="KernelBase"/>) unpacked once into the cache as a git
/// repository (tag <c>base</c>), plus a second work tree on which the base's series is applied with <c>git am</c>.
/// Both flavour trees come from the same unpacked source, so baseline and patched differ only by the series.
/// </summary>
public sealed class KernelSource
{
    internal const string GitName = "toolkit";
    internal const string GitEmail = "toolkit@localhost";

    public required string PackageName { get; init; }
    public required string PackageVersion { get; init; }
    public required string Tarball { get; init; }
    public required string BaseTree { get; init; }
    public required string PatchedTree { get; init; }
    /// <summary>The base this package is (a registered one, or 6.1 for review's informational apply
    /// check).</summary>
    public required KernelBase Base { get; init; }

    /// <summary>
    /// Finds (installed) or fetches (backports) the base's source package and checks its version (exit 230 when
    /// it is missing or cannot be fetched, 231 when it is another version). For a registered base,
    /// TOOLKIT_LINUX_SOURCE_PACKAGE / _TARBALL override the package name and the tarball (tests), and
    /// TOOLKIT_LINUX_SOURCE_DEB / TOOLKIT_DEBIAN_MIRROR the download (<see cref="BackportsPackage"/>).
    /// </summary>
    public static KernelSource Locate(KernelBase b)
    {
        var overrides = b.IsRegistered;
        var pkg = (overrides ? Environment.GetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_PACKAGE") : null)
            ?? b.Package;
        var tarballOverride = overrides ? Environment.GetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_TARBALL") : null;
        string version, tarball;
        if (b.Origin == SourceOrigin.Backports)
            (version, tarball) = BackportsPackage.Ensure(b, pkg);
        else
        {
            var q = Proc.Run("dpkg-query", ["-W", "-f=${Version}|${Status}", pkg]);
            if (q.ExitCode != 0 || !q.Output.Contains("install ok installed"))
                throw new ToolkitException(ExitCodes.MissingDependency,
                    $"Debian package {pkg} (base {b.Name}) is not installed: run scripts/install-deps " +
                    $"(or apt-get install {pkg})");
            version = q.Output.Split('|')[0].Trim();
            tarball = $"/usr/src/{pkg}.tar.xz";
        }
        if (!version.StartsWith(b.VersionPrefix, StringComparison.Ordinal))
            throw new ToolkitException(ExitCodes.WrongSourceVersion,
                $"{pkg} is version {version}, expected {b.VersionPrefix}x for base {b.Name}");
        tarball = tarballOverride ?? tarball;
        if (!File.Exists(tarball))
            throw new ToolkitException(
                ExitCodes.MissingDependency, $"{pkg} {version} is installed but {tarball} is missing: reinstall the " +
                    $"package");
        return new KernelSource
        {
            PackageName = pkg,
            PackageVersion = version,
            Tarball = tarball,
            BaseTree = b.BaseTree,
            PatchedTree = b.PatchedTree,
            Base = b,
        };
    }

    /// <summary>Unpacks under a lock, so concurrent toolkit processes unpack once.</summary>
    public void EnsureUnpackedLocked()
    {
        using var l = FileLock.Acquire(Path.Combine(Path.GetDirectoryName(BaseTree)!, ".unpack.lock"),
            "the kernel source unpack");
        EnsureUnpacked();
        ExcludeBuildDirs();
    }

    /// <summary>
    /// Build directories live inside the trees (<see cref="KernelBase.BuildDir"/>): the repository's own exclude
    /// file, shared by its work trees (patched, review), keeps `git clean` and `git status` off them.
    /// </summary>
    void ExcludeBuildDirs()
    {
        var exclude = Path.Combine(BaseTree, ".git", "info", "exclude");
        if (File.Exists(exclude) && File.ReadLines(exclude).Contains(KernelBase.BuildDirsPattern)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(exclude)!);
        File.AppendAllText(exclude, KernelBase.BuildDirsPattern + "\n");
    }

    string PatchedLockPath => Path.Combine(Path.GetDirectoryName(PatchedTree)!, $".patched{Base.LockSuffix}.lock");

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
        if (!makefileVersion.StartsWith(Base.Name + ".", StringComparison.Ordinal))
        {
            Directory.Delete(tmp, true);
            throw new ToolkitException(ExitCodes.WrongSourceVersion,
                $"{Tarball} holds Linux {makefileVersion}, expected {Base.Name}.x for base {Base.Name} (package {PackageName} {PackageVersion})");
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
        Progress.Step($"applying {series.Patches.Count} patch(es) from {series.Name} ({series.Hash[..12]}) " +
            $"to {PackageName} {PackageVersion}");
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
    /// The base the bindings generator reads its UAPI headers from: the newest base's patched tree
    /// (kernel-patches/7.3/), a superset of 6.12's UAPI; code using the bindings on a 6.12 kernel finds out
    /// what it lacks by feature detection (setup flags refused, feature bits absent), never by version.
    /// </summary>
    public static KernelBase BindingsBase => KernelBase.V7_3;

    /// <summary>The bindings generator's tree: <see cref="WithPatchedTree{T}(KernelBase, Func{string, T})"/> on
    /// <see cref="BindingsBase"/>.</summary>
    public static T WithPatchedTree<T>(Func<string, T> use) => WithPatchedTree(BindingsBase, use);

    /// <summary>
    /// Runs <paramref name="use"/> on the base's patched tree brought to its committed series, holding the tree's
    /// shared lock until it returns, so no other toolkit process re-applies a series under the reader.
    /// </summary>
    public static T WithPatchedTree<T>(KernelBase b, Func<string, T> use)
    {
        var series = PatchSeries.LoadFor(b);
        var src = Locate(b);
        src.EnsureUnpackedLocked();
        using var patchedLock = src.UsePatchedTree(series);
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

/// <summary>
/// A series folder (kernel-patches/BASE/ by default): `series` lists patch files in order; '#' starts a comment.
/// An empty series is valid. The folder declares the base it is for in a `base` file, else by its name.
/// </summary>
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

    /// <summary>A series folder's declaration of the kernel base it applies to: one base name (`#`
    /// comments).</summary>
    public const string BaseFile = "base";

    /// <summary>
    /// The base the folder declares: its `base` file, else its own name when that is a base's name
    /// (kernel-patches/7.3/), else null (a reviewer's folder that says nothing).
    /// </summary>
    public string? DeclaredBase { get; init; }

    /// <summary>How the series is named in messages: its `series` file relative to the repository when inside
    /// it.</summary>
    public string Name { get; init; } = "series";

    /// <summary>
    /// Loads the series for base <paramref name="b"/>: <paramref name="dir"/>, default kernel-patches/BASE/.
    /// A folder that declares another base stops with exit 239 before anything is applied.
    /// </summary>
    public static PatchSeries LoadFor(KernelBase b, string? dir = null)
    {
        dir ??= b.SeriesDir;
        CheckBase(dir, b);
        return Load(dir);
    }

    /// <summary>Exit 239 when the folder declares a base other than <paramref name="b"/>; a folder that declares
    /// none passes.</summary>
    public static void CheckBase(string dir, KernelBase b)
    {
        if (ReadDeclaredBase(dir) is { } declared && declared != b.Name)
            throw new ToolkitException(ExitCodes.SeriesForOtherBase,
                $"{dir} is a series for base {declared}, not {b.Name} " +
                $"(pass --base {declared}, or a series folder for {b.Name})");
    }

    /// <summary>The base a series folder declares (see <see cref="DeclaredBase"/>).</summary>
    public static string? ReadDeclaredBase(string dir)
    {
        var file = Path.Combine(dir, BaseFile);
        if (File.Exists(file))
        {
            var names = File.ReadLines(file).Select(l => l.Split('#')[0].Trim()).Where(l => l.Length > 0).ToList();
            if (names.Count != 1)
                throw new ToolkitException(ExitCodes.Usage, $"{file}: expected one base name, found {names.Count}");
            return names[0];
        }
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        return KernelBase.All.Any(b => b.Name == name) ? name : null;
    }

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
        var seriesPath = Path.GetFullPath(seriesFile);
        var inRepo = seriesPath.StartsWith(Paths.RepoRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal);
        return new PatchSeries
        {
            Name = inRepo ? Path.GetRelativePath(Paths.RepoRoot, seriesPath) : seriesPath,
            DeclaredBase = ReadDeclaredBase(dir),
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
