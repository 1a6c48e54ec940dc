using Toolkit.Infra;
using Toolkit.Kernel;

namespace Toolkit.Tests;

/// <summary>
/// The source and series handling against a tiny stand-in for the linux-source tarball, in a scratch
/// cache (TOOLKIT_CACHE), so the bad-input paths are exercised for real without touching the real cache.
/// </summary>
[TestFixture, NonParallelizable]
public class KernelSourceTests
{
    string scratch = "";
    readonly Dictionary<string, string?> saved = new();

    [SetUp]
    public void SetUp()
    {
        scratch = Directory.CreateTempSubdirectory("toolkit-src-test-").FullName;
        foreach (var k in new[] { "TOOLKIT_CACHE", "TOOLKIT_LINUX_SOURCE_TARBALL", "TOOLKIT_LINUX_SOURCE_PACKAGE" })
            saved[k] = Environment.GetEnvironmentVariable(k);
        Environment.SetEnvironmentVariable("TOOLKIT_CACHE", Path.Combine(scratch, "cache"));
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var (k, v) in saved) Environment.SetEnvironmentVariable(k, v);
        Directory.Delete(scratch, true);
    }

    string FakeTarball(string sublevel = "117", string patchlevel = "12")
    {
        var root = Path.Combine(scratch, "tar", "linux-source-6.12");
        Directory.CreateDirectory(Path.Combine(root, "io_uring"));
        File.WriteAllText(Path.Combine(root,
            "Makefile"), $"VERSION = 6\nPATCHLEVEL = {patchlevel}\nSUBLEVEL = {sublevel}\nEXTRAVERSION =\n");
        File.WriteAllText(Path.Combine(root, "io_uring", "nop.c"), "int a;\nint b;\nint c;\n");
        File.WriteAllText(Path.Combine(root, ".gitignore"), "/*\n");
        var tar = Path.Combine(scratch, "fake.tar.xz");
        Assert.That(Proc.Run("tar", ["-cJf", tar, "-C", Path.Combine(scratch, "tar"), "linux-source-6.12"]).ExitCode,
            Is.Zero);
        Environment.SetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_TARBALL", tar);
        return tar;
    }

    string Series(params (string Name, string Body)[] patches)
    {
        var dir = Path.Combine(scratch, "patches-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        foreach (var (name, body) in patches) File.WriteAllText(Path.Combine(dir, name), body);
        File.WriteAllLines(Path.Combine(dir, "series"), patches.Select(p => p.Name).Prepend("# test series"));
        return dir;
    }

    static string Patch(string subject, string from, string to) => $"""
        From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
        From: Test <test@example.org>
        Date: Thu, 1 Jan 2026 00:00:00 +0000
        Subject: [PATCH] {subject}

        Signed-off-by: Test <test@example.org>
        ---
         io_uring/nop.c | 2 +-
         1 file changed, 1 insertion(+), 1 deletion(-)

        diff --git a/io_uring/nop.c b/io_uring/nop.c
        --- a/io_uring/nop.c
        +++ b/io_uring/nop.c
        @@ -1,3 +1,3 @@
         int a;
        -{from}
        +{to}
         int c;
        --
        2.39.5

        """;

    [Test]
    public void MissingSourcePackageIsNamed()
    {
        Environment.SetEnvironmentVariable("TOOLKIT_LINUX_SOURCE_PACKAGE", "linux-source-0.0");
        var e = Assert.Throws<ToolkitException>(() => KernelSource.Locate(KernelBase.V6_12));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
        Assert.That(e.Message, Does.Contain("linux-source-0.0").And.Contain("install-deps"));
    }

    [Test]
    public void WrongKernelVersionIsRejectedBeforeTheCacheIsTouched()
    {
        FakeTarball(patchlevel: "1");
        var src = KernelSource.Locate(KernelBase.V6_12);
        var e = Assert.Throws<ToolkitException>(() => src.EnsureUnpacked());
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.WrongSourceVersion));
        Assert.That(e.Message, Does.Contain("6.1.117").And.Contain("expected 6.12.x"));
        Assert.That(Directory.Exists(src.BaseTree), Is.False);
    }

    [Test]
    public void SeriesAppliesAndIsReappliedOnlyWhenItChanges()
    {
        FakeTarball();
        var src = KernelSource.Locate(KernelBase.V6_12);
        src.EnsureUnpacked();
        var first = PatchSeries.Load(Series(("0001-b.patch", Patch("io_uring: b to B", "int b;", "int B;"))));
        using (src.UsePatchedTree(first))
            Assert.That(File.ReadAllText(Path.Combine(src.PatchedTree, "io_uring", "nop.c")), Does.Contain("int B;"));
        Assert.That(File.ReadAllText(Path.Combine(src.BaseTree, "io_uring", "nop.c")), Does.Contain("int b;"),
            "the base tree stays pristine");
        var second = PatchSeries.Load(Series(("0001-b.patch", Patch("io_uring: b to X", "int b;", "int X;"))));
        Assert.That(second.Hash, Is.Not.EqualTo(first.Hash));
        using (src.UsePatchedTree(second))
            Assert.That(File.ReadAllText(Path.Combine(src.PatchedTree, "io_uring", "nop.c")),
                Does.Contain("int X;").And.Not.Contain("int B;"));
        var empty = PatchSeries.Load(Series());
        using (src.UsePatchedTree(empty))
            Assert.That(File.ReadAllText(Path.Combine(src.PatchedTree, "io_uring", "nop.c")), Does.Contain("int b;"),
                "an empty series is the baseline source");
    }

    [Test]
    public void PatchThatDoesNotApplyIsNamedWithItsHunk()
    {
        FakeTarball();
        var src = KernelSource.Locate(KernelBase.V6_12);
        src.EnsureUnpacked();
        var series = PatchSeries.Load(Series(
            ("0001-ok.patch", Patch("io_uring: ok", "int b;", "int B;")),
            ("0002-stale.patch", Patch("io_uring: stale", "int zzz;", "int yyy;"))));
        var e = Assert.Throws<ToolkitException>(() => src.UsePatchedTree(series).Dispose());
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.PatchDoesNotApply));
        Assert.That(e.Message, Does.Contain("0002-stale.patch").And.Contain("after 1 earlier patch"));
        Assert.That(e.Message, Does.Contain("int zzz;"), "the hunk that failed is shown");
    }

    [Test]
    public void SeriesNamingAMissingFileIsAnError()
    {
        var dir = Series();
        File.AppendAllText(Path.Combine(dir, "series"), "0009-gone.patch\n");
        var e = Assert.Throws<ToolkitException>(() => PatchSeries.Load(dir));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.PatchDoesNotApply));
        Assert.That(e.Message, Does.Contain("0009-gone.patch").And.Contain(":2:"));
    }

    [Test]
    public void FullDiskIsRecognisedWhateverTheStep() =>
        Assert.That(Proc.DiskFullOr(ExitCodes.BuildFailed, "ld: final link failed: No space left on device"),
            Is.EqualTo(ExitCodes.DiskFull));
}
