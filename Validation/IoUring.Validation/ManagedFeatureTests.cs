using System.Diagnostics;
using IoUring.Interop.CrossRing;
using IoUring.Interop.Wakeup;

namespace IoUring.Validation;

/// <summary>
/// The two features through the managed layer (<see cref="IoUring.Ring"/>, <see cref="CrossRingCompleter"/>,
/// <see cref="CqWordWaiter"/>): what IoUring.Tests can only skip on the host. Each test belongs to its feature, so
/// on a kernel expected to bring it a skip fails (vm test --expect).
/// </summary>
public sealed class ManagedFeatureTests
{
    [Test, Category(Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqeTarget)]
    public void CrossRingCompleterTakesTheKernelPathAndTheSourceSeesNothing()
    {
        CrossRing.RequireKernelFeature();
        using var source = IoUring.Ring.Create();
        using var target = IoUring.Ring.Create();
        Assert.That(source.Features.CqeTarget, Is.True);
        using var completer = new CrossRingCompleter(source);
        Assert.That(completer.Path, Is.EqualTo(CrossRingPath.Kernel));
        completer.Prepare(source.GetSqe().Nop(0x5151, -2), target);
        completer.Prepare(source.GetSqe().Nop(0x5252, 77), target);
        source.Submit();
        var got = new List<(ulong, int)>();
        var clock = Stopwatch.StartNew();
        while (got.Count < 2 && clock.Elapsed < TimeSpan.FromSeconds(10))
            if (target.TryWaitCompletion(TimeSpan.FromMilliseconds(100), out var c)) got.Add((c.UserData, c.Result));
        Assert.That(got, Is.EqualTo(new[] { (0x5151UL, -2), (0x5252UL, 77) }));
        var local = new List<IoUring.Completion>();
        completer.Pump(local.Add, TimeSpan.FromMilliseconds(20));
        Assert.That(local, Is.Empty, "a kernel-path request posts nothing on the source");
        Assert.That(completer.InFlight, Is.Zero);
    }

    [Test, Category(Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqUserWord)]
    public void TheManagedWaitersWordIsTheRingsCqUserWord()
    {
        using var ring = IoUring.Ring.Create();
        using var waiter = new CqWordWaiter(ring) { SpinChecks = 1, SafetyTimeout = TimeSpan.FromSeconds(10) };
        if (!ring.Features.CqUserWord)
        {
            Assert.That(waiter.Word.InRing, Is.False, waiter.Word.Description);
            Assert.Ignore($"kernel {RunningKernel.Release} lacks IORING_FEAT_CQ_USER_WORD: the waiter uses the " +
                "fallback word");
        }
        Assert.That(waiter.Word.InRing, Is.True, waiter.Word.Description);
        // A completion wakes the sleeping waiter through the kernel; the notifier's store lands on the ring's line.
        using var notifier = waiter.CreateNotifier();
        var producer = new Thread(() =>
        {
            Thread.Sleep(200);
            notifier.Notify();
        });
        producer.Start();
        var why = waiter.Wait();
        producer.Join();
        Assert.That(why, Is.Not.EqualTo(WakeReason.SafetyTimeout));
        Assert.That(notifier.KernelWakeups + notifier.StoreOnly, Is.EqualTo(1));
    }
}
