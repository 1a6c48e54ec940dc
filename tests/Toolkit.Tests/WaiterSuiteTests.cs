using IoUring.Interop.Wakeup;
using Toolkit.Kernel;
using Toolkit.Suites;

namespace Toolkit.Tests;

/// <summary>The host side of the Bochs waiter suite: the stub export, the results, the describe check, bad usage.</summary>
public class WaiterSuiteTests
{
    [Test]
    public void ExportedStubsAreTheLibrarysBytesAtTheOffsetsTheGuestProgramUses()
    {
        var file = Path.GetTempFileName();
        try
        {
            WaiterSuite.ExportStubs(file);
            Assert.That(File.ReadAllBytes(file), Is.EqualTo(WaitInstructions.StubBytes));
        }
        finally { File.Delete(file); }
        // vm/bochs/waiter.c loads exactly this many bytes and calls the stubs 32 bytes apart, in this order.
        var source = File.ReadAllText(Path.Combine(TestPaths.Repo, "vm", "bochs", "waiter.c"));
        Assert.That(source, Does.Contain($"#define STUB_SIZE {WaitInstructions.StubBytes.Length}"));
        Assert.That(source, Does.Contain("umonitor = (void *)page;").And.Contain("umwait = (void *)(page + 32);")
            .And.Contain("monitorx = (void *)(page + 64);").And.Contain("mwaitx = (void *)(page + 96);"));
    }

    [Test]
    public void FinishedMarkersBecomeKtapAndTheDescribeCheckFollows()
    {
        var dir = Directory.CreateTempSubdirectory("toolkit-waiter-").FullName;
        try
        {
            var console = Path.Combine(dir, "console.log");
            File.WriteAllLines(console, [
                "toolkit-init: start uptime=1.85 clocksource=tsc-early",
                "toolkit-suite: cpuid waitpkg=no monitorx=yes",
                "toolkit-suite: run waiter/mwaitx-handoffs",
                "some kernel message",
                "toolkit-suite: pass waiter/mwaitx-handoffs (6.92 s): 2000 handoffs, lost wakeups 0",
                "toolkit-suite: fail waiter/mwaitx-wakes-on-deadline (0.79 s): 200 waits: 3 at the deadline",
                "toolkit-suite: skip waiter/umwait (0.00 s): CPU lacks WAITPKG",
            ]);
            var ktap = Path.Combine(dir, "guest.ktap");
            WaiterSuite.WriteResults(console, ktap);
            var results = Ktap.ReadResults(ktap).Tests;
            Assert.That(results.Select(r => (r.Name, r.Outcome)), Is.EqualTo(new[]
            {
                ("mwaitx-handoffs", Outcome.Pass), ("mwaitx-wakes-on-deadline", Outcome.Fail),
                ("umwait", Outcome.Skip), ("describe", Outcome.Pass),
            }));
            Assert.That(results[0].Seconds, Is.EqualTo(6.92));
            Assert.That(results[0].Message, Is.EqualTo("2000 handoffs, lost wakeups 0"));
            Assert.That(results[3].Message, Does.StartWith("wait instruction: Mwaitx"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void DescribeSkipsWithTheReasonOnACpuWithoutAMonitorInstruction()
    {
        var r = WaiterSuite.DescribeResult(["toolkit-suite: cpuid waitpkg=no monitorx=no"])!;
        Assert.That(r.Outcome, Is.EqualTo(Outcome.Skip));
        Assert.That(r.Message, Does.Contain("CPU has neither WAITPKG nor MONITORX"));
        Assert.That(WaiterSuite.DescribeResult(["no cpuid line"]), Is.Null);
    }

    [TestCase("qemu", "waiter", "add --emulator bochs")]
    [TestCase("bochs", "all", "add --suite waiter")]
    [TestCase("bochs", "validation", "add --suite waiter")]
    public void SuiteAndEmulatorMustMatch(string emulator, string suite, string hint)
    {
        var e = Assert.Throws<ToolkitException>(() => VmTest.CheckEmulator(emulator, suite, null, "mwaitx", 1));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain(hint));
    }

    [Test]
    public void BadWaiterOptionsAreUsageErrors()
    {
        Assert.That(Assert.Throws<ToolkitException>(() =>
            VmTest.CheckEmulator("bochs", "waiter", null, "mwaitx,hlt", 1))!.Message, Does.Contain("hlt"));
        Assert.That(Assert.Throws<ToolkitException>(() =>
            VmTest.CheckEmulator("bochs", "waiter", null, "mwaitx", 0))!.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.DoesNotThrow(() => VmTest.CheckEmulator("bochs", "waiter", "ryzen", "mwaitx,umwait,pause", 10));
    }

    [Test]
    public void BochsFlavourIsThePatchedTreeWithItsOwnFragmentAndBuildDirectory()
    {
        Assert.That(KernelBuild.ParseFlavour("bochs"), Is.EqualTo(Flavour.Bochs));
        Assert.That(KernelBase.V7_3.TreeOf(Flavour.Bochs), Is.EqualTo(KernelBase.V7_3.PatchedTree));
        Assert.That(KernelBase.V7_3.BuildDir(Flavour.Bochs), Does.EndWith("/build-bochs"));
        Assert.That(KernelBuild.Fragments(KernelBase.V7_3, Flavour.Bochs).Select(Path.GetFileName),
            Does.Contain("bochs.config").And.Contain("base.config").And.Not.Contain("debug.config"));
    }
}
