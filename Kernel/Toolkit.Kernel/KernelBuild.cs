using System.Security.Cryptography;
using System.Text;
using Toolkit.Infra;

namespace Toolkit.Kernel;

public enum Flavour { Baseline, Patched, Debug, Bochs }

/// <summary>
/// Out-of-tree builds of the flavours from one unpacked source: baseline (base tree), patched (series
/// applied), debug (patched + vm/config/debug.config) and bochs (patched + vm/config/bochs.config, for the
/// Bochs emulator). Config = tinyconfig + vm/config/base.config (+ the flavour's fragment), checked after
/// olddefconfig.
/// </summary>
public static class KernelBuild
{
    /// <summary>The one place a flavour name is checked; the error text is what every command prints.</summary>
    public static bool TryParseFlavour(string s, out Flavour flavour, out string error)
    {
        (flavour, var ok) = s switch
        {
            "baseline" => (Flavour.Baseline, true),
            "patched" => (Flavour.Patched, true),
            "debug" => (Flavour.Debug, true),
            "bochs" => (Flavour.Bochs, true),
            _ => (default, false),
        };
        error = ok ? "" : $"unknown kernel flavour '{s}' (baseline, patched, debug or bochs)";
        return ok;
    }

    public static Flavour ParseFlavour(string s) =>
        TryParseFlavour(s, out var f, out var error) ? f : throw new ToolkitException(ExitCodes.Usage, error);

    public static string Name(this Flavour f) => f.ToString().ToLowerInvariant();

    public static string BuildDir(KernelBase b, Flavour f) => b.BuildDir(f);

    /// <summary>Where make puts the image inside a build directory.</summary>
    static readonly string[] ImageInBuildDir = ["arch", "x86", "boot", "bzImage"];

    /// <summary>Where a base's flavour build puts its image: an image is found by base + flavour.</summary>
    public static string ImagePath(KernelBase b, Flavour f) => Path.Combine([b.BuildDir(f), .. ImageInBuildDir]);

    /// <summary>
    /// The build directory an image was made in (BUILD/arch/x86/boot/bzImage → BUILD), or null for an image
    /// that does not sit in a build tree (a reviewer's own kernel copied somewhere).
    /// </summary>
    public static string? BuildDirOf(string image)
    {
        var full = Path.GetFullPath(image);
        var parts = full.Split(Path.DirectorySeparatorChar);
        if (parts.Length <= ImageInBuildDir.Length || !parts[^ImageInBuildDir.Length..].SequenceEqual(ImageInBuildDir))
            return null;
        return string.Join(Path.DirectorySeparatorChar, parts[..^ImageInBuildDir.Length]);
    }

