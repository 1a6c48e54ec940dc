using Toolkit.Reports;
using Toolkit.Suites;
using Toolkit.Vm;
using static Toolkit.Suites.LiburingSuite;
using static Toolkit.Suites.RegressionReport;

namespace Toolkit.Tests;

/// <summary>
/// `liburing-suite --reference-scope failures` without a VM: which tests the reference runs, that the verdicts are
/// those of a full run, the usage errors, and how the reports show the tests the reference left out. Kernel runs
/// are faked as in LiburingSuiteTests: results built by hand, and a fake runner standing in for RunKernel.
/// </summary>
public class LiburingReferenceScopeTests
{
    static readonly string[] Two = ["baseline", "patched"];

    /// <summary>Every per-test state a kernel can report, and "no result" (null).</summary>
    static readonly (string Name, Outcome? Outcome, string? Message)[] States =
    [
        ("pass", Outcome.Pass, null), ("skip", Outcome.Skip, "Skipping"), ("fail", Outcome.Fail, "exit 1"),
        ("splat", Outcome.Fail, "kernel WARNING during the test"), ("hang", Outcome.Timeout, "timed out"),
        ("crash", Outcome.Crash, "crashed the kernel"), ("none", null, null),
    ];

    static TestCaseResult R(string name, Outcome o, string? message = null, string suite = "liburing") =>
        new(suite, name, o, 1, message);

    static GuestHarness.CTest T(string name, string suite = "liburing") => new(suite, $"/x/{name}.t", 60);

    static KernelRun Ran(string kernel, params TestCaseResult[] results) => new(kernel, results, [], 1, null);

    [Test]
    public void TheReferenceRunsWhatFailedHungCrashedSplattedOrHasNoResultElsewhere()
    {
        var tests = States.Select(s => T(s.Name)).ToList();
        var patched = States.Where(s => s.Outcome != null).Select(s => R(s.Name, s.Outcome!.Value, s.Message))
            .ToList();
        var chosen = ReferenceTests(tests, [patched]).Select(t => GuestHarness.TestName(t.Path));
        Assert.That(chosen, Is.EqualTo(new[] { "fail", "splat", "hang", "crash", "none" }), "in run order");
    }

    [Test]
    public void AFailureOnAnyNonReferenceKernelChoosesTheTestAndTheLastResultWins()
    {
        var tests = new[] { T("debug-only"), T("fine"), T("resumed"), T("own", "liburing-tests") };
        var patched = new[] { R("debug-only", Outcome.Pass), R("fine", Outcome.Pass), R("resumed", Outcome.Fail),
            R("resumed", Outcome.Pass), R("own", Outcome.Skip, suite: "liburing-tests") };
        var debug = new[] { R("debug-only", Outcome.Fail, "kernel lockdep during the test"), R("fine", Outcome.Skip),
            R("resumed", Outcome.Pass), R("own", Outcome.Pass, suite: "liburing-tests") };
        Assert.That(ReferenceTests(tests, [patched, debug]).Select(t => t.Path),
            Is.EqualTo(new[] { "/x/debug-only.t" }));
        // The same name in another suite is another test: a liburing "own" failing does not choose liburing-tests'.
        Assert.That(ReferenceTests([T("own", "liburing-tests")], [[R("own", Outcome.Fail)]]),
            Has.Count.EqualTo(1), "no result for liburing-tests/own");
        Assert.That(ReferenceTests([T("own", "liburing-tests")],
            [[R("own", Outcome.Fail), R("own", Outcome.Pass, suite: "liburing-tests")]]), Is.Empty);
    }

    [Test]
    public void ScopeAllRunsEveryKernelOnEverythingReferenceFirst()
    {
        var calls = new List<(string Kernel, int Tests)>();
        var (runs, notRun) = RunKernels(Two, ReferenceScope.All, [T("a"), T("b")], (k, list) =>
        {
            calls.Add((k, list.Count));
            return Ran(k, [.. list.Select(t => R(GuestHarness.TestName(t.Path), Outcome.Fail))]);
        });
        Assert.That(calls, Is.EqualTo(new[] { ("baseline", 2), ("patched", 2) }));
        Assert.That(runs.Select(r => r.Kernel), Is.EqualTo(Two));
        Assert.That(notRun, Is.Empty);
    }

