using Toolkit.Liburing;
using Toolkit.Reports;
using Toolkit.Suites;
using Toolkit.Vm;
using static Toolkit.Suites.RegressionReport;

namespace Toolkit.Tests;

/// <summary>
/// The liburing-suite gate's pure parts: the regression comparison and the two reviewed list files; one test
/// (category `liburing`) reads liburing's real test/Makefile from the cached source.
/// </summary>
public class LiburingSuiteTests
{
    static TestCaseResult R(string name, Outcome o, string? message = null, string suite = "liburing") => new(suite,
        name, o, 1, message);

    static Comparison Compare(string[] kernels, IEnumerable<TestCaseResult>[] results, params string[] flaky) =>
        RegressionReport.Compare(kernels, kernels.Select((k, i) => (k,
            (IReadOnlyList<TestCaseResult>)results[i].ToList())).ToDictionary(x => x.k, x => x.Item2),
            flaky.ToHashSet());

    static Verdict VerdictOf(Comparison c, string name) => c.Rows.Single(r => r.Name == name).Verdict;

    [Test]
    public void PassOnBaselineThenFailHangCrashOrSplatIsARegression()
    {
        var c = Compare(["baseline", "patched"],
        [
            [R("ok", Outcome.Pass), R("fail", Outcome.Pass), R("hang", Outcome.Pass), R("crash", Outcome.Pass),
                R("splat", Outcome.Pass), R("gone", Outcome.Pass)],
            [R("ok", Outcome.Pass), R("fail", Outcome.Fail, "exit 1"), R("hang", Outcome.Timeout), R("crash",
                Outcome.Crash), R("splat", Outcome.Fail, "kernel WARNING during the test")],
        ]);
        Assert.That(VerdictOf(c, "ok"), Is.EqualTo(Verdict.Ok));
        foreach (var n in new[] { "fail", "hang", "crash", "splat", "gone" })
            Assert.That(VerdictOf(c, n), Is.EqualTo(Verdict.Regression), n);
        Assert.That(c.Failed, Is.True);
        Assert.That(c.Rows.Single(r => r.Name == "gone").Note, Does.Contain("no result on patched"));
        var table = Table(c);
        Assert.That(table,
            Does.Contain("HANG").And.Contain("CRASH").And.Contain("SPLAT").And.Contain("5 regression(s)"));
        Assert.That(table, Does.Not.Contain("liburing/ok "), "plain passes stay out of the table");
    }

    [Test]
    public void FailingOnBaselineTooOrFixedIsNotARegression()
    {
        var c = Compare(["baseline", "patched"],
        [
            [R("both", Outcome.Fail), R("fixed", Outcome.Timeout), R("skip", Outcome.Skip), R("skipfail",
                Outcome.Skip)],
            [R("both", Outcome.Timeout), R("fixed", Outcome.Pass), R("skip", Outcome.Skip), R("skipfail",
                Outcome.Fail)],
        ]);
        Assert.That(VerdictOf(c, "both"), Is.EqualTo(Verdict.FailsOnReference));
        Assert.That(VerdictOf(c, "fixed"), Is.EqualTo(Verdict.Ok));
        Assert.That(VerdictOf(c, "skip"), Is.EqualTo(Verdict.Ok));
        // A skip on baseline is usually "feature absent": failing once the feature exists is what the gate is for.
        Assert.That(VerdictOf(c, "skipfail"), Is.EqualTo(Verdict.Regression));
        Assert.That(c.Counting.Select(r => r.Name), Is.EqualTo(new[] { "skipfail" }));
    }

    [Test]
    public void FlakyTestsAreReportedButDoNotCount()
    {
        var c = Compare(["baseline", "patched"],
            [[R("wobbly", Outcome.Pass), R("own", Outcome.Pass, suite: "liburing-tests")], [R("wobbly",
                Outcome.Timeout), R("own", Outcome.Fail, suite: "liburing-tests")]],
            "liburing/wobbly");
        Assert.That(VerdictOf(c, "wobbly"), Is.EqualTo(Verdict.Flaky));
        Assert.That(VerdictOf(c, "own"), Is.EqualTo(Verdict.Regression), "the flaky key is per suite");
        Assert.That(Table(c), Does.Contain("flaky (listed)"));
        var gate = GateResults(c);
        var cases = gate.SelectMany(s => s.Tests).ToDictionary(t => t.Name);
        Assert.That(cases["wobbly"].Outcome, Is.EqualTo(Outcome.Skip), "CI shows the flaky failure without failing");
        Assert.That(cases["wobbly"].Message, Does.Contain("flaky").And.Contain("patched: HANG"));
        Assert.That(cases["own"].Outcome, Is.EqualTo(Outcome.Fail));
        Assert.That(gate.Select(s => s.Name), Is.EqualTo(new[] { "liburing (gate)", "liburing-tests (gate)" }));
    }