    /// <summary>
    /// The one place that knows where an image's description lives: toolkit-kernel.json beside the image (a
    /// copied image may carry its own), else at the root of the build tree it sits in. Null when neither exists.
    /// </summary>
    public static string? InfoFileOf(string image)
    {
        var beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(image))!, KernelInfo.FileName);
        if (File.Exists(beside)) return beside;
        var build = BuildDirOf(image) is { } dir ? Path.Combine(dir, KernelInfo.FileName) : null;
        return build != null && File.Exists(build) ? build : null;
    }

    /// <summary>The description of the kernel an image is, or null for a foreign image.</summary>
    public static KernelInfo? InfoOf(string image) => InfoFileOf(image) is { } f ? KernelInfo.Read(f) : null;

    /// <summary>
    /// The features a described kernel is expected to bring: what its build recorded; for a description written
    /// before features were recorded, baseline brings none and a patched build of its base's current series
    /// brings that series' features. Null when unknown (no description, or a series other than the current one).
    /// The base is the description's (<see cref="BaseOf"/>), so each base's series sets its own expectations.
    /// </summary>
    public static IReadOnlyList<string>? ExpectedFeatures(KernelInfo? info)
    {
        if (info == null) return null;
        if (info.Features != null) return info.Features;
        if (info.Flavour == Flavour.Baseline.Name()) return [];
        if (BaseOf(info) is not { } b || !File.Exists(Path.Combine(b.SeriesDir, "series"))) return null;
        var series = PatchSeries.LoadFor(b);
        return info.SeriesHash == series.Hash ? series.Features : null;
    }

    /// <summary>The base a description names; descriptions written before bases existed are 6.12's.</summary>
    public static KernelBase? BaseOf(KernelInfo info) =>
        KernelBase.TryParse(info.BaseName, out var b, out _) ? b : null;

    /// <summary>
    /// The flavour's config fragments: vm/config/base.config (+ debug.config or bochs.config), then the same names from the
    /// base's own folder vm/config/BASE/ when they exist (later assignments win).
    /// </summary>
    public static IReadOnlyList<string> Fragments(KernelBase b, Flavour f)
    {
        var names = new List<string> { "base.config" };
        if (f == Flavour.Debug) names.Add("debug.config");
        if (f == Flavour.Bochs) names.Add("bochs.config");
        var dir = Path.Combine(Paths.VmDir, "config");
        var list = names.Select(n => Path.Combine(dir, n)).ToList();
        list.AddRange(names.Select(n => Path.Combine(b.ConfigDir, n)).Where(File.Exists));
        return list;
    }

    /// <summary>
    /// Builds (incrementally) base <paramref name="b"/>'s flavour and returns its description. The series is
    /// <paramref name="seriesDir"/> (default kernel-patches/BASE/); baseline reads none.
    /// </summary>
    public static KernelInfo Build(KernelBase b, Flavour flavour, int jobs, string? seriesDir = null)
    {
        foreach (var tool in new[] { "make", "gcc", "git", "tar", "xz", "flex", "bison", "bc" })
            if (!Proc.OnPath(tool))
                throw new ToolkitException(
                    ExitCodes.MissingDependency, $"'{tool}' is not installed: run scripts/install-deps");
        // The series is checked first (its base, its files), so a wrong one fails before anything is fetched.
        var series = flavour == Flavour.Baseline ? null : PatchSeries.LoadFor(b, seriesDir);
        var src = KernelSource.Locate(b);
        var outDir = b.BuildDir(flavour);
        using var buildLock = FileLock.Acquire(Path.Combine(Paths.CacheRoot,
            "build", $".{flavour.Name()}{b.LockSuffix}.lock"), $"the {flavour.Name()}-{b.Name} build directory");
        src.EnsureUnpackedLocked();
        // The patched tree must not change under a running make: a shared hold for the whole build.
        using var patchedLock = series == null ? null : src.UsePatchedTree(series);
        var tree = flavour == Flavour.Baseline ? src.BaseTree : src.PatchedTree;

        Directory.CreateDirectory(outDir);
        var log = Path.Combine(outDir, "build.log");
        File.WriteAllText(log, "");
        var env = BuildEnv();
        var configHash = Configure(b, tree, outDir, flavour, log);

        Progress.Step($"building {flavour.Name()} {b.Name} kernel in {outDir} (-j{jobs}, log: {log})");
        var started = DateTime.UtcNow;
        var files = 0;
        Make(tree, outDir, log, env, [$"-j{jobs}", "CC=ccache gcc", "bzImage"], "kernel build", line =>
        {
            var t = line.TrimStart();
            if (t.StartsWith("CC ", StringComparison.Ordinal) || t.StartsWith("LD ", StringComparison.Ordinal) ||
                t.StartsWith("AR ", StringComparison.Ordinal))
            {
                files++;
                Progress.Detail($"  [{files}] {t}");
            }
        });
        var release = Proc.Check("make", ["-s", "-C", tree, $"O={outDir}", "kernelrelease"], ExitCodes.BuildFailed,
            "make kernelrelease", env: env).Trim();
        var info = new KernelInfo(flavour.Name(), src.PackageName, src.PackageVersion, release,
            series?.Hash ?? "none", series?.Patches.Count ?? 0, configHash, ImagePath(b, flavour))
        {
            Base = b.Name,
            // What the suites must find in this kernel: a feature test that skips on it fails.
            Features = series?.Features ?? [],
        };
        info.Write(Path.Combine(outDir, KernelInfo.FileName));
        Progress.Step($"built {release} ({flavour.Name()}) in {(DateTime.UtcNow - started).TotalSeconds:F0} s: {info.Image}");
        return info;
    }

    /// <summary>The options a flavour asks for on a base: its fragments plus the LOCALVERSION naming it.</summary>
    public static List<ConfigOption> RequestedOptions(KernelBase b, Flavour flavour)
    {
        var requested = new List<ConfigOption>();
        foreach (var frag in Fragments(b, flavour))
        {
            if (!File.Exists(frag)) throw new ToolkitException(
                ExitCodes.BadConfig, $"config fragment {frag} is missing");
            requested.AddRange(KernelConfig.ParseFragment(frag));
        }
        // The flavour shows in `uname -r`, so a guest can tell which kernel it booted.
        requested.Add(new ConfigOption("CONFIG_LOCALVERSION", $"\"-{flavour.Name()}\"", "(toolkit)", 0));
        requested.Add(new ConfigOption("CONFIG_LOCALVERSION_AUTO", null, "(toolkit)", 0));
        return requested;
    }

    /// <summary>
    /// Configures any source tree + output directory the way <paramref name="flavour"/> is configured
    /// (tinyconfig + fragments, dropped options are errors). Skipped when the stamp says the same options
    /// and tree were already configured there. Returns the config hash. Used by the flavour builds and by
    /// `review`, which builds its own tree in its own directory.
    /// </summary>
    public static string Configure(KernelBase b, string tree, string outDir, Flavour flavour, string log)
    {
        var env = BuildEnv();
        var requested = RequestedOptions(b, flavour);
        var configHash = Hash(string.Join('\n', requested.Select(o => o.ToString())) + "\n" + tree);
        var configStamp = Path.Combine(outDir, ".toolkit-config-hash");
        var dotConfig = Path.Combine(outDir, ".config");
        if (!File.Exists(dotConfig) || !File.Exists(configStamp) || File.ReadAllText(configStamp).Trim() != configHash)
        {
            Progress.Step($"configuring {flavour.Name()} {b.Name} kernel (tinyconfig + " +
                $"{string.Join(" + ", Fragments(b, flavour).Select(f => Path.GetRelativePath(Paths.VmDir, f)))}) in {outDir}");
            File.Delete(configStamp);
            Make(tree, outDir, log, env, ["tinyconfig"], "make tinyconfig");
            var merged = KernelConfig.Merge(File.ReadAllLines(dotConfig), requested);
            File.WriteAllLines(dotConfig, merged);
            Make(tree, outDir, log, env, ["olddefconfig"], "make olddefconfig");
            var dropped = KernelConfig.FindDropped(requested, KernelConfig.ReadConfig(File.ReadAllLines(dotConfig)));
            if (dropped.Count > 0)
                throw new ToolkitException(ExitCodes.BadConfig,
                    $"olddefconfig dropped {dropped.Count} requested option(s) for the {flavour.Name()} {b.Name} kernel:\n  " + string.Join("\n  ", dropped));
            File.WriteAllText(configStamp, configHash + "\n");
        }
        return configHash;
    }

    /// <summary>Fixed build identity, so rebuilds are reproducible and init/version.o is not rebuilt each
    /// time.</summary>
    public static Dictionary<string, string?> BuildEnv() => new()
    {
        ["KBUILD_BUILD_TIMESTAMP"] = "1970-01-01",
        ["KBUILD_BUILD_USER"] = "toolkit",
        ["KBUILD_BUILD_HOST"] = "toolkit",
        ["KBUILD_BUILD_VERSION"] = "1",
        ["CCACHE_BASEDIR"] = Paths.CacheRoot,
        ["CCACHE_NOHASHDIR"] = "1",
        ["LC_ALL"] = "C",
        // Set but empty: stops setlocalversion appending "+" because the source is a git tree.
        ["LOCALVERSION"] = "",
    };

    internal static void Make(string tree, string outDir, string log, Dictionary<string, string?> env, string[] args,
        string what,
        Action<string>? onLine = null)
    {
        var r = Proc.Run("make", ["-C", tree, $"O={outDir}", .. args], logFile: log, onLine: onLine, env: env);
        if (r.ExitCode == 0) return;
        var errors = r.Output.Split('\n').Where(l => l.Contains("error",
            StringComparison.OrdinalIgnoreCase) || l.Contains("No space left")).Take(20);
        throw new ToolkitException(Proc.DiskFullOr(ExitCodes.BuildFailed, r.Output),
            $"{what} failed (exit {r.ExitCode}); full log: {log}\n{string.Join('\n', errors)}\n--- last lines ---\n{Proc.Tail(r.Output, 15)}");
    }

    static string Hash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));
}
