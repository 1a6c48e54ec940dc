using Toolkit.Kernel;
using Toolkit.Review;

namespace Toolkit.Tests;

/// <summary>The review's parsers and graders, without a kernel tree: mails, diagnostics, UAPI layouts,
/// report.</summary>
public class ReviewParserTests
{
    static string Fixture(string name) => TestPaths.Fixture("review", name);

    [Test]
    public void MultiFolderSeriesParsesWithFoldedFromAndCoverLetter()
    {
        var s = ReviewSeries.Load(Fixture("multi-folder"), KernelBase.V6_12, Path.GetTempPath());
        // multi-folder/ holds three series like kernel-patches/6.12/: fixes (1 patch, no cover letter), word (2) and
        // later (2), the last two with a cover letter; `series` lists them out of alphabetical order.
        Assert.That(s.Patches.Select(p => Path.GetFileName(Path.GetDirectoryName(p.File))),
            Is.EqualTo(new[] { "fixes", "word", "word", "later", "later" }), "patches come in the order of `series`");
        Assert.That(s.Covers.Select(c => Path.GetFileName(Path.GetDirectoryName(c.File))),
            Is.EqualTo(new[] { "word", "later" }),
            "the cover letter next to each multi-patch series is found");
        Assert.That(s.Patches[0].Number, Is.Null, "a single patch is sent as [PATCH], unnumbered");
        var p = s.Patches[1];
        Assert.That(p.FromEmail, Is.EqualTo("fixture@example.org"), "a From: folded over two lines is unfolded");
        Assert.That(p.Number, Is.EqualTo((1, 2)));
        Assert.That(p.Summary, Does.StartWith("io_uring: "));
        Assert.That(p.Files, Is.EqualTo(new[] { "io_uring/io_uring.c", "io_uring/nop.c" }));
        Assert.That(s.Patches[2].Summary, Does.EndWith("add IORING_FEAT_FIXTURE_WORD"),
            "a folded Subject: keeps its tail");
    }

    [Test]
    public void CommittedSeriesParsesWithACoverLetterPerMultiPatchFolder()
    {
        // kernel-patches/6.12/ changes with the work: only its shape is asserted, never its content.
        var s = ReviewSeries.Load(null, KernelBase.V6_12, Path.GetTempPath());
        Assert.That(s.Patches, Is.Not.Empty);
        var folders = s.Patches.GroupBy(p => Path.GetDirectoryName(p.File)!).ToList();
        foreach (var f in folders)
        {
            var numbered = f.Count() > 1;
            var want = numbered ? Enumerable.Range(1, f.Count()).Cast<int?>() : [null];
            Assert.That(f.Select(p => p.Number?.Index), Is.EqualTo(want),
                $"{f.Key}: a single patch is unnumbered, a series is numbered 1..n in `series` order");
            Assert.That(s.Covers.Count(c => Path.GetDirectoryName(c.File) == f.Key), Is.EqualTo(numbered ? 1 : 0),
                $"{f.Key}: one cover letter beside a multi-patch series, none beside a single patch");
        }
        foreach (var p in s.Patches)
        {
            Assert.That(p.FromEmail, Does.Contain("@"), $"{p.Name}: an author address");
            Assert.That(p.Files, Is.Not.Empty, $"{p.Name}: a diff that touches files");
        }
    }

    [Test]
    public void ProjectSeriesPassesTheMailChecks()
    {
        var s = ReviewSeries.Load(null, KernelBase.V6_12, Path.GetTempPath());
        foreach (var p in s.Patches)
        {
            Assert.That(MetaChecks.SignedOff(p).Verdict, Is.EqualTo(Verdict.Pass), p.Name);
            Assert.That(MetaChecks.Subject(p).Verdict, Is.EqualTo(Verdict.Pass), p.Name);
        }
        Assert.That(MetaChecks.Series(s).Select(r => r.Verdict), Is.All.EqualTo(Verdict.Pass));
    }

    [Test]
    public void MissingSignedOffByFails()
    {
        var s = ReviewSeries.Load(Fixture("missing-signoff"), KernelBase.V6_12, Path.GetTempPath());
        var r = MetaChecks.SignedOff(s.Patches.Single());
        Assert.That(r.Verdict, Is.EqualTo(Verdict.Fail));
        Assert.That(r.Summary, Does.Contain("no Signed-off-by"));
    }