    [Test]
    public void ScopeFailuresRunsTheOthersFirstThenTheReferenceOnTheirFailuresOnly()
    {
        var calls = new List<(string Kernel, string[] Tests)>();
        var (runs, notRun) = RunKernels(["baseline", "patched", "debug"], ReferenceScope.Failures,
            [T("ok"), T("bad-on-patched"), T("bad-on-debug"), T("wobbly")], (k, list) =>
            {
                calls.Add((k, [.. list.Select(t => GuestHarness.TestName(t.Path))]));
                return Ran(k, [.. list.Select(t => GuestHarness.TestName(t.Path)).Select(n =>
                    R(n, n == $"bad-on-{k}" || n == "wobbly" && k == "patched" ? Outcome.Timeout : Outcome.Pass))]);
            });
        Assert.That(calls.Select(c => c.Kernel), Is.EqualTo(new[] { "patched", "debug", "baseline" }));
        Assert.That(calls[2].Tests, Is.EqualTo(new[] { "bad-on-patched", "bad-on-debug", "wobbly" }),
            "a failing test runs on the reference whether or not it is on the flaky list");
        Assert.That(runs.Select(r => r.Kernel), Is.EqualTo(new[] { "baseline", "patched", "debug" }),
            "kernel order, as the comparison reads them");
        Assert.That(notRun, Is.EquivalentTo(new[] { "liburing/ok" }));
    }

    [Test]
    public void ScopeFailuresDoesNotBootTheReferenceWhenEverythingElsePassedOrSkipped()
    {
        var calls = new List<string>();
        var (runs, notRun) = RunKernels(Two, ReferenceScope.Failures, [T("a"), T("b")], (k, list) =>
        {
            calls.Add(k);
            return Ran(k, R("a", Outcome.Pass), R("b", Outcome.Skip));
        });
        Assert.That(calls, Is.EqualTo(new[] { "patched" }));
        Assert.That((runs[0].Kernel, runs[0].Boots.Count, runs[0].Results.Count), Is.EqualTo(("baseline", 0, 0)));
        Assert.That(notRun, Is.EquivalentTo(new[] { "liburing/a", "liburing/b" }));
    }

    /// <summary>
    /// Every pair of reference and patched states, on and off the flaky list: the partial run (the reference's
    /// result only where the selection asks for it) gives each test the verdict the full run gives.
    /// </summary>
    [TestCase(false), TestCase(true)]
    public void APartialReferenceGivesTheVerdictsOfAFullRun(bool listedFlaky)
    {
        var pairs = (from b in States from p in States select (Name: $"{b.Name}-{p.Name}", b, p)).ToList();
        static IEnumerable<TestCaseResult> Side(IEnumerable<(string Name, (string, Outcome? Outcome, string? Message)
            State)> side) => side.Where(x => x.State.Outcome != null)
            .Select(x => R(x.Name, x.State.Outcome!.Value, x.State.Message));
        var baseline = Side(pairs.Select(x => (x.Name, x.b))).ToList();
        var patched = Side(pairs.Select(x => (x.Name, x.p))).ToList();
        var flaky = listedFlaky ? pairs.Select(x => $"liburing/{x.Name}").ToHashSet() : [];
        var full = Compare(Two, new Dictionary<string, IReadOnlyList<TestCaseResult>>
        { ["baseline"] = baseline, ["patched"] = patched }, flaky);

        var tests = pairs.Select(x => T(x.Name)).ToList();
        var chosen = ReferenceTests(tests, [patched]).Select(t => GuestHarness.TestName(t.Path)).ToHashSet();
        var notRun = pairs.Where(x => !chosen.Contains(x.Name)).Select(x => $"liburing/{x.Name}").ToHashSet();
        var partial = Compare(Two, new Dictionary<string, IReadOnlyList<TestCaseResult>>
        {
            ["baseline"] = [.. baseline.Where(r => chosen.Contains(r.Name))],
            ["patched"] = patched,
        }, flaky, notRun);

        Assert.That(notRun, Has.Count.EqualTo(2 * States.Length), "pass or skip on patched, any reference state");
        var verdicts = partial.Rows.ToDictionary(r => r.Name, r => r.Verdict);
        foreach (var r in full.Rows)
            Assert.That(verdicts.GetValueOrDefault(r.Name), Is.EqualTo(r.Verdict), r.Name);
        Assert.That(partial.Rows.Select(r => r.Name), Is.EquivalentTo(full.Rows.Select(r => r.Name)),
            "a test no kernel reported is in neither");
        Assert.That(partial.Rows.Where(r => r.ReferenceNotRun).Select(r => r.Key), Is.EquivalentTo(notRun));
        Assert.That(partial.Counting.Select(r => r.Key), Is.EquivalentTo(full.Counting.Select(r => r.Key)));
        Assert.That(partial.Failed, Is.EqualTo(!listedFlaky));
    }

