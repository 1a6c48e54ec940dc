using System.Diagnostics;
using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Reports;
using Toolkit.Suites;

using Toolkit.Vm;

namespace Toolkit.Tests;

/// <summary>
/// The liburing-suite's failure paths in a real booted baseline kernel, with fake "tests" (shell
/// scripts) standing in for liburing's: one crashes the kernel, one sleeps past its timeout, one is
/// missing. The run must attribute the crash, resume the rest in a fresh boot and finish.
/// </summary>
[TestFixture, Category("vm"), NonParallelizable]
public class LiburingSuiteVmTests
{
    string image = "";
    string dir = "";

    [OneTimeSetUp]
    public void Setup()
    {
        image = KernelBuild.Build(KernelBase.Default, Flavour.Baseline, Environment.ProcessorCount).Image;
        // Under artifacts/: the guest sees the host root read-only, so the scripts must live on the host.
        dir = Path.Combine(TestPaths.Repo, "artifacts", "test-liburing-suite", Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        Script("ok-first", "echo fine; exit 0");
        Script("skips", "echo 'Skipping: feature absent'; exit 77");
        Script("crashes", "echo about to crash; echo c > /proc/sysrq-trigger; sleep 60");
        Script("hangs", "sleep 600");
        Script("ok-after", "echo still here; exit 0");
        Script("xfail_exits_1", "exit 1");
        // Stops the harness itself (its parent), so nothing can enforce this test's timeout: only the host's
        // no-progress watchdog can end the boot. Stands in for a kernel deadlock or an unkillable test.
        Script("stalls-guest", "kill -STOP $PPID; sleep 600");
    }

    [OneTimeTearDown]
    public void Cleanup() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    void Script(string name, string body)
    {
        var path = Path.Combine(dir, name + ".t");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        // The toolkit runs on Linux only (QEMU, 9p): the guard keeps the platform analyser satisfied.
        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(path,
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
                UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    GuestHarness.CTest T(string name, double timeout = 30) => new(LiburingSuite.Suite, Path.Combine(dir, name + ".t"),
        timeout);

    [Test]
    public void CrashIsAttributedAndTheRestResumesInAFreshBoot()
    {
        var sw = Stopwatch.StartNew();
        var run = LiburingSuite.RunKernel("baseline", image,
            [T("ok-first"), T("skips"), T("crashes"), T("hangs", timeout: 5), T("missing"), T("xfail_exits_1"),
                T("ok-after")],
            Path.Combine(dir, "run-crash"));
        var byName = run.Results.ToDictionary(r => r.Name);
        string Outcomes() => string.Join("\n", run.Results.Select(r => $"{r.Name}: {r.Outcome} {r.Message}"));

        Assert.That(run.Boots, Has.Count.EqualTo(2), Outcomes());
        Assert.That(run.Boots[0].Culprit, Is.EqualTo("liburing/crashes"));
        Assert.That(run.Boots[1].Culprit, Is.Null);
        Assert.That(run.Boots[1].Tests, Is.EqualTo(4), "the second boot runs only what was left");
        Assert.That(byName["ok-first"].Outcome, Is.EqualTo(Outcome.Pass));
        Assert.That(byName["skips"].Outcome, Is.EqualTo(Outcome.Skip));
        Assert.That(byName["skips"].Message, Is.EqualTo("Skipping: feature absent"));
        Assert.That(byName["crashes"].Outcome, Is.EqualTo(Outcome.Crash));
        Assert.That(byName["crashes"].Message, Does.Contain("crashed the kernel").And.Contain("sysrq"),
            "the console's panic text is kept");
        Assert.That(byName["hangs"].Outcome, Is.EqualTo(Outcome.Timeout));
        Assert.That(byName["hangs"].Seconds, Is.InRange(4.5, 30));
        Assert.That(byName["missing"].Outcome, Is.EqualTo(Outcome.Fail));
        Assert.That(byName["missing"].Message, Does.Contain("missing"));
        Assert.That(byName["xfail_exits_1"].Outcome, Is.EqualTo(Outcome.Pass), "xfail tests pass by exiting 1");
        Assert.That(byName["ok-after"].Outcome, Is.EqualTo(Outcome.Pass));
        Assert.That(run.Results, Has.Count.EqualTo(7));
        Assert.That(run.FatalExitCode, Is.Null);
        Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan(240),
            "a hang costs its timeout and a crash one reboot, not the run's guard");
    }

    [Test]
    public void StuckGuestIsKilledByTheProgressWatchdogAndTheRestResumes()
    {
        var sw = Stopwatch.StartNew();
        var run = LiburingSuite.RunKernel("baseline", image, [T("ok-first"), T("stalls-guest", timeout: 5),
            T("ok-after")], Path.Combine(dir, "run-stall"));
        var byName = run.Results.ToDictionary(r => r.Name);
        Assert.That(run.Boots, Has.Count.EqualTo(2));
        Assert.That(run.Boots[0].Culprit, Is.EqualTo("liburing/stalls-guest"));
        Assert.That(byName["stalls-guest"].Outcome, Is.EqualTo(Outcome.Timeout));
        Assert.That(byName["stalls-guest"].Message, Does.Contain("no progress"));
        Assert.That(byName["ok-after"].Outcome, Is.EqualTo(Outcome.Pass));
        Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan(5 + LiburingSuite.StallMargin + 120),
            "the watchdog, not the run's overall guard");
    }

    [Test]
    public void RunReportsAndExitsOneOnFailuresOfASingleKernel()
    {
        var flaky = Path.Combine(dir, "flaky.txt");
        File.WriteAllText(flaky, "hangs  sleeps on purpose: 1 of 1 in artifacts/runs/none (test fixture)\n");
        var report = LiburingSuite.Run(new LiburingSuite.Options
        {
            Kernels = ["baseline"],
            Tests = [T("ok-first"), T("hangs", timeout: 3), T("crashes"), T("ok-after")],
            Images = new Dictionary<string, string> { ["baseline"] = image },
            FlakyFile = flaky,
        }, TextWriter.Null);
        Assert.That(report.ExitCode, Is.EqualTo(ExitCodes.Failed));
        Assert.That(report.Comparison.Counting.Select(r => r.Name), Is.EqualTo(new[] { "crashes" }),
            "the listed hang does not count");
        var summary = File.ReadAllText(Path.Combine(report.RunDir, "summary.txt"));
        Assert.That(summary, Does.Contain("liburing/crashes took the guest down").And.Contain("kernel panic"));
        Assert.That(summary, Does.Contain("flaky (not counted): liburing/hangs"));
        var ktap = Ktap.Parse(File.ReadAllText(Path.Combine(report.RunDir, "results.ktap")));
        Assert.That(ktap.Children.Single().Name, Is.EqualTo("baseline/liburing"));
        Assert.That(ktap.Children.Single().Children.Select(c => c.Ok), Is.EqualTo(new[] { true, false, false, true }));
        var gate = Totals.Read(Path.Combine(report.RunDir, "gate.junit.xml"));
        Assert.That((gate.Passed, gate.Failed, gate.Skipped), Is.EqualTo((2, 1, 1)));
    }

    [Test]
    public void UnknownTestNameIsReportedBeforeAnyBoot()
    {
        var e = Assert.Throws<ToolkitException>(() => LiburingSuite.Run(new LiburingSuite.Options
        {
            Kernels = ["baseline"],
            Only = ["no-such-test", "nop"],
            ProjectTests = false,
            Images = new Dictionary<string, string> { ["baseline"] = image },
        }, TextWriter.Null))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.TestMissing));
        Assert.That(e.Message, Does.Contain("no-such-test").And.Not.Contain("nop,"));
        // A name to leave out must exist too: a typo in CI's --exclude would otherwise exclude nothing.
        e = Assert.Throws<ToolkitException>(() => LiburingSuite.Run(new LiburingSuite.Options
        {
            Kernels = ["baseline"],
            Only = ["nop"],
            Exclude = ["nop", "futx"],
            ProjectTests = false,
            Images = new Dictionary<string, string> { ["baseline"] = image },
        }, TextWriter.Null))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.TestMissing));
        Assert.That(e.Message, Does.EndWith(": futx"));
    }

    [Test]
    public void BadOptionsAreUsageErrors()
    {
        var images = new Dictionary<string, string> { ["baseline"] = image };
        Assert.That(Assert.Throws<ToolkitException>(() => LiburingSuite.Run(new LiburingSuite.Options
        { Kernels = ["baseline"], TestTimeout = 0, Images = images }, TextWriter.Null))!.ExitCode,
                Is.EqualTo(ExitCodes.Usage));
        Assert.That(Assert.Throws<ToolkitException>(() => LiburingSuite.Run(new LiburingSuite.Options
        { Kernels = ["baseline"], Full = true, Only = ["nop"], Images = images }, TextWriter.Null))!.ExitCode,
                Is.EqualTo(ExitCodes.Usage));
    }

    [Test]
    public void MissingKernelImageIsReportedBeforeAnyBuild()
    {
        var e = Assert.Throws<ToolkitException>(() => LiburingSuite.Run(new LiburingSuite.Options
        {
            Kernels = ["baseline", "patched"],
            Images = new Dictionary<string, string> { ["baseline"] = image, ["patched"] = "/nonexistent/bzImage" },
        }, TextWriter.Null))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.NoKernelImage));
        Assert.That(e.Message, Does.Contain("patched"));
    }
}
