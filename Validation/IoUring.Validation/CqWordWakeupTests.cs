using System.Diagnostics;
using IoUring.Interop;
using IoUring.Interop.Wakeup;
using static IoUring.Interop.IoUringConstants;

namespace IoUring.Validation;

/// <summary>
/// The waiter/notifier protocol of IoUring.Interop.Wakeup under stress: a million handoffs between a producer and
/// the waiter thread, with the producer pausing at random so the waiter keeps crossing from busy polling through
/// the idle wait into a kernel sleep. A lost wakeup would leave the waiter blocked for the whole safety timeout
/// with the handoff pending; the test counts those (must be 0) and checks both notifier paths (plain store,
/// MSG_RING) were taken. Runs on every kernel: with IORING_FEAT_CQ_USER_WORD the word is the ring's, else the
/// documented fallback (same protocol on a word in ordinary memory).
/// </summary>
public sealed unsafe class CqWordWakeupTests
{
    // Separate methods, not test cases: the in-guest runner reads TimeoutSeconds from the test itself.
    // `slow`: 30 s on a 2-core host, out of the fast filter; the three-producer case stays in it.
    [Test, Property("TimeoutSeconds", 900), Category("slow")]
    public void AMillionHandoffsFromOneProducerLoseNoWakeup() => Handoffs(1_000_000, 1);

    [Test, Property("TimeoutSeconds", 600)]
    public void HandoffsFromThreeProducersLoseNoWakeup() => Handoffs(150_000, 3);