    [Test]
    public void FlakyListedFailuresAreNotRerunOnTheReferenceAndStillDoNotCount()
    {
        var tests = new[] { T("slow"), T("bad"), T("fine") };
        var flaky = new HashSet<string> { "liburing/slow", "liburing/fine" };
        var reran = new List<string>();
        var (runs, notRun) = RunKernels(Two, ReferenceScope.Failures, tests, (k, list) =>
        {
            if (k == "baseline") reran.AddRange(list.Select(t => GuestHarness.TestName(t.Path)));
            return k == "patched"
                ? Ran(k, R("slow", Outcome.Timeout, "timed out"), R("bad", Outcome.Fail, "exit 1"),
                    R("fine", Outcome.Pass))
                : Ran(k, [.. list.Select(t => R(GuestHarness.TestName(t.Path), Outcome.Pass))]);
        }, flaky);
        Assert.That(reran, Is.EqualTo(new[] { "bad" }), "a flaky-listed hang costs its timeout once, not twice");

        var c = Compare(Two, runs.ToDictionary(r => r.Kernel, r => r.Results), flaky, notRun);
        var slow = c.Rows.Single(r => r.Name == "slow");
        Assert.That((slow.Verdict, slow.ReferenceNotRun, slow.Counts), Is.EqualTo((Verdict.Flaky, true, false)));
        Assert.That(slow.Note, Is.EqualTo("on the flaky list, not run on baseline: timeout on patched"));
        Assert.That(c.Counting.Select(r => r.Key), Is.EqualTo(new[] { "liburing/bad" }));
        Assert.That(Table(c), Does.Contain("1 not run on baseline (passed elsewhere)")
            .And.Contain("1 flaky-listed not run on baseline"));
    }

    [Test]
    public void NoResultOnANonReferenceKernelIsStillARegression()
    {
        // "gone" has no result on patched, so the reference ran it; passing there makes it a regression.
        var (runs, notRun) = RunKernels(Two, ReferenceScope.Failures, [T("ok"), T("gone")], (k, list) =>
            k == "patched" ? Ran(k, R("ok", Outcome.Pass))
                : Ran(k, [.. list.Select(t => R(GuestHarness.TestName(t.Path), Outcome.Pass))]));
        var c = Compare(Two, runs.ToDictionary(r => r.Kernel, r => r.Results), new HashSet<string>(), notRun);
        var gone = c.Rows.Single(r => r.Name == "gone");
        Assert.That((gone.Verdict, gone.ReferenceNotRun), Is.EqualTo((Verdict.Regression, false)));
        Assert.That(gone.Note, Does.Contain("no result on patched"));
        Assert.That(c.Rows.Single(r => r.Name == "ok").Verdict, Is.EqualTo(Verdict.Ok));
    }

    [Test]
    public void ANotRunKeyForATestThatFailedElsewhereIsJudgedAsAMissingResult()
    {
        // Only a test fine on every other kernel can be left out; a wrong set must not hide a failure as "ok".
        var c = Compare(Two, new Dictionary<string, IReadOnlyList<TestCaseResult>>
        { ["baseline"] = [], ["patched"] = [R("x", Outcome.Fail)] }, new HashSet<string>(), new HashSet<string>
        { "liburing/x" });
        var x = c.Rows.Single();
        Assert.That((x.Verdict, x.ReferenceNotRun), Is.EqualTo((Verdict.FailsOnReference, false)));
        Assert.That(x.Note, Is.EqualTo("no result on baseline too"));
    }