    [Test]
    public void SignedOffBySomeoneElseFailsAndAnotherNameWarns()
    {
        PatchMail Mail(string sob) => PatchMail.Parse(
            $"From: A Author <a@example.org>\nSubject: [PATCH] io_uring: x\n\nText.\n\n{sob}\n---\n", "x.patch");
        Assert.That(MetaChecks.SignedOff(Mail("Signed-off-by: B Other <b@example.org>")).Verdict,
            Is.EqualTo(Verdict.Fail));
        Assert.That(MetaChecks.SignedOff(Mail("Signed-off-by: A. Author <A@example.org>")).Verdict,
            Is.EqualTo(Verdict.Warn));
        Assert.That(MetaChecks.SignedOff(Mail("Signed-off-by: A Author <a@example.org>")).Verdict,
            Is.EqualTo(Verdict.Pass));
    }

    [TestCase("[PATCH] io_uring: fix it", Verdict.Pass)]
    [TestCase("[PATCH v2 3/4] io_uring/net: fix it", Verdict.Pass)]
    [TestCase("[PATCH] fs: fix io_uring", Verdict.Warn)]
    [TestCase("[PATCH] io_uring fix it", Verdict.Warn)]
    public void SubjectPrefix(string subject, Verdict expected) =>
        Assert.That(MetaChecks.Subject(PatchMail.Parse($"From: A <a@b>\nSubject: {subject}\n\nx\n",
            "x.patch")).Verdict, Is.EqualTo(expected));

    [Test]
    public void SeriesWithoutCoverLetterFails()
    {
        var s = ReviewSeries.Load(Fixture("bisect"), KernelBase.V6_12, Path.GetTempPath());
        Assert.That(s.Patches, Has.Count.EqualTo(3));
        Assert.That(MetaChecks.Series(s).Single(r => r.Check == "cover_letter").Verdict, Is.EqualTo(Verdict.Pass));
        var noCover = new ReviewSeries { Source = "x", Patches = s.Patches, Covers = [] };
        Assert.That(MetaChecks.Series(noCover).Single(r => r.Check == "cover_letter").Verdict,
            Is.EqualTo(Verdict.Fail));
    }

