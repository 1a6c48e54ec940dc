using System.Security.Cryptography;
using System.Text;
using Toolkit.Infra;

namespace Toolkit.Liburing;

/// <summary>A built liburing: the configured source tree (usable for <c>make -C test</c>) and its install
/// prefix.</summary>
/// <param name="Version">Debian source version, e.g. "2.15-1".</param>
/// <param name="SourceDir">Configured source tree with the patch series applied.</param>
/// <param name="Prefix">Install prefix holding lib/liburing.so.2, lib/liburing-ffi.so.2 and include/.</param>
/// <param name="SeriesHash">First 12 hex digits of the SHA-256 over the patch series (names and contents).</param>
public sealed record LiburingInstall(string Version, string SourceDir, string Prefix, string SeriesHash)
{
    public string LibDir => Path.Combine(Prefix, "lib");
    public string IncludeDir => Path.Combine(Prefix, "include");
    public string LiburingSo => Path.Combine(LibDir, "liburing.so.2");
    public string LiburingFfiSo => Path.Combine(LibDir, "liburing-ffi.so.2");
    /// <summary>Upstream version without the Debian revision ("2.15").</summary>
    public string UpstreamVersion => Version.Split('-')[0];
}

/// <summary>Options for <see cref="LiburingBuild.Ensure"/>; the defaults are what the toolkit uses.</summary>
public sealed record LiburingBuildOptions
{
    /// <summary>Debian source package version fetched with apt-get source (sid deb-src, through
    /// <see cref="PrivateApt"/>).</summary>
    public string DebianVersion { get; init; } = LiburingBuild.DefaultDebianVersion;
    /// <summary>Folder holding the <c>series</c> file and the patches it names.</summary>
    public string? PatchesDir { get; init; }
    /// <summary>Cache root; the build goes to &lt;root&gt;/&lt;version&gt;-&lt;hash&gt;/.</summary>
    public string? CacheDir { get; init; }
    /// <summary>The private apt configuration's directory (<see cref="PrivateApt"/>); default
    /// &lt;cache&gt;/apt-sid, shared by every liburing cache root.</summary>
    public string? AptDir { get; init; }
    /// <summary>Rebuild even when a complete build exists.</summary>
    public bool Force { get; init; }
}

/// <summary>
/// Builds liburing from Debian's source package into a cache keyed by version and patch series,
/// so every part of the toolkit (bindings, C tests, liburing's own test suite) links the same library.
/// </summary>
public static class LiburingBuild
{
    public const string DefaultDebianVersion = "2.15-1";
    /// <summary>The upstream version of <see cref="DefaultDebianVersion"/> ("2.15").</summary>
    public static string DefaultUpstreamVersion => DefaultDebianVersion.Split('-')[0];
    const string CompleteStamp = ".complete";
    /// <summary>
    /// Bump when the build steps change what lands in the prefix (e.g. pkg-config files were added):
    /// a cached build made by an older recipe is then rebuilt instead of being used as if complete
    /// (3: config-host.mak's root= points at the final tree).
    /// </summary>
    const int RecipeVersion = 3;

    /// <summary>Returns the cached build for the current patch series, building it first when absent.</summary>
    public static LiburingInstall Ensure(LiburingBuildOptions? options = null, TextWriter? log = null)
    {
        options ??= new LiburingBuildOptions();
        log ??= TextWriter.Null;
        var patchesDir = options.PatchesDir ?? Paths.LiburingPatchesDir;
        var patches = ReadSeries(patchesDir);
        var hash = SeriesHash(patches);
        var cacheRoot = options.CacheDir ?? Path.Combine(Paths.CacheRoot, "liburing");
        var finalDir = Path.Combine(cacheRoot, $"{options.DebianVersion.Split('-')[0]}-{hash}");
        var install = new LiburingInstall(options.DebianVersion, Path.Combine(finalDir, "src"),
            Path.Combine(finalDir, "prefix"), hash);
        Directory.CreateDirectory(cacheRoot);

        // Tests and CLI invocations may race for the same build; one builds, the others wait.
        using var lockFile = FileLock.Acquire(Path.Combine(cacheRoot, ".lock"), "the liburing build cache",
            TimeSpan.FromMinutes(15));
        if (!options.Force && IsComplete(install))
        {
            log.WriteLine($"liburing {options.DebianVersion} (series {hash}) already built: {install.Prefix}");
            return install;
        }
        Proc.Require("apt-get", "fetch the liburing source package");
        Proc.Require("apt-cache", "look up the liburing source package");
        Proc.Require("dpkg-source", "unpack the liburing source package");
        Proc.Require("make", "build liburing");
        Proc.Require("git", "apply the liburing patch series");
        var dsc = FetchSource(cacheRoot, options.DebianVersion,
            options.AptDir ?? Path.Combine(Paths.CacheRoot, "apt-" + PrivateApt.SidSources.Suite), log);
        BuildInto(finalDir, dsc, patches, patchesDir, install, options.DebianVersion, log);
        if (!IsComplete(install))
            throw new ToolkitException(
                ExitCodes.BuildFailed, $"liburing build finished but {install.LiburingFfiSo} is missing");
        log.WriteLine($"liburing {options.DebianVersion} (series {hash}) built: {install.Prefix}");
        return install;
    }