    [Test]
    public void FailuresWithOneKernelIsAUsageErrorBeforeAnythingRuns()
    {
        var e = Assert.Throws<ToolkitException>(() => LiburingSuite.Run(new Options
        {
            Kernels = ["patched"],
            ReferenceScope = ReferenceScope.Failures,
            Images = new Dictionary<string, string> { ["patched"] = "/nonexistent/bzImage" },
        }, TextWriter.Null))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage), "before the missing image (236) is noticed");
        Assert.That(e.Message, Does.Contain("--reference-scope failures").And.Contain("--kernels patched"));
    }

    [TestCase("liburing-suite --kernels patched --reference-scope failures", "needs a reference")]
    [TestCase("liburing-suite --reference-scope sometimes", "'sometimes'")]
    [TestCase("liburing-suite --reference-scope", "--reference-scope")]
    public void BadScopesExit2OnTheCommandLine(string args, string message)
    {
        var saved = Console.Error;
        var err = new StringWriter();
        Console.SetError(err);
        int code;
        try { code = Cli.Run(args.Split(' ')); }
        finally { Console.SetError(saved); }
        Assert.That(code, Is.EqualTo(ExitCodes.Usage), err.ToString());
        Assert.That(err.ToString(), Does.StartWith("toolkit: ").And.Contain(message)
            .And.Not.Contain("does not build"), "a usage error is not reported as liburing's build failing");
    }

    [Test]
    public void TheScopeParsesAndDefaultsToAll()
    {
        Assert.That(ParseReferenceScope("all"), Is.EqualTo(ReferenceScope.All));
        Assert.That(ParseReferenceScope(" failures "), Is.EqualTo(ReferenceScope.Failures));
        Assert.That(new Options { Kernels = Two }.ReferenceScope, Is.EqualTo(ReferenceScope.All));
        Assert.That(LiburingSuite.Command().Parse("").GetValue<string>("--reference-scope"), Is.EqualTo("all"));
    }

    /// <summary>A baseline that ran "both" and "fixed" only, beside a patched kernel that ran everything.</summary>
    static Comparison Partial() => Compare(Two, new Dictionary<string, IReadOnlyList<TestCaseResult>>
    {
        ["baseline"] = [R("both", Outcome.Fail, "exit 1"), R("gone", Outcome.Pass)],
        ["patched"] = [R("ok", Outcome.Pass), R("absent", Outcome.Skip, "no feature"), R("both", Outcome.Timeout)],
    }, new HashSet<string>(), new HashSet<string> { "liburing/ok", "liburing/absent" });

    [Test]
    public void TheTableCountsNotRunTestsWithoutListingThemAsMissing()
    {
        var c = Partial();
        var table = Table(c);
        Assert.That(table, Does.Contain("liburing/both").And.Contain("fails on reference too"));
        Assert.That(table, Does.Contain("liburing/gone").And.Contain("REGRESSION"), "no result on patched counts");
        Assert.That(table, Does.Not.Contain("liburing/ok ").And.Not.Contain("liburing/absent"),
            "a left-out test is a plain pass/skip elsewhere");
        Assert.That(table, Does.Contain(
            "baseline: 2 run, 1 passed, 0 skipped, 1 failed, 0 hung, 0 crashed; 2 not run (passed or skipped on " +
            "every other kernel)"));
        Assert.That(table, Does.EndWith("1 failing on baseline too; 2 not run on baseline (passed elsewhere)"));

        var all = Table(c, allRows: true).Split('\n');
        Assert.That(all.Single(l => l.StartsWith("liburing/ok ", StringComparison.Ordinal)),
            Does.Match(@"^liburing/ok\s+not run\s+pass\s+ok \(not run on baseline \(passed elsewhere\)\)$"));
        Assert.That(all.Single(l => l.StartsWith("liburing/absent", StringComparison.Ordinal)),
            Does.Match(@"not run\s+skip\s+ok \(not run on baseline \(skipped elsewhere\)\)$"));
    }

    [Test]
    public void TheGateShowsNotRunTestsAsNotRunNeverAsFailures()
    {
        var cases = GateResults(Partial()).SelectMany(s => s.Tests).ToDictionary(t => t.Name);
        Assert.That(cases["ok"].Outcome, Is.EqualTo(Outcome.Pass));
        Assert.That(cases["ok"].Output, Is.EqualTo("not run on baseline (passed elsewhere) [baseline: not run, " +
            "patched: pass]"), "a passed JUnit case shows its output, not its message");
        Assert.That(cases["absent"].Outcome, Is.EqualTo(Outcome.Skip));
        Assert.That(cases["absent"].Message, Does.StartWith("not run on baseline (skipped elsewhere)"));
        Assert.That(cases["both"].Outcome, Is.EqualTo(Outcome.Skip));
        Assert.That(cases["gone"].Outcome, Is.EqualTo(Outcome.Fail));
    }

    static VmResult Vm(string dir) => new(0, "guest exited 0", 0, dir, Path.Combine(dir, "console.log"), 1, 10,
        "tcg", null, [], "7.3.4-patched");

    [Test]
    public void EveryReportNamesTheScopeAndShowsNotRunTests()
    {
        var dir = Directory.CreateTempSubdirectory("lref-reports-").FullName;
        try
        {
            var c = Partial();
            var runs = new List<KernelRun>
            {
                new("baseline", [R("both", Outcome.Fail, "exit 1"), R("gone", Outcome.Pass)],
                    [new Boot("baseline", 1, 2, Vm(dir), null)], 20, null),
                new("patched", [R("ok", Outcome.Pass), R("absent", Outcome.Skip), R("both", Outcome.Timeout)],
                    [new Boot("patched", 1, 3, Vm(dir), null)], 30, null),
            };
            var o = new Options { Kernels = Two, ReferenceScope = ReferenceScope.Failures };
            var output = new StringWriter();
            var exit = WriteReports(o, dir, "--only", runs, c, [], output);
            Assert.That(exit, Is.EqualTo(ExitCodes.Failed), "gone is a regression");
            string Read(string f) => File.ReadAllText(Path.Combine(dir, f));
            const string scope = "reference scope failures: baseline ran 2 of 4 test(s)";
            Assert.That(Read("summary.txt"), Does.Contain(scope).And.Contain("2 not run there"));
            Assert.That(output.ToString(), Does.Contain(scope));
            Assert.That(Read("gate.ktap"), Does.Contain(scope).And.Contain(
                "# output: not run on baseline (passed elsewhere) [baseline: not run, patched: pass]"));
            Assert.That(Read("gate.junit.xml"), Does.Contain("<property name=\"reference-scope\" value=\"failures\" />")
                .And.Contain("<system-out>not run on baseline (passed elsewhere)")
                .And.Contain("<skipped message=\"not run on baseline (skipped elsewhere)"));
            Assert.That(Read("junit.xml"), Does.Contain("<property name=\"reference-not-run\" value=\"2\" />"));
            Assert.That(Read("results.ktap"), Does.Contain(scope));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void AReferenceThatWasNotBootedSaysSo()
    {
        var dir = Directory.CreateTempSubdirectory("lref-reports-").FullName;
        try
        {
            var patched = new[] { R("ok", Outcome.Pass) };
            var c = Compare(Two, new Dictionary<string, IReadOnlyList<TestCaseResult>>
            { ["baseline"] = [], ["patched"] = patched }, new HashSet<string>(), new HashSet<string> { "liburing/ok" });
            var runs = new List<KernelRun>
            {
                new("baseline", [], [], 0, null),
                new("patched", patched, [new Boot("patched", 1, 1, Vm(dir), null)], 30, null),
            };
            var output = new StringWriter();
            var exit = WriteReports(new Options { Kernels = Two, ReferenceScope = ReferenceScope.Failures }, dir,
                "--only", runs, c, [], output);
            Assert.That(exit, Is.EqualTo(ExitCodes.Ok));
            Assert.That(output.ToString(), Does.Contain("baseline ran 0 of 1 test(s)")
                .And.Contain("baseline: not booted (reference scope failures: every test passed or skipped on patched)")
                .And.Contain("(every test passed or skipped on every kernel that ran it)"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void ScopeAllSaysSoAndLeavesTheReportAsBefore()
    {
        var dir = Directory.CreateTempSubdirectory("lref-reports-").FullName;
        try
        {
            var results = new[] { R("ok", Outcome.Pass) };
            var c = Compare(Two, new Dictionary<string, IReadOnlyList<TestCaseResult>>
            { ["baseline"] = results, ["patched"] = results }, new HashSet<string>());
            var runs = Two.Select(k => new KernelRun(k, results, [new Boot(k, 1, 1, Vm(dir), null)], 1, null)).ToList();
            var output = new StringWriter();
            WriteReports(new Options { Kernels = Two }, dir, "--only", runs, c, [], output);
            Assert.That(output.ToString(), Does.Contain("reference kernel baseline; reference scope all\n")
                .And.Contain("(every test passed or skipped on every kernel)").And.Not.Contain("not run"));
        }
        finally { Directory.Delete(dir, true); }
    }
}
