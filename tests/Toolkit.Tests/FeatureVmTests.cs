using Toolkit.Kernel;

namespace Toolkit.Tests;

/// <summary>
/// Expected features end to end, in real booted kernels (the C suite only, to stay cheap): the baseline kernel
/// told it must bring both features fails naming both; the patched kernel, which its build says brings them,
/// passes with them expected.
/// </summary>
[TestFixture, Category("vm"), NonParallelizable]
public class FeatureVmTests
{
    static (int Code, string Output) VmTest(params string[] args)
    {
        var output = new StringWriter();
        var saved = Console.Out;
        Console.SetOut(output);
        try { return (Cli.Run(["vm", "test", "--suite", "c", .. args]), output.ToString()); }
        finally { Console.SetOut(saved); }
    }

    [Test]
    public void BaselineExpectedToBringTheFeaturesFailsNamingBoth()
    {
        var image = KernelBuild.Build(KernelBase.Default, Flavour.Baseline, Environment.ProcessorCount).Image;
        var (code, output) = VmTest("--kernel-image", image, "--expect", "cq-user-word,cqe-target");
        Assert.That(code, Is.EqualTo(ExitCodes.Failed), output);
        Assert.That(output, Does.Contain("features: expected cq-user-word, cqe-target"));
        Assert.That(output, Does.Contain("expected feature 'cq-user-word' missing"));
        Assert.That(output, Does.Contain("expected feature 'cqe-target' missing"));
        Assert.That(output, Does.Contain("missing expected feature(s): cq-user-word, cqe-target"));
    }

    /// <summary>
    /// CI's `vm test (7.3 patched)` step is this check on the full suites, so scripts/test leaves the category
    /// "ci-step" out of its `dotnet test` rather than boot the same kernel for the same tests twice.
    /// </summary>
    [Test, Category("ci-step")]
    public void PatchedPassesWithTheFeaturesItsBuildRecords()
    {
        var info = KernelBuild.Build(KernelBase.Default, Flavour.Patched, Environment.ProcessorCount);
        Assert.That(info.Features, Is.EqualTo(new[] { Features.CqUserWord, Features.CqeTarget }),
            "kernel build records them");
        var (code, output) = VmTest("--kernel", "patched");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), output);
        Assert.That(output, Does.Contain("features: expected cq-user-word, cqe-target"));
        Assert.That(output, Does.Not.Contain("missing expected feature"));
    }
}