    [Test]
    public void MboxIsSplitIntoOnePatchFilePerMail()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"review-mbox-{Environment.ProcessId}");
        var mbox = Path.Combine(dir, "series.mbox");
        Directory.CreateDirectory(dir);
        File.WriteAllText(mbox, string.Concat(Directory.GetFiles(Fixture("bisect")).Order().Select(File.ReadAllText)));
        var s = ReviewSeries.Load(mbox, KernelBase.V6_12, Path.Combine(dir, "split"));
        Assert.That(s.Patches.Select(p => p.Number!.Value.Index), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(s.Covers, Has.Count.EqualTo(1));
        Assert.That(File.ReadAllText(s.Patches[1].File), Does.Contain("io_nop_account(req);"));
        Directory.Delete(dir, true);
    }

    [Test]
    public void EncodedWordsAreDecoded() =>
        Assert.That(PatchMail.DecodeWords("=?UTF-8?q?J=C3=B6rg?= =?UTF-8?q?_R=C3=B6del?= <j@x>"),
            Is.EqualTo("Jörg Rödel <j@x>"));

    [Test]
    public void CheckpatchGrading()
    {
        var err = MetaChecks.Checkpatch("p",
            "ERROR: trailing whitespace\n#20: FILE: io_uring/nop.c:35:\n+/* x */ $\n\ntotal: 1 errors, 0 warnings, 0 " +
                "checks, 7 lines checked\n", 1, 0);
        Assert.That(err.Verdict, Is.EqualTo(Verdict.Fail));
        Assert.That(err.Details.Single(), Is.EqualTo("ERROR: trailing whitespace (io_uring/nop.c:35)"));
        var shown = MetaChecks.Checkpatch("p",
            "io_uring/nop.c:35: ERROR: trailing whitespace\n+/* x */ $\n\ntotal: 1 errors, 0 warnings, 0 checks, 7 " +
                "lines checked\n", 1, 0);
        Assert.That(shown.Details.Single(), Is.EqualTo("ERROR: trailing whitespace (io_uring/nop.c:35)"),
            "--showfile form");
        var warn = MetaChecks.Checkpatch("p",
            "CHECK: Alignment should match open parenthesis\n#9: FILE: a.c:3:\ntotal: 0 errors, 0 warnings, 1 " +
                "checks, 7 lines checked\n", 0, 0);
        Assert.That(warn.Verdict, Is.EqualTo(Verdict.Warn));
        Assert.That(MetaChecks.Checkpatch("p", "total: 0 errors, 0 warnings, 0 checks, 7 lines checked\n", 0,
            0).Verdict, Is.EqualTo(Verdict.Pass));
    }

    [Test]
    public void NewDiagnosticsIgnoreShiftedLinesButCountRepeats()
    {
        var before = ReviewFindings.Parse("/t/io_uring/a.c:10:5: warning: unused variable 'x' [-Wunused-variable]\n" +
                                       "io_uring/a.c:20: warning: Function parameter 'y' not described\n", "/t");
        var after = ReviewFindings.Parse("/t/io_uring/a.c:14:5: warning: unused variable 'x' [-Wunused-variable]\n" +
                                      "/t/io_uring/a.c:30:5: warning: unused variable 'x' [-Wunused-variable]\n" +
                                      "/t/io_uring/a.c:40:1: note: declared here\n" +
                                      "io_uring/a.c:24: warning: Function parameter 'y' not described\n", "/t");
        Assert.That(before, Has.Count.EqualTo(2));
        Assert.That(after, Has.Count.EqualTo(3), "notes are context, not findings");
        var added = ReviewFindings.Added(before, after);
        Assert.That(added.Select(d => d.Line), Is.EqualTo(new[] { 14, 30 }),
            "one more 'unused x' than before: both shown");
        Assert.That(ReviewFindings.Parse("io_uring/a.c:24: warning: kdoc", withColumnOnly: true), Is.Empty,
            "W=1 parsing skips kernel-doc lines");
    }

    [Test]
    public void SparseFindingsLeaveGccsOut()
    {
        var make = "  CC      io_uring/nop.o\n  CHECK   ../../src/x/io_uring/nop.c\n" +
                   "io_uring/nop.c:3:1: warning: gcc says [-Wunused-const-variable=]\n" +
                   "io_uring/nop.c:9:5: warning: sparse says\n";
        Assert.That(ReviewRunner.SparseFindings(make).Select(d => d.Text), Is.EqualTo(new[] { "sparse says" }));
    }

    const string LayoutDump = """

*** Dumping AST Record Layout
         0 | struct io_cqring_offsets
         0 |   __u32 head
         4 |   __u32 tail
        28 |   __u32 resv1
        32 |   __u64 user_addr
           | [sizeof=40, dsize=40, align=8,
           |  nvsize=40, nvalign=8]

*** Dumping AST Record Layout
         0 | struct s
         0 |   union s::(anonymous at /t/x.h:3:2)
         0 |     __u64 off
         0 |     __u64 addr2
         8 |   __u32 len
        12 |   union s::(unnamed at /t/x.h:9:2) u
        12 |     __u32 a
           | [sizeof=16, dsize=16, align=8]
""";

    [Test]
    public void RecordLayoutsParseWithNestedAnonymousMembers()
    {
        var l = Uapi.ParseLayouts(LayoutDump);
        Assert.That(l.Select(x => x.Name), Is.EqualTo(new[] { "struct io_cqring_offsets", "struct s" }));
        Assert.That(l[0].Size, Is.EqualTo(40));
        Assert.That(l[1].Members.Select(m => $"{m.Path}@{m.Offset}"), Is.EqualTo(new[] { "(anonymous)@0",
            "(anonymous).off@0", "(anonymous).addr2@0", "len@8", "u@12", "u.a@12" }));
    }

    static UapiSnapshot Snap(string dump, Dictionary<string, string>? macros = null, Dictionary<string,
        long>? enums = null) =>
        new(Uapi.ParseLayouts(dump).ToDictionary(r => r.Name), macros ?? [], enums ?? [], null);

    [Test]
    public void UapiRenameIsFlaggedMoveIsBreaking()
    {
        var before = Snap(LayoutDump, new() { ["IORING_FEAT_A"] = "(1U << 0)" }, new()
        {
            ["IORING_OP_NOP"] = 0,
            ["IORING_OP_READ"] = 1
        });
        var renamed = Snap(LayoutDump.Replace("resv1", "user_word"), new()
        {
            ["IORING_FEAT_A"] = "(1U << 0)",
            ["IORING_FEAT_B"] = "(1U << 18)"
        },
            new() { ["IORING_OP_NOP"] = 0, ["IORING_OP_READ"] = 1 });
        var (breaking, changes) = Uapi.Compare(before, renamed, "h");
        Assert.That(breaking, Is.Empty);
        Assert.That(changes, Has.Some.Contains("resv1 (offset 28) renamed to user_word"));
        Assert.That(changes, Has.Some.Contains("new #define IORING_FEAT_B"));

        var moved = Snap(LayoutDump.Replace("        28 |   __u32 resv1",
            "        24 |   __u32 extra\n        28 |   __u32 resv1")
            .Replace("         4 |   __u32 tail", "         8 |   __u32 tail").Replace("sizeof=40", "sizeof=48"),
            new() { ["IORING_FEAT_A"] = "(1U << 1)" }, new()
            {
                ["IORING_OP_NOP"] = 0,
                ["IORING_OP_NEW"] = 1,
                ["IORING_OP_READ"] = 2
            });
        (breaking, _) = Uapi.Compare(before, moved, "h");
        Assert.That(breaking, Has.Some.Contains("tail moved from offset 4 to 8"));
        Assert.That(breaking, Has.Some.Contains("sizeof(struct io_cqring_offsets) changed from 40 to 48"));
        Assert.That(breaking, Has.Some.Contains("IORING_FEAT_A changed"));
        Assert.That(breaking, Has.Some.Contains("IORING_OP_READ changed value from 1 to 2"));
    }

    [Test]
    public void DeclaredNamesComeFromTheHeaderItself()
    {
        var (records, enumerators, macros) = Uapi.Declared("""
            #ifndef LINUX_IO_URING_H
            #define LINUX_IO_URING_H
            /* struct not_me { */
            struct io_x { int a; };
            enum io_uring_op { IORING_OP_NOP, IORING_OP_READV = 1, /* c */ IORING_OP_LAST, };
            #define IORING_FEAT_X (1U << 3)
            #define io_fn(x) (x)
            #endif
            """);
        Assert.That(records, Is.EqualTo(new[] { "struct io_x" }));
        Assert.That(enumerators, Is.EqualTo(new[] { "IORING_OP_NOP", "IORING_OP_READV", "IORING_OP_LAST" }));
        Assert.That(macros, Is.EqualTo(new[] { "IORING_FEAT_X" }));
    }

    [Test]
    public void FailedHunkIsNamed()
    {
        var p = ReviewSeries.Load(Fixture("does-not-apply"), KernelBase.V6_12, Path.GetTempPath()).Patches.Single();
        Assert.That(ReviewRunner.FailedHunk(p,
            "error: patch failed: io_uring/nop.c:38\nerror: io_uring/nop.c: patch does not apply"),
            Is.EqualTo("io_uring/nop.c hunk @@ -38,6 +38,6 @@"));
    }

    [Test]
    public void ReportGradesLikeNipaAndWritesOneJUnitCasePerCheckPerPatch()
    {
        CheckResult R(string c, string t, Verdict v) => CheckResult.Of(c, t, v, "s");
        ReviewReport Report(params CheckResult[] r) => new("s", "t", "p", ["p1", "p2"], r, 1);
        Assert.That(Report(R("a", "p1", Verdict.Pass), R("b", "p1", Verdict.Info), R("c", "p2",
            Verdict.Skip)).ExitCode, Is.EqualTo(ExitCodes.Ok));
        Assert.That(Report(R("a", "p1", Verdict.Pass), R("b", "p2", Verdict.Warn)).ExitCode, Is.EqualTo(250));
        var failed = Report(R("a", "series", Verdict.Pass), R("a", "p1", Verdict.Fail), R("b", "p2", Verdict.Warn),
            R("b", "p1", Verdict.Skip));
        Assert.That(failed.ExitCode, Is.EqualTo(ExitCodes.Failed));
        var path = Path.Combine(Path.GetTempPath(), $"review-{Environment.ProcessId}.junit.xml");
        File.WriteAllText(path, failed.JUnitXml());
        var c = Suites.Totals.Read(path);
        Assert.That((c.Passed, c.Failed, c.Skipped), Is.EqualTo((2, 1, 1)),
            "warnings pass in JUnit; the finding is in system-out");
        File.Delete(path);
        Assert.That(failed.Table(), Does.Contain("FAIL p1 a: s").And.Contain("overall: fail (exit 1)"));
        Assert.That(failed.ToJson(), Does.Contain("\"overall\": \"Fail\""));
    }
}
