using System.Diagnostics;
using IoUring.Interop.Wakeup;

namespace IoUring.Tests;

/// <summary>
/// <see cref="CqWordWaiter"/> and its notifiers on the managed ring. Without IORING_FEAT_CQ_USER_WORD (the host) the
/// word is the fallback and the protocol is the same; the in-ring word's test skips there and runs in the patched
/// VM (Validation's ManagedFeatureTests, where a missing feature fails).
/// </summary>
public class WakeupTests
{
    [Test]
    public void ANotifierOnAnotherThreadWakesAWaiterBlockedInTheKernel()
    {
        using var ring = Ring.Create();
        using var waiter = new CqWordWaiter(ring) { SpinChecks = 1, SafetyTimeout = TimeSpan.FromSeconds(10) };
        using var notifier = waiter.CreateNotifier();
        var published = 0;
        var producer = new Thread(() =>
        {
            Thread.Sleep(200); // long enough for the waiter to announce Asleep and block
            Volatile.Write(ref published, 1);
            notifier.Notify();
        });
        var clock = Stopwatch.StartNew();
        producer.Start();
        var why = waiter.Wait(() => Volatile.Read(ref published) == 1);
        producer.Join();
        Assert.That(why, Is.Not.EqualTo(WakeReason.SafetyTimeout), $"woken after {clock.Elapsed}");
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(waiter.KernelSleeps, Is.GreaterThanOrEqualTo(1), "the waiter did block in the kernel");
        Assert.That(notifier.KernelWakeups, Is.EqualTo(1), "so the notifier woke it with MSG_RING");
        Assert.That(Loopback.Next(ring), Has.Property(nameof(Completion.UserData)).EqualTo(CqWordWaiter.WakeupUserData));
    }

    [Test]
    public void AnAwakeWaiterIsNotifiedWithAStoreOnly()
    {
        using var ring = Ring.Create();
        using var waiter = new CqWordWaiter(ring);
        using var notifier = waiter.CreateNotifier();
        Assert.That(notifier.Notify(), Is.False, "no kernel wakeup for an awake waiter");
        Assert.That(waiter.Wait(), Is.EqualTo(WakeReason.Notified));
        Assert.That(ring.Ready, Is.Zero);
    }

    [Test]
    public void TheWordIsTheRingsOwnOnKernelsWithTheFeature()
    {
        using var ring = Ring.Create();
        using var waiter = new CqWordWaiter(ring);
        if (!ring.Features.CqUserWord)
        {
            Assert.That(waiter.Word.InRing, Is.False, waiter.Word.Description);
            Assert.Ignore("IORING_FEAT_CQ_USER_WORD missing (the toolkit's patched kernels have it): the fallback word " +
                "is in use. Validation's ManagedFeatureTests check the in-ring word in the VM.");
        }
        Assert.That(waiter.Word.InRing, Is.True, waiter.Word.Description);
    }

    [Test]
    public void ANotifierMayOutliveTheWaiterAndTheRing()
    {
        var ring = Ring.Create();
        var waiter = new CqWordWaiter(ring);
        using var notifier = waiter.CreateNotifier();
        waiter.Dispose();
        ring.Dispose();
        // The word and the ring's memory and fd live until the notifier is disposed: both paths stay safe.
        Assert.That(notifier.Notify(), Is.False);
        Assert.DoesNotThrow(notifier.SendWakeup);
        Assert.Throws<ObjectDisposedException>(() => waiter.Wait());
    }
}
