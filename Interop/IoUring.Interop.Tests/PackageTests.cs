using System.IO.Compression;
using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>The NuGet package: contents, and the sample consumer restoring it from a local feed and doing a NOP round
/// trip.</summary>
[Category("liburing"), NonParallelizable]
public sealed class PackageTests
{
    [Test]
    public void SampleConsumerRunsAgainstAFreshPackage()
    {
        var work = Directory.CreateTempSubdirectory("uring-package-").FullName;
        try
        {
            var feed = Path.Combine(work, "feed");
            var nupkg = PackageBuilder.Pack(TestEnvironment.Liburing, feed);
            using (var zip = ZipFile.OpenRead(nupkg))
            {
                var entries = zip.Entries.Select(e => e.FullName).ToList();
                Assert.That(entries, Is.SupersetOf(new[]
                {
                    "lib/net10.0/IoUring.Interop.dll", "lib/net10.0/IoUring.Interop.xml", "README.md",
                    "lib/net10.0/IoUring.dll", "lib/net10.0/IoUring.xml", "lib/net10.0/IoUring.Interop.CrossRing.dll",
                    "lib/net10.0/IoUring.Interop.Wakeup.dll",
                    "runtimes/linux-x64/native/liburing.so.2", "runtimes/linux-x64/native/liburing-ffi.so.2",
                    "THIRD-PARTY-NOTICES.md", "licenses/liburing/LICENSE", "licenses/liburing/COPYING",
                }));
                var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec",
                    StringComparison.Ordinal)).Open()).ReadToEnd();
                Assert.That(nuspec, Does.Contain("<id>IoUring.Interop</id>").And.Contain("<readme>README.md</readme>"));
                // The version names the bits: liburing 2.15, the UAPI's hash, the liburing patch series' hash.
                Assert.That(Path.GetFileName(nupkg), Does.Match(
                    @"^IoUring\.Interop\.2\.15\.0-uring\.uapi-[0-9a-f]{12}\.lib-[0-9a-f]{12}\.nupkg$"));
            }
            Assert.That(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), Is.True, "a symbols package beside it");
            var platform = typeof(Liburing).Assembly
                .GetCustomAttributes(typeof(System.Runtime.Versioning.SupportedOSPlatformAttribute), false)
                .Cast<System.Runtime.Versioning.SupportedOSPlatformAttribute>().Select(a => a.PlatformName);
            Assert.That(platform, Is.EqualTo(new[] { "linux" }));

            // Copy the sample out of the repository so it builds like an outside project (and leaves no bin/obj
            // behind).
            var samples = Path.Combine(work, "samples");
            CopyDirectory(Path.Combine(TestEnvironment.RepoRoot, "Interop", "samples"), samples);
            var consumer = Path.Combine(samples, "Consumer");
            var packages = Path.Combine(work,
                "packages"); // private package cache: the package under test, not a cached older one
            Dotnet(consumer, "restore", "--source", feed, "--packages", packages);
            Dotnet(consumer, "build", "--no-restore", "-c", "Release");
            var run = Dotnet(consumer, "run", "--no-build", "-c", "Release");
            Assert.That(run.StdOut, Does.Contain("NOP round trip ok: user_data=42 res=0 liburing=2.15"));
            Assert.That(run.StdOut, Does.Contain("managed NOP ok: user_data=7 res=0"));
            Assert.That(run.StdOut, Does.Contain(Path.Combine("runtimes", "linux-x64", "native",
                "liburing-ffi.so.2")), "the package's own native library was used");
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    static CapturedProcess Dotnet(string dir, params string[] args)
    {
        var result = Proc.Capture("dotnet", [.. args, "-nologo"], dir, new Dictionary<string,
            string>
        { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        Assert.That(result.ExitCode, Is.Zero, $"dotnet {string.Join(' ', args)}:\n{result.StdOut}\n{result.StdErr}");
        return result;
    }

    static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            if (!dir.Contains("/bin", StringComparison.Ordinal) && !dir.Contains("/obj", StringComparison.Ordinal))
                Directory.CreateDirectory(dir.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            if (!file.Contains("/bin/", StringComparison.Ordinal) && !file.Contains("/obj/", StringComparison.Ordinal))
                File.Copy(file, file.Replace(from, to));
    }
}
