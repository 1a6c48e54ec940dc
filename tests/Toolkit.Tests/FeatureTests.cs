using Toolkit.Kernel;

namespace Toolkit.Tests;

/// <summary>
/// Expected features: the skip→fail mapping, how tests name their feature, where the kernel says what it brings.
/// </summary>
public class FeatureTests
{
    static readonly string[] Both = [Features.CqUserWord, Features.CqeTarget];

    [Test]
    public void SkipOfAnExpectedFeatureFailsNamingIt()
    {
        var skip = new TestCaseResult("liburing-tests", "cqe-target-chaos", Outcome.Skip, 0.1,
            "kernel lacks IOSQE_CQE_TARGET");
        var r = Features.Enforce(skip, Features.OfCTest(skip.Name), Both);
        Assert.That(r.Outcome, Is.EqualTo(Outcome.Fail));
        Assert.That(r.Message, Does.StartWith("expected feature 'cqe-target' missing")
            .And.Contain("kernel lacks IOSQE_CQE_TARGET"));
        var word = Features.Enforce(skip with { Name = "cq-user-word" }, Features.CqUserWord, Both);
        Assert.That(Features.Missing([r, word]),
            Is.EqualTo(new[] { "cqe-target", "cq-user-word" }));
    }

    [Test]
    public void OtherResultsAreLeftAlone()
    {
        var skip = new TestCaseResult("validation", "X", Outcome.Skip, 0, "why");
        Assert.That(Features.Enforce(skip, Features.CqeTarget, []), Is.EqualTo(skip), "not expected (baseline)");
        Assert.That(Features.Enforce(skip, Features.CqeTarget, [Features.CqUserWord]), Is.EqualTo(skip),
            "another feature");
        Assert.That(Features.Enforce(skip, null, Both), Is.EqualTo(skip), "a test of no feature");
        var pass = skip with { Outcome = Outcome.Pass, Message = null };
        Assert.That(Features.Enforce(pass, Features.CqeTarget, Both), Is.EqualTo(pass));
        var fail = skip with { Outcome = Outcome.Fail };
        Assert.That(Features.Enforce(fail, Features.CqeTarget, Both), Is.EqualTo(fail));
        Assert.That(Features.Missing([fail]), Is.Empty);
    }

    [Test]
    public void TestsNameTheirFeature()
    {
        Assert.That(Features.OfCTest("cq-user-word"), Is.EqualTo(Features.CqUserWord));
        Assert.That(Features.OfCTest("cqe-target"), Is.EqualTo(Features.CqeTarget));
        Assert.That(Features.OfCTest("cqe-target-bound -c ms-full"), Is.EqualTo(Features.CqeTarget));
        Assert.That(Features.OfCTest("nommap-release"), Is.Null);
        Assert.That(Features.OfCTest("cq-overflow"), Is.Null, "liburing's own tests belong to no feature");
        Assert.That(Features.OfCategories(["stress", "feature:cqe-target"]), Is.EqualTo(Features.CqeTarget));
        Assert.That(Features.OfCategories(["stress"]), Is.Null);
    }

    [Test]
    public void UnknownFeatureNameIsNamed()
    {
        Assert.That(Features.Parse(" cq-user-word, cqe-target ,cq-user-word"), Is.EqualTo(Both));
        Assert.That(Features.Parse(""), Is.Empty);
        var e = Assert.Throws<ArgumentException>(() => Features.Parse("cq-user-word,cqe-targt"))!;
        Assert.That(e.Message, Does.Contain("'cqe-targt'"));
    }

    [Test]
    public void VmTestExpectWithAnUnknownNameIsAUsageError()
    {
        var err = new StringWriter();
        var saved = Console.Error;
        Console.SetError(err);
        int code;
        try { code = Cli.Run(["vm", "test", "--expect", "cq-user-word,bogus", "--kernel-image", "/nonexistent/x"]); }
        finally { Console.SetError(saved); }
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(err.ToString(), Does.Contain("--expect").And.Contain("'bogus'"));
    }

    [Test]
    public void TheSeriesDeclaresItsFeatures() =>
        Assert.That(PatchSeries.LoadFor(KernelBase.V6_12).Features, Is.EqualTo(Both));

    [Test]
    public void KernelDescriptionIsFoundBesideTheImageOrAtItsBuildRoot()
    {
        var root = Path.Combine(Path.GetTempPath(), $"kinfo-{Guid.NewGuid():N}");
        var boot = Path.Combine(root, "arch", "x86", "boot");
        Directory.CreateDirectory(boot);
        try
        {
            var image = Path.Combine(boot, "bzImage");
            File.WriteAllText(image, "");
            Assert.That(KernelBuild.BuildDirOf(image), Is.EqualTo(root));
            Assert.That(KernelBuild.BuildDirOf(Path.Combine(root, "bzImage")), Is.Null, "not in a build tree");
            Assert.That(KernelBuild.InfoOf(image), Is.Null, "no description: a foreign image");
            Assert.That(KernelBuild.ExpectedFeatures(null), Is.Null);
            var info = new KernelInfo("patched", "p", "b", "r", "h", 5, "c", image) { Features = Both };
            info.Write(Path.Combine(root, KernelInfo.FileName));
            Assert.That(KernelBuild.InfoOf(image)!.Features, Is.EqualTo(Both));
            Assert.That(KernelBuild.ExpectedFeatures(KernelBuild.InfoOf(image)), Is.EqualTo(Both));
            (info with { Flavour = "baseline", Features = [] }).Write(Path.Combine(boot, KernelInfo.FileName));
            Assert.That(KernelBuild.InfoOf(image)!.Flavour, Is.EqualTo("baseline"), "one beside the image wins");
            // Written before features were recorded: baseline brings none; an unknown series, unknown features.
            Assert.That(KernelBuild.ExpectedFeatures(info with { Flavour = "baseline", Features = null }), Is.Empty);
            Assert.That(KernelBuild.ExpectedFeatures(info with { Features = null }), Is.Null);
        }
        finally { Directory.Delete(root, true); }
    }
}
