using Toolkit.Suites;
using Toolkit.Vm;

namespace Toolkit.Tests;

/// <summary>
/// The guest/host results contract: what the guest streams (committed samples in fixtures/ktap/) reads
/// back through the one parser, a torn last line is tolerated and reported, a bad line elsewhere is an
/// error naming it, and a crash is blamed on the test the console announced last.
/// </summary>
public class KtapContractTests
{
    static string Fixture(string run, string file) =>
        TestPaths.Fixture(Path.Combine("ktap", run), file);

    [Test]
    public void CleanRunReadsBackEveryResult()
    {
        var (all, problems) = GuestRun.Read(Fixture("clean", "guest.ktap"), Fixture("clean", "validation.ktap"));
        Assert.That(problems, Is.Empty);
        Assert.That(all.Select(r => (r.Suite, r.Outcome)), Is.EqualTo(new[]
        {
            ("liburing-tests", Outcome.Pass), ("liburing-tests", Outcome.Pass), ("liburing-tests", Outcome.Skip),
            ("liburing-tests", Outcome.Fail), ("validation", Outcome.Pass), ("validation", Outcome.Fail),
            ("validation", Outcome.Timeout), ("validation", Outcome.Skip),
        }));
        var word = all[0];
        Assert.That(word.Seconds, Is.EqualTo(10.896));
        Assert.That(word.Output, Is.EqualTo("word at cq offset 48, on cq.tail's line\n\ncq-user-word: ok"));
        Assert.That(all[2].Message, Is.EqualTo("kernel has no IORING_SETUP_NO_MMAP"), "the SKIP directive's reason");
        Assert.That(all[3].Message, Does.Contain("is missing"));
        Assert.That(all[5].Message, Is.EqualTo("Expected: 1\n  But was:  0\n" +
            "   at IoUring.Validation.BaselineTests.MsgRingDelivers() in BaselineTests.cs:line 40"));
        Assert.That(all[6].Name, Is.EqualTo("IoUring.Validation.CqWordWakeupTests.MillionHandoffs"));
        Assert.That(all[7].Name, Is.EqualTo("IoUring.Validation.CqUserWordTests.FeatureBit"),
            "the restarted runner carried on");
    }

    [Test]
    public void TornLastLineIsDroppedAndReported()
    {
        var r = Ktap.ReadResults(Fixture("torn", "guest.ktap"));
        Assert.That(r.Tests.Select(t => t.Name), Is.EqualTo(new[] { "cq-user-word" }),
            "the test being written is not a result");
        Assert.That(r.TornLine, Is.EqualTo("    # output: cfla"));
        Assert.That(r.OpenSuites, Is.EqualTo(new[] { "liburing-tests" }));
        var problem = r.Problem("guest.ktap");
        Assert.That(problem, Does.Contain("(line 8) is torn").And.Contain("liburing-tests never finished"));
        var (_, problems) = GuestRun.Read(Fixture("torn", "guest.ktap"));
        Assert.That(problems, Has.Count.EqualTo(1), "the host reports it");
    }

    [Test]
    public void MalformedLineBeforeTheEndIsAnErrorNamingIt()
    {
        var text = File.ReadAllText(Fixture("clean", "guest.ktap"))
            .Replace("    ok 2 cqe-target\n", "    ok 2 cqe-target\n{\"Suite\":\"x\"}\n");
        var e = Assert.Throws<FormatException>(() => Ktap.ParseResults(text, "guest.ktap"))!;
        Assert.That(e.Message, Does.StartWith("guest.ktap:11: not a KTAP line").And.Contain("{\"Suite\""));
        var file = Path.Combine(Path.GetTempPath(), $"malformed-{Guid.NewGuid():N}.ktap");
        File.WriteAllText(file, text);
        try
        {
            var te = Assert.Throws<ToolkitException>(() => GuestRun.Read(file))!;
            Assert.That(te.ExitCode, Is.EqualTo(ExitCodes.Usage));
            Assert.That(te.Message, Does.Contain(":11:"));
        }
        finally { File.Delete(file); }
    }

