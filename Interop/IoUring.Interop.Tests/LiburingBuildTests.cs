using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>The liburing build: cache layout, patch series handling, failure on a patch that does not apply.</summary>
[Category("liburing"), NonParallelizable]
public sealed class LiburingBuildTests
{
    [Test]
    public void DefaultBuildHasLibrariesHeadersAndAConfiguredTestableSourceTree()
    {
        var install = TestEnvironment.Liburing;
        Assert.That(install.Version, Is.EqualTo("2.15-1"));
        Assert.That(File.Exists(install.LiburingSo) && File.Exists(install.LiburingFfiSo),
            "liburing.so.2 and liburing-ffi.so.2");
        Assert.That(File.Exists(Path.Combine(install.IncludeDir, "liburing.h")));
        var pc = Path.Combine(install.LibDir, "pkgconfig", "liburing.pc");
        Assert.That(File.Exists(pc) && File.Exists(Path.Combine(install.LibDir, "pkgconfig", "liburing-ffi.pc")),
            "pkg-config files for C tests");
        Assert.That(File.ReadAllText(pc), Does.Contain($"prefix={install.Prefix}"),
            "the .pc file points at the cache, not at the staging directory");
        Assert.That(File.Exists(Path.Combine(install.SourceDir, "config-host.mak")),
            "configured, so `make -C test` works in place");
        Assert.That(Directory.Exists(Path.Combine(install.SourceDir, "test")));
        Assert.That(install.Prefix, Does.StartWith(Path.Combine(Paths.CacheRoot,
            "liburing", $"2.15-{install.SeriesHash}")));
        Assert.That(File.ReadLines(Path.Combine(install.SourceDir, "config-host.mak")),
            Does.Contain("root=" + install.SourceDir),
            "configure's root= names the tree where it is, not the scratch tree");
        Assert.That(install.SeriesHash,
            Is.EqualTo(LiburingBuild.SeriesHash(LiburingBuild.ReadSeries(Paths.LiburingPatchesDir))));
    }

    [Test]
    public void SeriesHashDependsOnNamesOrderAndContent()
    {
        var dir = Directory.CreateTempSubdirectory("uring-series-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.patch"), "A");
            File.WriteAllText(Path.Combine(dir, "b.patch"), "B");
            File.WriteAllText(Path.Combine(dir, "series"), "# comment\na.patch\n\nb.patch\n");
            var ab = LiburingBuild.SeriesHash(LiburingBuild.ReadSeries(dir));
            File.WriteAllText(Path.Combine(dir, "series"), "b.patch\na.patch\n");
            var ba = LiburingBuild.SeriesHash(LiburingBuild.ReadSeries(dir));
            File.WriteAllText(Path.Combine(dir, "b.patch"), "B2");
            var ba2 = LiburingBuild.SeriesHash(LiburingBuild.ReadSeries(dir));
            Assert.That(new[] { ab, ba, ba2 }, Is.Unique);
            Assert.That(ab, Has.Length.EqualTo(12));
            File.WriteAllText(Path.Combine(dir, "series"), "missing.patch\n");
            var e = Assert.Throws<ToolkitException>(() => LiburingBuild.ReadSeries(dir))!;
            Assert.That(e.Message, Does.Contain("missing.patch"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>IoUring.Interop.csproj finds the natives by recomputing the series hash in MSBuild; both must
    /// agree.</summary>
    [Test]
    public void MsBuildComputesTheSameSeriesHash()
    {
        var dir = Directory.CreateTempSubdirectory("uring-series-msbuild-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "0001-a.patch"), "first\n");
            File.WriteAllText(Path.Combine(dir, "0002-b.patch"), "second\n");
            File.WriteAllText(Path.Combine(dir, "series"), "# two patches\n0001-a.patch\n\n0002-b.patch\n");
            var expected = LiburingBuild.SeriesHash(LiburingBuild.ReadSeries(dir));
            var project = Path.Combine(TestEnvironment.RepoRoot, "Interop", "IoUring.Interop",
                "IoUring.Interop.csproj");
            var result = Proc.Capture("dotnet", ["msbuild", project, "-nologo",
                "-t:ResolveLiburingPrefix", $"-p:LiburingPatchesDir={dir}/",
                "-getProperty:LiburingSeriesHash"]);
            Assert.That(result.ExitCode, Is.Zero, result.StdOut + result.StdErr);
            Assert.That(result.StdOut.Trim(), Is.EqualTo(expected));

            File.WriteAllText(Path.Combine(dir, "series"), "");
            result = Proc.Capture("dotnet", ["msbuild", project, "-nologo",
                "-t:ResolveLiburingPrefix", $"-p:LiburingPatchesDir={dir}/", "-getProperty:LiburingSeriesHash"]);
            Assert.That(result.StdOut.Trim(), Is.EqualTo(LiburingBuild.SeriesHash([])));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>A good patch is applied (and changes the cache key); a bad one stops the build with exit 232 naming
    /// it.</summary>
    [Test]
    public void PatchSeriesIsAppliedAndABadPatchIsNamed()
    {
        var patches = Directory.CreateTempSubdirectory("uring-patches-").FullName;
        var cache = Directory.CreateTempSubdirectory("uring-cache-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(patches, "0001-readme-marker.patch"), """
                --- a/README
                +++ b/README
                @@ -1,3 +1,4 @@
                +toolkit test patch marker
                 liburing
                 --------
                 

                """.Replace("\r", ""));
            File.WriteAllText(Path.Combine(patches, "series"), "0001-readme-marker.patch\n");
            var install = LiburingBuild.Ensure(new LiburingBuildOptions { PatchesDir = patches, CacheDir = cache });
            Assert.That(File.ReadAllText(Path.Combine(install.SourceDir, "README")),
                Does.StartWith("toolkit test patch marker"));
            Assert.That(install.SeriesHash, Is.Not.EqualTo(TestEnvironment.Liburing.SeriesHash));
            Assert.That(File.Exists(install.LiburingFfiSo));

            File.WriteAllText(Path.Combine(patches, "0002-does-not-apply.patch"), """
                --- a/README
                +++ b/README
                @@ -1,2 +1,2 @@
                -this line is not in the README
                +so the patch cannot apply
                 liburing

                """.Replace("\r", ""));
            File.WriteAllText(Path.Combine(patches, "series"), "0001-readme-marker.patch\n0002-does-not-apply.patch\n");
            var e = Assert.Throws<ToolkitException>(() =>
                LiburingBuild.Ensure(new LiburingBuildOptions { PatchesDir = patches, CacheDir = cache }))!;
            Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.PatchDoesNotApply));
            Assert.That(e.Message, Does.Contain("0002-does-not-apply.patch"));
            Assert.That(Directory.GetDirectories(cache).Select(Path.GetFileName),
                Is.EquivalentTo(new[] { "downloads", $"2.15-{install.SeriesHash}" }),
                "the failed build leaves no directory that looks complete");
        }
        finally
        {
            Directory.Delete(patches, true);
            Directory.Delete(cache, true);
        }
    }
}