    static void Handoffs(int handoffs, int producers)
    {
        using var r = new TestRing(entries: 8, cqEntries: 64);
        using var word = CqWord.For(r.Ring, r.Params.features);
        var waiter = new CqWordWaiter(r.Ring, word)
        {
            // A very short idle phase, so that most handoffs take the whole path: announce, re-check, kernel sleep,
            // MSG_RING (the path where a wakeup can be lost); a handoff posted within those few checks takes the
            // plain-store path. Under QEMU TCG each PAUSE exits to QEMU's main loop, so a long idle phase made
            // the million handoffs take over 10 minutes there.
            SpinChecks = 16,
            SafetyTimeout = TimeSpan.FromSeconds(5),
        };
        TestContext.Out.WriteLine($"kernel {RunningKernel.Release}; {word.Description}; {WaitInstructions.Describe()}; waiter uses {waiter.Instruction}");
        if ((r.Params.features & IORING_FEAT_CQ_USER_WORD) != 0) Assert.That(word.InRing, Is.True);
        else Assert.That(word.InRing, Is.False);

        // posted[p] / consumed[p]: per-producer handoff counters; a producer posts i, notifies, waits for consumed == i.
        var posted = new long[producers];
        var consumed = new long[producers];
        var per = handoffs / producers;
        var notifiers = Enumerable.Range(0, producers).Select(_ => new CqWordNotifier(word, waiter.RingFd)).ToList();
        // spinCount 0: the producer's own pause-spin comes first; the event's built-in spin would sched_yield.
        var acks = Enumerable.Range(0, producers).Select(_ => new ManualResetEventSlim(false, spinCount: 0)).ToArray();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var stop = 0;
        var threads = Enumerable.Range(0, producers).Select(p => new Thread(() =>
        {
            try
            {
                var rng = new Random(1234 + p);
                for (long i = 1; i <= per; i++)
                {
                    // One handoff in 4 after a short random pause, so posts land anywhere in the waiter's
                    // idle phase, announcement, re-check and entry into io_uring_enter; the rest at once.
                    if ((i & 3) == 0) Thread.SpinWait(rng.Next(0, 16));
                    Volatile.Write(ref posted[p], i);
                    notifiers[p].Notify();
                    // Wait for the ack: a short pause-spin, then block. Never sched_yield in a loop: under EEVDF
                    // every yield pushes the yielder's deadline back, so on a host where other work is runnable a
                    // producer that yielded millions of times barely ran again (0.1 s of CPU in 24 s), and the
                    // whole test looked hung (the waiter then waited for it in the GC's thread suspension).
                    for (var spins = 0; Volatile.Read(ref consumed[p]) != i;)
                    {
                        if (Volatile.Read(ref stop) != 0) return;
                        if (++spins < 64) { Thread.SpinWait(1); continue; }
                        acks[p].Reset();
                        if (Volatile.Read(ref consumed[p]) == i || Volatile.Read(ref stop) != 0) continue;
                        acks[p].Wait();
                    }
                }
            }
            catch (Exception e) { errors.Enqueue(e); }
        }) { IsBackground = true, Name = $"producer-{p}" }).ToList();

        bool HasWork()
        {
            for (var p = 0; p < producers; p++)
                if (Volatile.Read(ref posted[p]) != Volatile.Read(ref consumed[p])) return true;
            return false;
        }

        // One delegate for the whole run: `waiter.Wait(HasWork)` would allocate a new one per call, and every GC
        // has to stop the producers too.
        Func<bool> hasWork = HasWork;
        long lost = 0, tokens = 0, done = 0, total = (long)per * producers;
        var reasons = new long[4];
        var sw = Stopwatch.StartNew();
        foreach (var t in threads) t.Start();
        try
        {
            var deadline = Stopwatch.StartNew();
            while (done < total && errors.IsEmpty)
            {
                var why = waiter.Wait(hasWork);
                reasons[(int)why]++;
                if (why == WakeReason.SafetyTimeout && HasWork()) lost++;
                io_uring_cqe* cqe;
                while ((cqe = LiburingFast.io_uring_peek_cqe_nowait(r.Ring)) != null)
                {
                    if (!CqWordWaiter.IsWakeup(*cqe)) Assert.Fail($"unexpected CQE user_data 0x{cqe->user_data:x} res {cqe->res}");
                    tokens++;
                    LiburingFast.io_uring_cqe_seen(r.Ring, cqe);
                }
                for (var p = 0; p < producers; p++)
                {
                    var v = Volatile.Read(ref posted[p]);
                    var c = consumed[p];
                    if (v != c)
                    {
                        // Plain checks on the hot path: NUnit constraints allocate, which costs under TCG.
                        if (v != c + 1) Assert.Fail($"producer {p} posted {v} before {c} was acked");
                        done++;
                        Volatile.Write(ref consumed[p], v);
                        acks[p].Set();
                        if (done % 100_000 == 0) Console.WriteLine($"handoffs: {done} of {total} after {sw.Elapsed.TotalSeconds:F0} s (lost {lost})");
                    }
                }
                if ((done & 0xfff) == 0 && deadline.Elapsed > TimeSpan.FromMinutes(14)) Assert.Fail($"only {done} of {total} handoffs in 14 minutes");
            }
        }
        finally
        {
            // Unblock producers if the waiter stopped early (a failed assertion): before, they waited for an ack
            // that never came and the Join below hung with the failure unreported.
            Volatile.Write(ref stop, 1);
            foreach (var a in acks) a.Set();
            foreach (var t in threads) t.Join();
            foreach (var n in notifiers) n.Dispose();
            foreach (var a in acks) a.Dispose();
        }
        Assert.That(errors, Is.Empty);
        // A token whose producer was acked before the waiter reaped it is still in the CQ.
        for (io_uring_cqe* cqe; (cqe = LiburingFast.io_uring_peek_cqe_nowait(r.Ring)) != null; LiburingFast.io_uring_cqe_seen(r.Ring, cqe))
            if (CqWordWaiter.IsWakeup(*cqe)) tokens++;
        var stores = notifiers.Sum(n => n.StoreOnly);
        var wakes = notifiers.Sum(n => n.KernelWakeups);
        TestContext.Out.WriteLine($"{done} handoffs ({producers} producer(s)) in {sw.Elapsed.TotalSeconds:F1} s: lost={lost}; notifier store-only={stores} " +
            $"MSG_RING={wakes}; waiter: idle-phase wakes={waiter.IdleWakeups} kernel sleeps={waiter.KernelSleeps} safety timeouts={waiter.SafetyTimeouts}; " +
            $"wake reasons: completion={reasons[0]} notified={reasons[1]} work={reasons[2]} timeout={reasons[3]}; wakeup CQEs reaped={tokens}");
        Assert.That(done, Is.EqualTo(total));
        Assert.That(lost, Is.Zero, "lost wakeups: the waiter slept through the safety timeout with a handoff pending");
        Assert.That(stores, Is.GreaterThan(0), "the plain-store path never ran");
        Assert.That(wakes, Is.GreaterThan(0), "the MSG_RING path never ran");
        Assert.That(tokens, Is.GreaterThanOrEqualTo(wakes), "every MSG_RING must arrive as a CQE");
    }
}