    [Test]
    public void ASingleKernelRunCountsEveryFailure()
    {
        var c = Compare(["patched"], [[R("a", Outcome.Pass), R("b", Outcome.Fail), R("c", Outcome.Skip), R("d",
            Outcome.Crash)]], "liburing/d");
        Assert.That(c.Counting.Select(r => (r.Name, r.Verdict)), Is.EqualTo(new[] { ("b", Verdict.Failure) }));
        Assert.That(VerdictOf(c, "d"), Is.EqualTo(Verdict.Flaky));
        Assert.That(Table(c), Does.Contain("1 failure(s): liburing/b"));
    }

    [Test]
    public void ThreeKernelsCompareEachAgainstTheFirst()
    {
        var c = Compare(["baseline", "patched", "debug"],
            [[R("a", Outcome.Pass), R("b", Outcome.Pass)], [R("a", Outcome.Pass), R("b", Outcome.Pass)], [R("a",
                Outcome.Fail, "kernel lockdep during the test"), R("b", Outcome.Pass)]]);
        Assert.That(c.Counting.Single().Note, Is.EqualTo("pass on baseline, fail on debug"));
        Assert.That(Table(c), Does.Contain("debug: 2 run, 1 passed, 0 skipped, 1 failed"));
    }

    [Test]
    public void ListFileEntriesNeedANameAndAReason()
    {
        var entries = TestListFile.Parse(
            "# comment\n\nmsg-ring   MSG_RING between rings\r\nsq-full.t\tSQ ring " +
                "layout\nliburing-tests/cq-user-word flaky: 3 of 3\n", "x.txt");
        Assert.That(entries.Select(e => (e.Key, e.Reason, e.Line)), Is.EqualTo(new[]
        {
            ("liburing/msg-ring", "MSG_RING between rings", 3),
            ("liburing/sq-full", "SQ ring layout", 4),
            ("liburing-tests/cq-user-word", "flaky: 3 of 3", 5),
        }));
        Assert.That(TestListFile.Parse("", "empty.txt"), Is.Empty);
    }

