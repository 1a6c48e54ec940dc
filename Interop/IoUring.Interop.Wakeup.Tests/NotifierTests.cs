using static IoUring.Interop.Liburing;

namespace IoUring.Interop.Wakeup.Tests;

/// <summary>The notifier's decisions, one state at a time, on whatever kernel runs the tests (the word may be the
/// fallback).</summary>
public sealed unsafe class NotifierTests
{
    sealed class Ring : IDisposable
    {
        public readonly io_uring* R = (io_uring*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(
            (nuint)sizeof(io_uring));
        public readonly uint Features;

        public Ring()
        {
            io_uring_params p = default;
            var rc = io_uring_queue_init_params(8, R, &p);
            if (rc < 0) Assert.Ignore($"io_uring unavailable here: {rc}");
            Features = p.features;
        }

        public int Cqes()
        {
            var n = 0;
            for (io_uring_cqe* c; (c = LiburingFast.PeekCqeNowait(
                R)) != null; LiburingFast.CqeSeen(R, c))
            {
                Assert.That(CqWordWaiter.IsWakeup(*c), Is.True);
                n++;
            }
            return n;
        }

        public void Dispose()
        {
            io_uring_queue_exit(R);
            System.Runtime.InteropServices.NativeMemory.Free(R);
        }
    }

    [Test]
    public void AwakeWaiterGetsOnlyTheStore()
    {
        using var ring = new Ring();
        using var word = CqWord.For(ring.R, ring.Features);
        var waiter = new CqWordWaiter(ring.R, word);
        using var n = new CqWordNotifier(word, waiter.RingFd);
        var before = word.ReadSequence();
        Assert.That(n.Notify(), Is.False);
        Assert.That(word.ReadSequence(), Is.EqualTo((ushort)(before + 1)));
        Assert.That(word.ReadState(), Is.EqualTo(CqWord.Awake));
        Assert.That(ring.Cqes(), Is.Zero, "no MSG_RING for an awake waiter");
        Assert.That(waiter.Wait(), Is.EqualTo(WakeReason.Notified));
        Assert.That((n.StoreOnly, n.KernelWakeups), Is.EqualTo((1L, 0L)));
    }

    [Test]
    public void SleepingWaiterIsWokenOnceThroughTheKernel()
    {
        using var ring = new Ring();
        using var word = CqWord.For(ring.R, ring.Features);
        var waiter = new CqWordWaiter(ring.R, word);
        using var a = new CqWordNotifier(word, waiter.RingFd);
        using var b = new CqWordNotifier(word, waiter.RingFd);
        *word.State = CqWord.Asleep; // as the waiter leaves it before io_uring_enter
        Assert.That(a.Notify(), Is.True, "first notifier claims the wakeup");
        Assert.That(word.ReadState(), Is.EqualTo(CqWord.Waking));
        Assert.That(b.Notify(), Is.False, "second notifier sees Waking and only stores");
        Assert.That(ring.Cqes(), Is.EqualTo(1), "exactly one MSG_RING CQE");
    }

    [Test]
    public void WaiterSleepsAndIsWokenByANotifierOnAnotherThread()
    {
        using var ring = new Ring();
        using var word = CqWord.For(ring.R, ring.Features);
        var waiter = new CqWordWaiter(ring.R, word) { SpinChecks = 1, SafetyTimeout = TimeSpan.FromSeconds(20) };
        using var n = new CqWordNotifier(word, waiter.RingFd);
        var work = 0;
        var t = new Thread(() =>
        {
            // Wait until the waiter has announced its sleep, then publish and notify.
            // Sleep, not sched_yield: a thread yielding in a loop is starved under EEVDF when other work is runnable.
            while (word.ReadState() != CqWord.Asleep) Thread.Sleep(1);
            Thread.Sleep(50);
            Volatile.Write(ref work, 1);
            n.Notify();
        });
        t.Start();
        var reason = waiter.Wait(() => Volatile.Read(ref work) != 0);
        t.Join();
        Assert.That(reason, Is.Not.EqualTo(WakeReason.SafetyTimeout));
        Assert.That(n.KernelWakeups, Is.EqualTo(1));
        Assert.That(waiter.KernelSleeps, Is.GreaterThanOrEqualTo(1));
        Assert.That(ring.Cqes(), Is.EqualTo(1));
        TestContext.Out.WriteLine($"{word.Description}; {WaitInstructions.Describe()}; woke with {reason}");
    }
}
