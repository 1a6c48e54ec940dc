namespace IoUring.Validation;

/// <summary>Placeholder fixture proving the in-guest runner; replaced by the io_uring cases once the bindings land.</summary>
public class RunnerSmokeTests
{
    [Test]
    public void KernelReportsItsRelease() =>
        Assert.That(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), Is.Not.Empty);
}
