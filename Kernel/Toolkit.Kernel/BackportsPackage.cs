using Toolkit.Infra;

namespace Toolkit.Kernel;

/// <summary>
/// Fetches a base's linux-source binary package from trixie-backports without touching the system's apt state:
/// a private apt configuration in the cache (own sources list, lists, archive cache, an empty dpkg status), passed
/// with APT_CONFIG (<see cref="PrivateApt"/>), `apt-get update` + `apt-get download`, then `dpkg -x` into the
/// cache. Nothing is installed.
/// Under a file lock; once fetched and verified, later calls only read the stamp (no network).
/// TOOLKIT_DEBIAN_MIRROR overrides the mirror; TOOLKIT_LINUX_SOURCE_DEB takes a local .deb instead of
/// downloading (tests).
/// </summary>
public static class BackportsPackage
{
    /// <summary>What a fetch produced: the package's version and the source tarball inside the unpacked .deb.</summary>
    public sealed record Fetched(string Version, string Tarball);

    public static Fetched Ensure(KernelBase b, string package)
    {
        Directory.CreateDirectory(b.PackageDir);
        using var l = FileLock.Acquire(Path.Combine(Path.GetDirectoryName(b.PackageDir)!, $".fetch-{b.Name}.lock"),
            $"the {package} download");
        var stamp = Path.Combine(b.PackageDir, "fetched");
        var tarball = Path.Combine(b.PackageDir, "root", "usr", "src", $"{package}.tar.xz");
        if (File.Exists(stamp) && File.Exists(tarball))
        {
            var parts = File.ReadAllText(stamp).Trim().Split(' ', 2);
            if (parts.Length == 2 && parts[0] == package) return new Fetched(parts[1], tarball);
        }
        var log = Path.Combine(b.PackageDir, "fetch.log");
        File.WriteAllText(log, "");
        var deb = Environment.GetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_DEB") is { Length: > 0 } local
            ? Path.GetFullPath(local) : Download(b, package, log);
        var version = Verify(b, package, deb);
        var root = Path.Combine(b.PackageDir, "root");
        var tmp = root + $".tmp-{Environment.ProcessId}";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Progress.Step($"unpacking {Path.GetFileName(deb)} into {b.PackageDir}");
        Proc.Check("dpkg", ["-x", deb, tmp], ExitCodes.MissingDependency, $"dpkg -x {deb}", logFile: log);
        if (Directory.Exists(root)) Directory.Delete(root, true);
        Directory.Move(tmp, root);
        if (!File.Exists(tarball))
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"{package} {version} ({deb}) holds no usr/src/{package}.tar.xz");
        File.WriteAllText(stamp, $"{package} {version}\n");
        // The tarball is all that is used from here on: the downloaded .deb (as large again) goes.
        if (deb.StartsWith(b.PackageDir + Path.DirectorySeparatorChar, StringComparison.Ordinal)) File.Delete(deb);
        return new Fetched(version, tarball);
    }

    /// <summary>The .deb's package name and version, checked against the base (exit 231 otherwise).</summary>
    static string Verify(KernelBase b, string package, string deb)
    {
        var fields = Proc.Run("dpkg-deb", ["-f", deb, "Package", "Version"]);
        if (fields.ExitCode != 0)
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"{deb} is not a readable Debian package: {Proc.Tail(fields.Output, 5)}");
        var values = fields.Output.Split('\n', StringSplitOptions.TrimEntries)
            .Select(line => line.Split(':', 2, StringSplitOptions.TrimEntries)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1]);
        var name = values.GetValueOrDefault("Package") ?? "";
        var version = values.GetValueOrDefault("Version") ?? "";
        if (name != package || !version.StartsWith(b.VersionPrefix, StringComparison.Ordinal))
            throw new ToolkitException(ExitCodes.WrongSourceVersion,
                $"{deb} is {name} {version}, expected {package} {b.VersionPrefix}x for base {b.Name}");
        return version;
    }

    static string Download(KernelBase b, string package, string log)
    {
        foreach (var tool in new[] { "apt-get", "dpkg", "dpkg-deb" })
            if (!Proc.OnPath(tool))
                throw new ToolkitException(ExitCodes.MissingDependency,
                    $"'{tool}' is not installed: base {b.Name} fetches {package} with apt-get download");
        var dl = Path.Combine(b.PackageDir, "dl");
        Directory.CreateDirectory(dl);
        foreach (var old in Directory.GetFiles(dl, "*.deb")) File.Delete(old);
        using var logWriter = File.AppendText(log);
        var apt = PrivateApt.Prepare(Path.Combine(b.PackageDir, "apt"), PrivateApt.TrixieBackports, logWriter);
        if (!apt.Updated) apt.Update(logWriter); // the package may have moved on since the lists were fetched
        Progress.Step($"fetching {package} from {PrivateApt.TrixieBackports.Suite} (private apt state in {apt.Dir})");
        var download = apt.Run("apt-get", ["download", "-q", package], dl);
        logWriter.WriteLine(download.StdOut + download.StdErr);
        var debs = Directory.GetFiles(dl, $"{package}_*.deb");
        if (!download.Succeeded || debs.Length != 1)
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"apt-get download {package} from {PrivateApt.TrixieBackports.Suite} failed " +
                $"(exit {download.ExitCode}); log: {log}\n{Proc.Tail(download.StdErr, 10)}");
        return debs[0];
    }
}
