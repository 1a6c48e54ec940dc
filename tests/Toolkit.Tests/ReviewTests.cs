using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Review;

namespace Toolkit.Tests;

/// <summary>
/// `review` on real trees and builds: each check catches the fixture series made for it
/// (tests/Toolkit.Tests/fixtures/review/, tiny patches to io_uring/nop.c of 6.12, so the builds are
/// incremental) and passes the project's own series, whose content is not asserted (it changes with the work).
/// </summary>
[TestFixture, Category("review"), NonParallelizable]
public class ReviewTests
{
    ReviewReport project = null!;

    static string Fixture(string name) => TestPaths.Fixture("review", name);

    static ReviewReport Run(string? series, params string[] only) => ReviewRunner.Run(new ReviewOptions
    {
        Series = series,
        // The fixtures are patches to 6.12's io_uring/nop.c, and so is the project's 6.12 series.
        Base = KernelBase.V6_12,
        Only = only.Length > 0 ? only.ToHashSet() : null,
        RunDir = Paths.NewRunDir("review-test"),
    });

    static CheckResult One(ReviewReport r, string check, string patchPrefix) =>
        r.Results.Single(x => x.Check == check && x.Target.StartsWith(patchPrefix, StringComparison.Ordinal));

    [OneTimeSetUp]
    public void ReviewProjectSeries() => project = Run(null);

    [Test]
    public void ProjectSeriesHasNoFailureAndEveryCheckRan()
    {
        Assert.That(project.Results.Where(r => r.Verdict == Verdict.Fail), Is.Empty, project.Table());
        foreach (var check in ReviewRunner.AllChecks)
            Assert.That(project.Results.Where(r => r.Check == check), Is.Not.Empty, check);
        foreach (var p in project.Patches)
            foreach (var check in new[] { "apply", "build", "build_w1", "sparse", "kdoc", "checkpatch", "signoff",
                "subject", "uapi" })
                Assert.That(project.Results.Single(r => r.Target == p && r.Check == check).Verdict,
                    Is.AnyOf(Verdict.Pass, Verdict.Warn), $"{p} {check}");
    }

    [Test]
    public void UapiRenameIsFlaggedWithoutMovingFields()
    {
        // multi-folder/word/0002 renames io_cqring_offsets.resv1 in place and adds a feature bit.
        var report = Run(Fixture("multi-folder"), "uapi");
        var uapi = One(report, "uapi", "0002-io_uring-rename");
        Assert.That(uapi.Verdict, Is.EqualTo(Verdict.Warn), uapi.Summary);
        Assert.That(uapi.Details, Has.Some.Contains("io_cqring_offsets.resv1 (offset 28) renamed to user_word"));
        Assert.That(uapi.Details, Has.Some.Contains("new #define IORING_FEAT_FIXTURE_WORD"));
        Assert.That(One(report, "uapi", "0001-io_uring-say").Verdict, Is.EqualTo(Verdict.Pass),
            "word/0001 touches no UAPI header");
    }

    [Test]
    public void MissingSignedOffByIsCaught() =>
        Assert.That(One(Run(Fixture("missing-signoff"), "signoff"), "signoff", "0001").Verdict,
            Is.EqualTo(Verdict.Fail));

    [Test]
    public void CheckpatchErrorIsCaught()
    {
        var r = One(Run(Fixture("checkpatch-error"), "checkpatch"), "checkpatch", "0001");
        Assert.That(r.Verdict, Is.EqualTo(Verdict.Fail), r.Summary);
        Assert.That(r.Details, Has.Some.Contains("trailing whitespace"));
    }

    [Test]
    public void PatchThatDoesNotApplyIsNamedWithItsHunk()
    {
        var report = Run(Fixture("does-not-apply"), "apply", "apply_6.1");
        var r = One(report, "apply", "0001");
        Assert.That(r.Verdict, Is.EqualTo(Verdict.Fail));
        Assert.That(r.Summary, Does.Contain("io_uring/nop.c hunk @@ -38,6 +38,6 @@"));
        Assert.That(One(report, "apply_6.1", "0001").Verdict, Is.EqualTo(Verdict.Info), "6.1 is informational only");
        Assert.That(report.ExitCode, Is.EqualTo(ExitCodes.Failed));
    }

    [Test]
    public void BuildBreakFixedLaterIsStillABisectabilityFailure()
    {
        var report = Run(Fixture("bisect"), "build");
        Assert.That(One(report, "build", "0001").Verdict, Is.EqualTo(Verdict.Pass));
        var broken = One(report, "build", "0002");
        Assert.That(broken.Verdict, Is.EqualTo(Verdict.Fail));
        Assert.That(broken.Details, Has.Some.Contains("io_uring/nop.c").And.Some.Contains("io_nop_account"));
        Assert.That(One(report, "build", "0003").Summary, Does.Contain("builds again"));
        Assert.That(report.Overall, Is.EqualTo(Verdict.Fail));
    }

    [Test]
    public void NewW1WarningIsReportedWithFileAndLine()
    {
        var r = One(Run(Fixture("w1-warning"), "build_w1"), "build_w1", "0001");
        Assert.That(r.Verdict, Is.EqualTo(Verdict.Warn), r.Summary);
        Assert.That(r.Details.Single(),
            Does.StartWith("io_uring/nop.c:13: warning:").And.Contains("io_nop_max_inject"));
    }
}
