using Toolkit.Vm;

namespace Toolkit.Tests;

public class ExitCodeMappingTests
{
    static readonly VmOptions Options = new()
    {
        KernelImage = "x",
        Command = ["true"],
        Timeout = TimeSpan.FromSeconds(7),
        BootTimeout = TimeSpan.FromSeconds(9)
    };

    static ConsoleAnalyzer.Result Console(bool started = true, string? panic = null, string? initError = null) =>
        new(started, started, null, initError, panic, [], "tsc");

    [Test]
    public void GuestStatusPassesThrough()
    {
        Assert.That(VmRunner.Classify(null, Console(), 0, 0, 0, "", Options).Code, Is.EqualTo(0));
        Assert.That(VmRunner.Classify(null, Console(), 3, 0, 0, "", Options).Code, Is.EqualTo(3));
        Assert.That(VmRunner.Classify(null, Console(), 77, 0, 0, "", Options).Code, Is.EqualTo(77));
    }

    [Test]
    public void SplatFailsAPassingCommand() =>
        Assert.That(VmRunner.Classify(null, Console(), 0, 1, 0, "", Options).Code, Is.EqualTo(ExitCodes.KernelSplat));

    [Test]
    public void PanicWinsOverEverything()
    {
        Assert.That(VmRunner.Classify(null, Console(panic: "Oops"), null, 2, 0, "", Options).Code,
            Is.EqualTo(ExitCodes.KernelPanic));
        Assert.That(VmRunner.Classify("timeout", Console(panic: "x"), null, 0, 0, "", Options).Code,
            Is.EqualTo(ExitCodes.KernelPanic));
    }

    [Test]
    public void Timeouts()
    {
        var boot = VmRunner.Classify("boot-timeout", Console(started: false), null, 0, -1, "", Options);
        Assert.That(boot.Code, Is.EqualTo(ExitCodes.BootTimeout));
        Assert.That(boot.Outcome, Does.Contain("9 s"));
        var cmd = VmRunner.Classify("timeout", Console(), null, 0, -1, "", Options);
        Assert.That(cmd.Code, Is.EqualTo(ExitCodes.CommandTimeout));
        Assert.That(cmd.Outcome, Does.Contain("7 s"));
        var stalled = VmRunner.Classify("stalled", Console(), null, 0, -1, "",
            new VmOptions
            {
                KernelImage = "x",
                Command = ["x"],
                ProgressTimeout = TimeSpan.FromSeconds(42),
                ProgressPrefix = "toolkit-suite: "
            });
        Assert.That(stalled.Code, Is.EqualTo(ExitCodes.CommandTimeout), "a stuck guest is a timeout of the command");
        Assert.That(stalled.Outcome, Does.Contain("no progress for 42 s"));
    }

    [Test]
    public void VmFailures()
    {
        var early = VmRunner.Classify(null, Console(started: false), null, 0, 1, "qemu: could not load kernel",
            Options);
        Assert.That(early.Code, Is.EqualTo(ExitCodes.VmFailure));
        Assert.That(early.Outcome, Does.Contain("could not load kernel"));
        Assert.That(VmRunner.Classify(null, Console(initError: "cannot mount"), null, 0, 0, "", Options).Outcome,
            Does.Contain("cannot mount"));
    }

    [Test]
    public void ToolkitCodesAreDistinct()
    {
        var codes = typeof(ExitCodes).GetFields().Select(f => (int)f.GetValue(null)!).ToList();
        Assert.That(codes, Is.Unique);
    }
}