    /// <summary>The source package's .dsc in the cache's downloads/, fetched with apt-get source once.</summary>
    static string FetchSource(string cacheRoot, string debianVersion, string aptDir, TextWriter log)
    {
        var downloads = Path.Combine(cacheRoot, "downloads");
        Directory.CreateDirectory(downloads);
        var dsc = Path.Combine(downloads, $"liburing_{debianVersion}.dsc");
        if (File.Exists(dsc) && DscVersion(dsc) == debianVersion) return dsc;
        Directory.CreateDirectory(aptDir);
        using var aptLock = FileLock.Acquire(Path.Combine(aptDir, ".lock"), "the private apt configuration",
            TimeSpan.FromMinutes(10));
        var apt = PrivateApt.Prepare(aptDir, PrivateApt.SidSources, log);
        var versions = apt.SourceVersions("liburing");
        if (!versions.Contains(debianVersion) && !apt.Updated)
        {
            apt.Update(log); // lists older than the version the toolkit wants
            versions = apt.SourceVersions("liburing");
        }
        if (!versions.Contains(debianVersion))
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"liburing {debianVersion} is not in Debian {PrivateApt.SidSources.Suite}'s sources (the private apt " +
                $"configuration {apt.ConfigFile} offers: " +
                $"{(versions.Count == 0 ? "none" : string.Join(", ", versions))})");
        log.WriteLine($"fetching liburing={debianVersion} with apt-get source ({PrivateApt.SidSources.Suite}, {apt.ConfigFile})");
        var fetch = apt.Run("apt-get", ["source", "--download-only", $"liburing={debianVersion}"], downloads);
        if (!fetch.Succeeded || !File.Exists(dsc))
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"apt-get source liburing={debianVersion} failed (private apt configuration {apt.ConfigFile}):\n" +
                fetch.StdErr.Trim());
        if (DscVersion(dsc) is var got && got != debianVersion)
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"{dsc} is liburing {got ?? "(no Version field)"}, not {debianVersion}");
        return dsc;
    }

    /// <summary>The <c>Version:</c> field of a .dsc, or null.</summary>
    public static string? DscVersion(string dsc)
        => File.ReadLines(dsc).Where(l => l.StartsWith("Version:", StringComparison.Ordinal))
            .Select(l => l["Version:".Length..].Trim()).FirstOrDefault();

    /// <summary>
    /// Unpacks, patches, configures, builds and installs in a scratch directory, then renames it to
    /// <paramref name="finalDir"/>, so a half-built tree is never mistaken for a result.
    /// </summary>
    static void BuildInto(string finalDir, string dsc, IReadOnlyList<Patch> patches, string patchesDir,
        LiburingInstall install, string debianVersion, TextWriter log)
    {
        var scratch = $"{Path.GetDirectoryName(finalDir)}/.build-{Path.GetFileName(finalDir)}-{Environment.ProcessId}";
        if (Directory.Exists(scratch)) Directory.Delete(scratch, true);
        Directory.CreateDirectory(scratch);
        try
        {
            var src = Path.Combine(scratch, "src");
            Step(Proc.Capture("dpkg-source", ["--no-check", "-x", dsc, src], scratch), ExitCodes.BuildFailed,
                $"dpkg-source -x {Path.GetFileName(dsc)} failed");
            CheckUpstreamVersion(src, debianVersion);
            foreach (var patch in patches)
            {
                log.WriteLine($"applying {patch.Name}");
                Step(Proc.Capture("git", ["apply", "--verbose", patch.Path], src), ExitCodes.PatchDoesNotApply,
                    $"liburing patch {patch.Name} (from {Path.GetFileName(patchesDir)}/series) does not apply to " +
                    $"liburing {debianVersion}");
            }
            CompileAndInstall(src, Path.Combine(scratch, "prefix"), install.Prefix, log);
            RetargetRoot(src, install.SourceDir);
            if (Directory.Exists(finalDir)) Directory.Delete(finalDir, true);
            Directory.Move(scratch, finalDir);
            File.WriteAllText(Path.Combine(finalDir, CompleteStamp),
                $"liburing {debianVersion}\nseries {install.SeriesHash}\nrecipe {RecipeVersion}\n" +
                string.Concat(patches.Select(p => p.Name + "\n")));
        }
        finally
        {
            if (Directory.Exists(scratch)) Directory.Delete(scratch, true);
        }
    }

    /// <summary>The unpacked tree's own version (liburing.spec) must be the one asked for: exit 230 otherwise.
    /// </summary>
    static void CheckUpstreamVersion(string src, string debianVersion)
    {
        var spec = Path.Combine(src, "liburing.spec");
        var upstream = debianVersion.Split('-')[0];
        var found = File.Exists(spec)
            ? File.ReadLines(spec).Where(l => l.StartsWith("Version:", StringComparison.Ordinal))
                .Select(l => l["Version:".Length..].Trim()).FirstOrDefault()
            : null;
        if (found != upstream)
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"the liburing {debianVersion} source package unpacks as liburing {found ?? "(no liburing.spec)"}, " +
                $"not {upstream}");
    }

    /// <summary>
    /// configure (2.15) records the tree's absolute path as <c>root=</c> in config-host.mak, which every Makefile
    /// includes from; the scratch tree is renamed into place, so it is pointed at its final path (a copy of the
    /// tree, like liburing-suite's, passes <c>root=</c> to make).
    /// </summary>
    static void RetargetRoot(string src, string finalSrc)
    {
        var mak = Path.Combine(src, "config-host.mak");
        if (!File.Exists(mak)) return;
        File.WriteAllLines(mak, File.ReadAllLines(mak).Select(l => l.StartsWith("root=", StringComparison.Ordinal)
            ? "root=" + finalSrc : l));
    }

    static void CompileAndInstall(string src, string prefix, string finalPrefix, TextWriter log)
    {
        // The install prefix is the final location: liburing.pc and nothing else records it,
        // but configure wants an absolute path and the tree is renamed into place afterwards.
        Step(Proc.Capture(Path.Combine(src, "configure"), [
            $"--prefix={finalPrefix}", $"--libdir={finalPrefix}/lib", $"--libdevdir={finalPrefix}/lib",
            $"--includedir={finalPrefix}/include", $"--mandir={finalPrefix}/man", "--use-libc"], src),
            ExitCodes.BuildFailed, "liburing ./configure failed", tail: 0);
        log.WriteLine("building liburing (src/)");
        var jobs = Math.Max(1, Environment.ProcessorCount).ToString();
        Step(Proc.Capture("make", ["-j", jobs, "-C", "src"], src), ExitCodes.BuildFailed,
            "building liburing failed", tail: 60);
        // The top-level install stages into DESTDIR (library, headers, liburing.pc / liburing-ffi.pc
        // for C tests that use pkg-config, man pages); the configured prefix inside it is the final one.
        var destdir = Path.Combine(Path.GetDirectoryName(prefix)!, "destdir");
        Step(Proc.Capture("make", ["install", $"DESTDIR={destdir}"], src), ExitCodes.BuildFailed,
            "installing liburing failed", tail: 40);
        Directory.Move(destdir + finalPrefix, prefix);
        Directory.Delete(destdir, true);
    }

    /// <summary>
    /// A failed step becomes the exception with its code and what the tool printed: stderr for the quick ones
    /// (<paramref name="tail"/> -1), all output for configure (0), the last lines of a build's output otherwise.
    /// </summary>
    static void Step(CapturedProcess r, int code, string what, int tail = -1)
    {
        if (r.Succeeded) return;
        var detail = tail switch
        {
            -1 => r.StdErr.Trim(),
            0 => r.StdOut + r.StdErr,
            _ => Proc.Tail(r.StdOut + r.StdErr, tail),
        };
        throw new ToolkitException(code, $"{what}:\n{detail}");
    }

    public sealed record Patch(string Name, string Path);

    /// <summary>Reads the series file: one patch file name per line; blank lines and # comments ignored.</summary>
    public static IReadOnlyList<Patch> ReadSeries(string patchesDir)
    {
        var series = Path.Combine(patchesDir, "series");
        if (!File.Exists(series))
            throw new ToolkitException(ExitCodes.Usage, $"liburing patch series file {series} does not exist");
        var result = new List<Patch>();
        foreach (var raw in File.ReadAllLines(series))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var path = Path.Combine(patchesDir, line);
            if (!File.Exists(path))
                throw new ToolkitException(
                    ExitCodes.PatchDoesNotApply, $"liburing patch {line} is listed in series but {path} does not exist");
            result.Add(new Patch(line, path));
        }
        return result;
    }

    /// <summary>
    /// Hash of the ordered series, so any change gives a fresh cache directory: SHA-256 over one line
    /// "&lt;name&gt; &lt;SHA-256 of the patch, upper-case hex&gt;\n" per patch, first 12 hex digits. The
    /// IoUring.Interop project computes the same key in MSBuild to find the natives it packs.
    /// </summary>
    public static string SeriesHash(IReadOnlyList<Patch> patches)
    {
        var text = new StringBuilder();
        foreach (var p in patches)
            text.Append(System.IO.Path.GetFileName(p.Path)).Append(' ').Append(Convert.ToHexString(SHA256.HashData(
                File.ReadAllBytes(p.Path)))).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..12];
    }

    static bool IsComplete(LiburingInstall install)
        => File.Exists(Path.Combine(Path.GetDirectoryName(install.Prefix)!, CompleteStamp))
           && File.ReadLines(Path.Combine(Path.GetDirectoryName(install.Prefix)!,
               CompleteStamp)).Contains($"recipe {RecipeVersion}")
           && File.Exists(install.LiburingSo) && File.Exists(install.LiburingFfiSo)
           && File.Exists(Path.Combine(install.IncludeDir, "liburing.h"));
}