    [Test]
    public void CrashIsAttributedToTheRunningTest()
    {
        var (all, problems) = GuestRun.Read(Fixture("crashed", "guest.ktap"));
        Assert.That(problems.Single(), Does.Contain("liburing-tests never finished"));
        var console = Fixture("crashed", "console.log");
        var analysis = ConsoleAnalyzer.Analyze(File.ReadAllLines(console));
        var options = new VmOptions { KernelImage = "x", Command = ["x"] };
        var (code, outcome) = VmRunner.Classify(null, analysis, null, analysis.Splats.Count, 0, "", options);
        Assert.That(code, Is.EqualTo(ExitCodes.KernelPanic));
        var vm = new VmResult(code, outcome, null, Path.GetDirectoryName(console)!, console, 3, 43, "tcg",
            analysis.Panic, analysis.Splats, null);
        GuestRun.AttributeInterruptedTest(all, vm);
        Assert.That(all.Select(r => (r.Name, r.Outcome)), Is.EqualTo(new[]
        {
            ("cq-user-word", Outcome.Pass), ("cqe-target", Outcome.Pass), ("cqe-target-chaos", Outcome.Crash),
        }));
        Assert.That(all[^1].Suite, Is.EqualTo("liburing-tests"));
        Assert.That(all[^1].Message, Does.Contain("kernel panic: Fatal exception").And.Contain("io_cqe_target_post"));
    }

    [Test]
    public void StreamRoundTripsEveryFieldAndCarriesOnAfterARestart()
    {
        var file = Path.Combine(Path.GetTempPath(), $"stream-{Guid.NewGuid():N}.ktap");
        try
        {
            TestCaseResult[] results =
            [
                new("c", "a", Outcome.Pass, 1.25, null, "line 1\n\n  indented # not a directive"),
                new("c", "b", Outcome.Skip, 0, "no feature"),
                new("validation", "X.Y(\"arg\")", Outcome.Fail, 2, "first\nsecond"),
                new("validation", "X.Slow", Outcome.Timeout, 120.5, "timed out after 120 s"),
            ];
            var first = new KtapStream(file);
            foreach (var r in results[..3]) first.Add(r);
            // A second writer (the runner restarted after a timeout) continues the open suite.
            var second = new KtapStream(file);
            second.Add(results[3]);
            second.Add(new("vm", "crashed", Outcome.Crash, 0, "kernel panic: x"));
            second.Close();
            var back = Ktap.ReadResults(file);
            Assert.That(back.OpenSuites, Is.Empty);
            Assert.That(back.TornLine, Is.Null);
            Assert.That(back.Tests.Take(4), Is.EqualTo(results));
            Assert.That(back.Tests[^1].Outcome, Is.EqualTo(Outcome.Crash));
            var tree = Ktap.Parse(File.ReadAllText(file));
            Assert.That(tree.Children.Select(s => (s.Name, s.Ok, s.Children.Count)),
                Is.EqualTo(new[] { ("c", true, 2), ("validation", false, 2), ("vm", false, 1) }));
        }
        finally { File.Delete(file); }
    }

    [Test]
    public void ConsoleMarkersRoundTrip()
    {
        Assert.That(ConsoleMarkers.Run("validation", "A.B(1)"), Is.EqualTo("toolkit-suite: run validation/A.B(1)"));
        Assert.That(ConsoleMarkers.ParseRun("toolkit-suite: run liburing/a/b.t "), Is.EqualTo(("liburing", "a/b.t")));
        Assert.That(ConsoleMarkers.ParseRun("toolkit-suite: pass liburing/a (1.00 s)"), Is.Null);
        var done = ConsoleMarkers.Finished(new("s", "t", Outcome.Fail, 1.5, "exit 1: boom\nmore"));
        Assert.That(done, Is.EqualTo("toolkit-suite: fail s/t (1.50 s): exit 1: boom"));
        Assert.That(ConsoleMarkers.Is(done, "fail"), Is.True);
        Assert.That(ConsoleMarkers.Is("toolkit-suite: kmemleak scan after s/t", "kmemleak scan"), Is.True);
        Assert.That(ConsoleMarkers.Is("toolkit-suite: passing", "pass"), Is.False);
    }

    [Test]
    public void FinishedMarkersParseBackIntoResults()
    {
        var done = ConsoleMarkers.Finished(new("waiter", "mwaitx-handoffs", Outcome.Pass, 6.92, "lost 0 (of 10)"));
        Assert.That(ConsoleMarkers.ParseFinished(done),
            Is.EqualTo(new TestCaseResult("waiter", "mwaitx-handoffs", Outcome.Pass, 6.92, "lost 0 (of 10)")));
        Assert.That(ConsoleMarkers.ParseFinished("toolkit-suite: skip s/t (0.00 s)"),
            Is.EqualTo(new TestCaseResult("s", "t", Outcome.Skip, 0)));
        foreach (var line in new[]
                 {
                     "toolkit-suite: run s/t", "toolkit-suite: cpuid waitpkg=no", "toolkit-suite: PASS s/t (1 s)",
                     "toolkit-suite: pass st (1.00 s)", "toolkit-suite: pass s/t (x s)", "pass s/t (1.00 s)",
                 })
            Assert.That(ConsoleMarkers.ParseFinished(line), Is.Null, line);
    }
}
