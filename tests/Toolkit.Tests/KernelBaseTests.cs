using Toolkit.Infra;
using Toolkit.Kernel;

namespace Toolkit.Tests;

/// <summary>
/// The kernel base registry and its bad inputs: an unknown base (2), a source package that is missing or cannot be
/// fetched (230), the wrong version (231), a series folder for the other base (239). No network: a scratch cache
/// (TOOLKIT_CACHE), a fake .deb (TOOLKIT_LINUX_SOURCE_DEB) and a mirror that does not exist (TOOLKIT_DEBIAN_MIRROR).
/// </summary>
[TestFixture, NonParallelizable]
public class KernelBaseTests
{
    static readonly string[] Overrides = ["TOOLKIT_CACHE", "TOOLKIT_LINUX_SOURCE_TARBALL",
        "TOOLKIT_LINUX_SOURCE_PACKAGE", "TOOLKIT_LINUX_SOURCE_DEB", "TOOLKIT_DEBIAN_MIRROR"];
    string scratch = "";
    readonly Dictionary<string, string?> saved = new();

    [SetUp]
    public void SetUp()
    {
        scratch = Directory.CreateTempSubdirectory("toolkit-base-test-").FullName;
        foreach (var k in Overrides)
        {
            saved[k] = Environment.GetEnvironmentVariable(k);
            Environment.SetEnvironmentVariable(k, null);
        }
        Environment.SetEnvironmentVariable("TOOLKIT_CACHE", Path.Combine(scratch, "cache"));
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var (k, v) in saved) Environment.SetEnvironmentVariable(k, v);
        Directory.Delete(scratch, true);
    }

    /// <summary>A stand-in for linux-source-7.3's .deb: control fields and usr/src/PACKAGE.tar.xz.</summary>
    string FakeDeb(string version, string makefileVersion = "7.3.4", string package = "linux-source-7.3")
    {
        var v = makefileVersion.Split('.');
        var tree = Path.Combine(scratch, "tree", package);
        Directory.CreateDirectory(Path.Combine(tree, "io_uring"));
        File.WriteAllText(Path.Combine(tree, "Makefile"),
            $"VERSION = {v[0]}\nPATCHLEVEL = {v[1]}\nSUBLEVEL = {v[2]}\nEXTRAVERSION =\n");
        File.WriteAllText(Path.Combine(tree, "io_uring", "nop.c"), "int a;\n");
        var pkg = Path.Combine(scratch, "pkg");
        Directory.CreateDirectory(Path.Combine(pkg, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(pkg, "usr", "src"));
        File.WriteAllText(Path.Combine(pkg, "DEBIAN", "control"), $"""
            Package: {package}
            Version: {version}
            Architecture: all
            Maintainer: Test <test@example.org>
            Description: test stand-in

            """);
        Assert.That(Proc.Run("tar", ["-cJf", Path.Combine(pkg, "usr", "src", $"{package}.tar.xz"), "-C",
            Path.Combine(scratch, "tree"), package]).ExitCode, Is.Zero);
        var deb = Path.Combine(scratch, $"{package}_{version}_all.deb");
        var r = Proc.Run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", pkg, deb]);
        Assert.That(r.ExitCode, Is.Zero, r.Output);
        Environment.SetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_DEB", deb);
        return deb;
    }

    static int RunCli(params string[] args) => Cli.Run(args);

    [Test]
    public void BasesAreNamedAndSixTwelveKeepsItsCacheNames()
    {
        Assert.That(KernelBase.All.Select(b => b.Name), Is.EquivalentTo(new[] { "6.12", "7.3" }));
        Assert.That(KernelBase.Default, Is.EqualTo(KernelBase.V7_3));
        var cache = Paths.CacheRoot;
        Assert.Multiple(() =>
        {
            Assert.That(KernelBase.V6_12.BaseTree, Is.EqualTo(Path.Combine(cache, "src", "linux-source-6.12")));
            Assert.That(KernelBase.V6_12.PatchedTree, Is.EqualTo(Path.Combine(cache, "src", "linux-patched-6.12")));
            Assert.That(KernelBase.V6_12.BuildDir(Flavour.Patched),
                Is.EqualTo(Path.Combine(cache, "src", "linux-patched-6.12", "build-patched")));
            Assert.That(KernelBase.V6_12.LockSuffix, Is.Empty, "6.12's locks keep their old names");
            Assert.That(KernelBase.V7_3.BaseTree, Is.EqualTo(Path.Combine(cache, "src", "linux-source-7.3")));
            Assert.That(KernelBuild.ImagePath(KernelBase.V7_3, Flavour.Debug),
                Is.EqualTo(Path.Combine(cache, "src", "linux-patched-7.3", "build-debug", "arch", "x86", "boot",
                    "bzImage")));
            Assert.That(KernelBase.V7_3.SeriesDir, Is.EqualTo(Path.Combine(Paths.KernelPatchesDir, "7.3")));
        });
    }

    /// <summary>
    /// Kbuild names the source tree ".." only for a build directory that is a direct child of it; anywhere else
    /// every -I carries the tree's own path and ccache shares nothing between baseline, patched and review.
    /// </summary>
    [Test]
    public void EveryBuildDirectoryIsADirectChildOfItsTree()
    {
        foreach (var b in KernelBase.All)
            foreach (var f in Enum.GetValues<Flavour>())
                Assert.That(Path.GetDirectoryName(b.BuildDir(f)), Is.EqualTo(b.TreeOf(f)), $"{f.Name()}-{b.Name}");
        Assert.That(KernelBase.V7_3.TreeOf(Flavour.Baseline), Is.EqualTo(KernelBase.V7_3.BaseTree));
        Assert.That(KernelBase.V7_3.TreeOf(Flavour.Debug), Is.EqualTo(KernelBase.V7_3.PatchedTree));
        var review = Toolkit.Review.ReviewRunner.OutDirOf(KernelBase.V7_3);
        Assert.That(Path.GetDirectoryName(review), Is.EqualTo(Toolkit.Review.ReviewRunner.TreeOf(KernelBase.V7_3)));
        Assert.That(Path.GetFileName(review), Is.EqualTo(Path.GetFileName(KernelBase.V7_3.BuildDir(Flavour.Baseline))),
            "review's build directory has the baseline flavour's name");
    }

    [Test]
    public void UnknownBaseIsAUsageErrorOnEveryCommand()
    {
        var e = Assert.Throws<ToolkitException>(() => KernelBase.Parse("6.1"));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain("unknown kernel base '6.1'").And.Contain("7.3").And.Contain("6.12"));
        string[][] commands =
        [
            ["kernel", "build"], ["vm", "run"], ["vm", "test"], ["liburing-suite"], ["reliability"], ["review"],
            ["bench", "vm"], ["bench", "cq-word"], ["bench", "cross-ring"],
        ];
        var saved = Console.Error;
        try
        {
            foreach (var c in commands)
            {
                var err = new StringWriter();
                Console.SetError(err);
                string[] tail = c is ["vm", "run"] ? ["--", "true"] : [];
                string[] args = [.. c, "--base", "9.9", .. tail];
                Assert.That(RunCli(args), Is.EqualTo(ExitCodes.Usage), string.Join(' ', c));
                Assert.That(err.ToString(), Does.Contain("unknown kernel base '9.9'"), string.Join(' ', c));
            }
        }
        finally { Console.SetError(saved); }
    }

    [Test]
    public void CrossRingBenchRefusesSecondsOutOfRangeBeforeItBoots([Values("0", "-1", "61")] string seconds)
    {
        var saved = Console.Error;
        var err = new StringWriter();
        Console.SetError(err);
        try
        {
            Assert.That(RunCli(["bench", "cross-ring", "--seconds", seconds]), Is.EqualTo(ExitCodes.Usage));
            Assert.That(err.ToString(), Does.Contain("--seconds must be in (0, 60]"));
        }
        finally { Console.SetError(saved); }
    }

    [Test]
    public void UndownloadablePackageIsMissingDependency()
    {
        Environment.SetEnvironmentVariable("TOOLKIT_DEBIAN_MIRROR", "file:///nonexistent-toolkit-mirror");
        var e = Assert.Throws<ToolkitException>(() => KernelSource.Locate(KernelBase.V7_3));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
        Assert.That(e.Message, Does.Contain("nonexistent-toolkit-mirror").And.Contain("trixie-backports"));
        var apt = File.ReadAllText(Path.Combine(KernelBase.V7_3.PackageDir, "apt", "apt.conf"));
        Assert.That(apt, Does.Contain("Dir::State::status \"/dev/null\"")
            .And.Contain(Path.Combine(KernelBase.V7_3.PackageDir, "apt", "lists")), "apt's state stays private");
    }

    [Test]
    public void MissingInstalledPackageIsMissingDependency()
    {
        Environment.SetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_PACKAGE", "linux-source-0.0");
        var e = Assert.Throws<ToolkitException>(() => KernelSource.Locate(KernelBase.V6_12));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
        Assert.That(e.Message, Does.Contain("linux-source-0.0").And.Contain("base 6.12"));
    }

    [Test]
    public void FetchedPackageIsVerifiedUnpackedAndReusedWithoutFetching()
    {
        var deb = FakeDeb("7.3.4-1~bpo13+1");
        var src = KernelSource.Locate(KernelBase.V7_3);
        Assert.That(src.PackageVersion, Is.EqualTo("7.3.4-1~bpo13+1"));
        Assert.That(src.Tarball, Does.StartWith(KernelBase.V7_3.PackageDir));
        src.EnsureUnpacked();
        Assert.That(KernelSource.ReadMakefileVersion(src.BaseTree), Is.EqualTo("7.3.4"));
        File.Delete(deb);
        Assert.That(KernelSource.Locate(KernelBase.V7_3).PackageVersion, Is.EqualTo("7.3.4-1~bpo13+1"),
            "a verified fetch is not repeated");
    }

    [Test]
    public void WrongPackageVersionIsRejectedPerBase()
    {
        FakeDeb("7.2.9-1");
        var e = Assert.Throws<ToolkitException>(() => KernelSource.Locate(KernelBase.V7_3));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.WrongSourceVersion));
        Assert.That(e.Message, Does.Contain("7.2.9-1").And.Contain("expected linux-source-7.3 7.3.x"));
    }

    [Test]
    public void WrongMakefileVersionIsRejectedPerBase()
    {
        FakeDeb("7.3.4-1~bpo13+1", makefileVersion: "7.2.1");
        var src = KernelSource.Locate(KernelBase.V7_3);
        var e = Assert.Throws<ToolkitException>(() => src.EnsureUnpacked());
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.WrongSourceVersion));
        Assert.That(e.Message, Does.Contain("7.2.1").And.Contain("expected 7.3.x for base 7.3"));
        Assert.That(Directory.Exists(src.BaseTree), Is.False);
    }

    string SeriesDir(string name, string? declared)
    {
        var dir = Path.Combine(scratch, "series", name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "series"), "# empty\n");
        if (declared != null) File.WriteAllText(Path.Combine(dir, PatchSeries.BaseFile), $"# base\n{declared}\n");
        return dir;
    }

    [Test]
    public void SeriesForTheOtherBaseIsRejected()
    {
        var declared = SeriesDir("mine", "6.12");
        var named = SeriesDir("7.3", null);
        var silent = SeriesDir("reviewer", null);
        Assert.Multiple(() =>
        {
            var e = Assert.Throws<ToolkitException>(() => PatchSeries.LoadFor(KernelBase.V7_3, declared));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.SeriesForOtherBase));
            Assert.That(e.Message, Does.Contain("base 6.12, not 7.3"));
            e = Assert.Throws<ToolkitException>(() => PatchSeries.LoadFor(KernelBase.V6_12, named));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.SeriesForOtherBase), "a folder named after a base");
            Assert.That(PatchSeries.LoadFor(KernelBase.V6_12, declared).DeclaredBase, Is.EqualTo("6.12"));
            Assert.That(PatchSeries.LoadFor(KernelBase.V7_3, silent).DeclaredBase, Is.Null, "declares nothing");
            e = Assert.Throws<ToolkitException>(() =>
                Review.ReviewSeries.Load(declared, KernelBase.V7_3, Path.Combine(scratch, "split")));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.SeriesForOtherBase), "review checks it too");
        });
        Assert.That(PatchSeries.LoadFor(KernelBase.V6_12).DeclaredBase, Is.EqualTo("6.12"),
            "kernel-patches/6.12/ declares its base");
    }

    [Test]
    public void KernelBuildWithTheOtherBasesSeriesStopsBeforeAnything()
    {
        var err = new StringWriter();
        var saved = Console.Error;
        Console.SetError(err);
        int code;
        try
        {
            code = RunCli("kernel", "build", "--base", "7.3", "--flavour", "patched", "--series",
                KernelBase.V6_12.SeriesDir);
        }
        finally { Console.SetError(saved); }
        Assert.That(code, Is.EqualTo(ExitCodes.SeriesForOtherBase), err.ToString());
        Assert.That(err.ToString(), Does.Contain("series for base 6.12, not 7.3"));
        Assert.That(Directory.Exists(Path.Combine(Paths.CacheRoot, "src")), Is.False, "nothing fetched or unpacked");
    }

    [Test]
    public void DescriptionsNameTheirBaseAndOlderOnesAreSixTwelve()
    {
        var info = new KernelInfo("baseline", "linux-source-7.3", "7.3.4-1~bpo13+1", "7.3.4-baseline", "none", 0, "c",
            "/x/bzImage")
        { Base = "7.3" };
        var file = Path.Combine(scratch, KernelInfo.FileName);
        info.Write(file);
        Assert.That(KernelInfo.Read(file)!.Base, Is.EqualTo("7.3"));
        Assert.That(KernelBuild.BaseOf(info), Is.EqualTo(KernelBase.V7_3));
        Assert.That(info.SourceLine(), Does.StartWith("base=7.3 source=linux-source-7.3 7.3.4-1~bpo13+1 series=none"));
        Assert.That(KernelBuild.BaseOf(info with { Base = null }), Is.EqualTo(KernelBase.V6_12));
        Assert.That(KernelBuild.ExpectedFeatures(info with { Features = null }), Is.Empty, "baseline brings none");
    }

    [Test]
    public void BaseConfigFragmentsComeAfterTheSharedOnes()
    {
        var shared = KernelBuild.Fragments(KernelBase.V7_3, Flavour.Debug);
        Assert.That(shared.Take(2).Select(Path.GetFileName), Is.EqualTo(new[] { "base.config", "debug.config" }));
        Assert.That(shared.Skip(2), Has.All.StartWith(KernelBase.V7_3.ConfigDir + Path.DirectorySeparatorChar));
    }

    [Test]
    public void AMissingImageNamesItsBaseAndFlavour()
    {
        var e = Assert.Throws<ToolkitException>(() => KernelOptions.ResolveImage("7.3", "baseline", null));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.NoKernelImage));
        Assert.That(e.Message, Does.Contain("kernel build --base 7.3 --flavour baseline"));
    }
}