    [TestCase("msg-ring\n", "x.txt:1: 'msg-ring' has no reason")]
    [TestCase("# c\nmsg-ring  a\nmsg-ring.t  b\n", "x.txt:3: 'msg-ring' is listed twice (first on line 2)")]
    [TestCase("a/b/c  why\n", "is not a test name")]
    [TestCase("/x  why\n", "is not a test name")]
    [TestCase("liburing:1:x  why\n", "is not a test name")]
    public void MalformedListFileLinesAreUsageErrors(string text, string message)
    {
        var e = Assert.Throws<ToolkitException>(() => TestListFile.Parse(text, "x.txt"))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void MissingListFileIsAUsageError()
    {
        var e = Assert.Throws<ToolkitException>(() => TestListFile.Load("/nonexistent/flaky.txt"))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage));
    }

    [Test]
    public void CommittedFlakyListParsesAndEveryEntryHasEvidence()
    {
        foreach (var e in TestListFile.Load(LiburingSuite.FlakyFile))
            Assert.That(e.Reason,
                Does.Match(@"\d+ of \d+").And.Contain(
                    "artifacts/runs/"), $"{e.Key}: a flaky entry gives counts and run directories");
    }

    /// <summary>The brief of the subset: every test touching these areas must be in it.</summary>
    [TestCase("msg-ring"), TestCase("msg-ring-fd"), TestCase("msg-ring-flags"), TestCase("msg-ring-overflow"),
        TestCase("fd-pass")]
    [TestCase("cq-overflow"), TestCase("cq-full"), TestCase("cq-size"), TestCase("sq-full"),
        TestCase("no-mmap-inval"), TestCase("resize-rings")]
    [TestCase("defer-taskrun"), TestCase("sq-poll-share"), TestCase("sqpoll-sleep"), TestCase("reg-reg-ring"),
        TestCase("reg-fd-only")]
    [TestCase("register-restrictions"), TestCase("link"), TestCase("link-timeout"), TestCase("poll-mshot-overflow"),
        TestCase("recv-multishot"), TestCase("read-mshot")]
    public void CommittedSubsetHoldsTheRequiredAreas(string name)
    {
        var subset = TestListFile.Load(LiburingSuite.SubsetFile);
        Assert.That(subset.Select(e => e.Name), Does.Contain(name));
        Assert.That(subset.All(e => e.Suite == LiburingSuite.Suite), "the subset names liburing's own tests only");
    }

    [Test, Category("liburing")]
    public void CommittedSubsetNamesRealLiburingTests()
    {
        // The same cached, patched liburing source the suite copies and builds; Ensure builds it once if missing.
        var makefile = LiburingSuite.TestMakefile(LiburingBuild.Ensure(log: TestContext.Progress));
        var known = LiburingSuite.MakefileTests(File.ReadAllText(makefile));
        Assert.That(known, Has.Count.GreaterThan(250), "liburing 2.15 has 255 tests (2.9: 201)");
        var unknown = TestListFile.Load(LiburingSuite.SubsetFile).Select(e => e.Name).Where(n =>
            !known.Contains(n)).ToList();
        Assert.That(unknown, Is.Empty);
    }

    [Test]
    public void MakefileTestListIsReadFromTestSrcs()
    {
        const string makefile =
            "LDFLAGS ?=\n\n# Please keep this list sorted alphabetically.\ntest_srcs := \\\n\t232c93d07b74.c " +
                "\\\n\taccept-link.c \\\n" +
            "\tsq-full-cpp.cc \\\n\tsq_poll.c \\\n\t# EOL\n\nasan_test_srcs := \\\n\tother.c \\\n\t# EOL\n" +
            "ifeq ($(CONFIG_NOLIBC),y)\n\ttest_srcs += nolibc.c\nendif\nifdef CONFIG_HAVE_STATX\n\ttest_srcs += " +
                "statx.c\nelse\n\ttest_srcs += statx.c\nendif\n";
        Assert.That(LiburingSuite.MakefileTests(makefile), Is.EqualTo(new[] { "232c93d07b74", "accept-link",
            "sq-full-cpp", "sq_poll", "nolibc", "statx" }));
        Assert.That(LiburingSuite.MakefileConditional(makefile), Is.EqualTo(new[] { "nolibc", "statx", "statx" }));
    }

    [TestCase("baseline,patched", new[] { "baseline", "patched" })]
    [TestCase(" patched ", new[] { "patched" })]
    [TestCase("baseline,patched,debug", new[] { "baseline", "patched", "debug" })]
    public void KernelListParses(string value, string[] expected) => Assert.That(LiburingSuite.ParseKernels(value),
        Is.EqualTo(expected));

    [TestCase(""), TestCase("baseline,baseline"), TestCase("baseline,vanilla")]
    public void BadKernelListIsAUsageError(string value) =>
        Assert.That(Assert.Throws<ToolkitException>(() => LiburingSuite.ParseKernels(value))!.ExitCode,
            Is.EqualTo(ExitCodes.Usage));

    [TestCase(ExitCodes.MissingDependency, "the liburing 2.15 source is not available")]
    [TestCase(ExitCodes.BuildFailed, "liburing 2.15 (the source of its test suite) does not build")]
    [TestCase(ExitCodes.PatchDoesNotApply, "does not build")]
    public void LiburingSourceProblemsGetAMessageAndACode(int code, string message)
    {
        var e = Assert.Throws<ToolkitException>(() => LiburingSuite.WithLiburingErrors(() =>
            throw new ToolkitException(code, "apt-get source liburing=2.15-1 failed")))!;
        Assert.That(e.ExitCode, Is.EqualTo(code));
        Assert.That(e.Message, Does.StartWith(message).Or.Contain(message));
        Assert.That(e.Message, Does.Contain("apt-get source"), "the underlying reason is kept");
    }

    [Test]
    public void XfailTestsFollowLiburingsConvention()
    {
        Assert.That(new GuestHarness.CTest("liburing", "/x/xfail_register_buffers_out_of_scope.t", 60).ExpectsExit1,
            Is.True);
        Assert.That(new GuestHarness.CTest("liburing", "/x/link.t", 60).ExpectsExit1, Is.False);
        Assert.That(GuestHarness.TestName("/x/link.t"), Is.EqualTo("link"));
        Assert.That(GuestHarness.TestName("/x/cq-user-word"), Is.EqualTo("cq-user-word"));
        var t = GuestHarness.CTest.Parse("liburing:300:/a/b:c.t");
        Assert.That((t.Suite, t.TimeoutSeconds, t.Path), Is.EqualTo(("liburing", 300.0, "/a/b:c.t")));
        Assert.That(GuestHarness.CTest.Parse(t.Spec), Is.EqualTo(t));
        Assert.That(Assert.Throws<ToolkitException>(() => GuestHarness.CTest.Parse("liburing:soon:/a"))!.ExitCode,
            Is.EqualTo(ExitCodes.Usage));
    }
}
