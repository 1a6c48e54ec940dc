using Toolkit.Infra;
using Toolkit.Kernel;
using Toolkit.Vm;

namespace Toolkit.Tests;

/// <summary>
/// Real QEMU boots of the real built baseline kernel (built here if the cache has none).
/// These are the runner's contract: exit status carried out, panics and timeouts classified fast.
/// </summary>
[TestFixture, Category("vm"), NonParallelizable]
public class VmBootTests
{
    string image = "";

    [OneTimeSetUp]
    public void BuildKernel() => image = KernelBuild.Build(KernelBase.Default, Flavour.Baseline, Environment.ProcessorCount).Image;

    VmResult Run(string[] command, int timeout = 60, int bootTimeout = 60, string? kernel = null,
        bool smap = false) => VmRunner.Run(new VmOptions
        {
            KernelImage = kernel ?? image,
            Smap = smap,
            Command = command,
            Timeout = TimeSpan.FromSeconds(timeout),
            BootTimeout = TimeSpan.FromSeconds(bootTimeout),
            WorkDir = Paths.RepoRoot,
        });

    [Test]
    public void GuestExitStatusIsCarriedOut()
    {
        var r = Run(["sh", "-c", "echo marker-$((40+2)); exit 3"]);
        Assert.That(r.ExitCode, Is.EqualTo(3), r.Summary());
        Assert.That(r.GuestStatus, Is.EqualTo(3));
        Assert.That(File.ReadAllText(r.ConsoleLog), Does.Contain("marker-42"),
            "the console log keeps the command's output");
        Assert.That(r.Splats, Is.Empty);
        Assert.That(r.BootToInitSeconds, Is.GreaterThan(0));
    }

    [Test]
    public void GuestRunsHostBinariesAndWritesResultsBack()
    {
        var r = Run(["sh", "-c",
            "uname -r > \"$TOOLKIT_RUN_DIR/uname\"; touch /usr/written-in-overlay && test -w /tmp"]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Summary());
        Assert.That(File.ReadAllText(Path.Combine(r.RunDir, "uname")).Trim(), Does.EndWith("-baseline"));
        Assert.That(File.Exists("/usr/written-in-overlay"), Is.False, "the host root is mounted read-only");
    }

    /// <summary>
    /// QEMU 7.2's TCG faults a user-mode IRETQ under SMAP and .NET executes IRETQ, so the guest CPU has no
    /// SMAP unless a run asks for it (KVM, whose CPU does IRETQ right, keeps the host's flags).
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public void GuestHasSmapOnlyWhenAsked(bool smap)
    {
        var r = Run(["sh", "-c",
            "if grep -qw smap /proc/cpuinfo; then echo guest-smap-on; else echo guest-smap-off; fi"], smap: smap);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Summary());
        if (r.Accel == "kvm") Assert.Ignore("KVM guest: the CPU model is the host's");
        Assert.That(File.ReadAllText(r.ConsoleLog), Does.Contain(smap ? "guest-smap-on" : "guest-smap-off"));
    }

    [Test]
    public void PanicGivesThePanicCodeQuickly()
    {
        var r = Run(["sh", "-c", "echo c > /proc/sysrq-trigger; sleep 100"], timeout: 120);
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.KernelPanic), r.Summary());
        Assert.That(r.Panic, Does.Contain("sysrq"));
        // Measured from init, so a slow boot on a loaded machine does not count against the runner.
        Assert.That(r.TotalSeconds - r.BootToInitSeconds, Is.LessThan(20),
            "a panic ends the run at once, not at the timeout");
        Assert.That(r.Summary(), Does.Contain("kernel panic"));
    }

    [Test]
    public void HangingCommandIsKilledAtItsTimeout()
    {
        var r = Run(["sleep", "600"], timeout: 5);
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.CommandTimeout), r.Summary());
        Assert.That(r.TotalSeconds - r.BootToInitSeconds, Is.InRange(5, 5 + 8),
            "killed at the timeout plus a few seconds");
    }

    [Test]
    public void KernelWarningFailsAPassingCommand()
    {
        // sysrq 'l' is harmless; a WARNING must come from the kernel itself, so provoke one that 6.12
        // prints with WARN: writing an invalid value to /proc/sys/kernel/... does not; instead inject the
        // text through /dev/kmsg, which is what the console analyser reads like any kernel line.
        var r = Run(["sh", "-c",
            "echo 'WARNING: CPU: 0 PID: 1 at io_uring/io_uring.c:1 injected+0x0/0x1' > /dev/kmsg; echo '---[ end " +
                "trace 0000000000000000 ]---' > /dev/kmsg"]);
        Assert.That(r.ExitCode, Is.EqualTo(ExitCodes.KernelSplat), r.Summary());
        Assert.That(r.Summary(), Does.Contain("injected"));
    }

    [Test]
    public void MissingKernelImageIsItsOwnError()
    {
        var e = Assert.Throws<ToolkitException>(() => Run(["true"], kernel: "/nonexistent/bzImage"));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.NoKernelImage));
        Assert.That(e.Message, Does.Contain("/nonexistent/bzImage"));
    }

    [Test]
    public void GuestThatNeverReachesInitIsABootTimeout()
    {
        // Not a kernel at all: QEMU's loader rejects it or the "boot" never prints init's marker.
        var bogus = Path.Combine(Path.GetTempPath(), $"bogus-bzImage-{Environment.ProcessId}");
        File.WriteAllBytes(bogus, new byte[4096]);
        try
        {
            var r = Run(["true"], bootTimeout: 5, kernel: bogus);
            Assert.That(r.ExitCode, Is.AnyOf(ExitCodes.BootTimeout, ExitCodes.VmFailure), r.Summary());
            Assert.That(File.Exists(r.ConsoleLog), Is.True, "the console log is kept even for a failed boot");
        }
        finally { File.Delete(bogus); }
    }
}
