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
        var waiter = ShortIdleWaiter(r, word);
        TestContext.Out.WriteLine($"kernel {RunningKernel.Release}; {word.Description}; {WaitInstructions.Describe()}; "
            + $"waiter uses {waiter.Instruction}");
        if ((r.Params.features & IORING_FEAT_CQ_USER_WORD) != 0) Assert.That(word.InRing, Is.True);
        else Assert.That(word.InRing, Is.False);

        var run = new HandoffRun(r, word, waiter, producers, handoffs / producers);
        run.Start();
        try
        {
            run.WaitForEveryHandoff();
        }
        finally
        {
            run.Stop();
        }
        Assert.That(run.Errors, Is.Empty);
        run.ReapLeftoverTokens();
        run.AssertNoWakeupLostAndBothPathsRan();
    }

    static CqWordWaiter ShortIdleWaiter(TestRing r, CqWord word) => new(r.Ring, word)
    {
        // A very short idle phase, so that most handoffs take the whole path: announce, re-check, kernel sleep,
        // MSG_RING (the path where a wakeup can be lost); a handoff posted within those few checks takes the
        // plain-store path. Under QEMU TCG each PAUSE exits to QEMU's main loop, so a long idle phase made
        // the million handoffs take over 10 minutes there.
        SpinChecks = 16,
        SafetyTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>
    /// The producers, their counters and acks, and what the waiter saw. posted[p] / consumed[p] are per-producer
    /// handoff counters: a producer posts i, notifies, and waits for consumed == i.
    /// </summary>
    sealed class HandoffRun
    {
        readonly TestRing _r;
        readonly CqWordWaiter _waiter;
        readonly int _producers;
        readonly long _per;
        readonly long[] _posted;
        readonly long[] _consumed;
        readonly List<CqWordNotifier> _notifiers;
        readonly ManualResetEventSlim[] _acks;
        readonly List<Thread> _threads;
        readonly Stopwatch _sw = new();
        readonly long[] _reasons = new long[4];
        int _stop;
        long _lost, _tokens, _done;

        public HandoffRun(TestRing r, CqWord word, CqWordWaiter waiter, int producers, long per)
        {
            (_r, _waiter, _producers, _per) = (r, waiter, producers, per);
            _posted = new long[producers];
            _consumed = new long[producers];
            _notifiers = Enumerable.Range(0, producers).Select(_ => new CqWordNotifier(word, waiter.RingFd)).ToList();
            // spinCount 0: the producer's own pause-spin comes first; the event's built-in spin would sched_yield.
            _acks = Enumerable.Range(0, producers).Select(_ => new ManualResetEventSlim(false, spinCount: 0)).ToArray();
            _threads = Enumerable.Range(0, producers)
                .Select(p => new Thread(() => Produce(p)) { IsBackground = true, Name = $"producer-{p}" }).ToList();
        }

        public System.Collections.Concurrent.ConcurrentQueue<Exception> Errors { get; } = new();

        long Total => _per * _producers;

        public void Start()
        {
            _sw.Start();
            foreach (var t in _threads) t.Start();
        }

        void Produce(int p)
        {
            try
            {
                var rng = new Random(1234 + p);
                for (long i = 1; i <= _per; i++)
                {
                    // One handoff in 4 after a short random pause, so posts land anywhere in the waiter's
                    // idle phase, announcement, re-check and entry into io_uring_enter; the rest at once.
                    if ((i & 3) == 0) Thread.SpinWait(rng.Next(0, 16));
                    Volatile.Write(ref _posted[p], i);
                    _notifiers[p].Notify();
                    if (!WaitForAck(p, i)) return;
                }
            }
            catch (Exception e) { Errors.Enqueue(e); }
        }

        /// <summary>
        /// Waits for the ack: a short pause-spin, then block. Never sched_yield in a loop: under EEVDF every yield
        /// pushes the yielder's deadline back, so on a host where other work is runnable a producer that yielded
        /// millions of times barely ran again (0.1 s of CPU in 24 s), and the whole test looked hung (the waiter
        /// then waited for it in the GC's thread suspension). False when the run was stopped.
        /// </summary>
        bool WaitForAck(int p, long i)
        {
            for (var spins = 0; Volatile.Read(ref _consumed[p]) != i;)
            {
                if (Volatile.Read(ref _stop) != 0) return false;
                if (++spins < 64) { Thread.SpinWait(1); continue; }
                _acks[p].Reset();
                if (Volatile.Read(ref _consumed[p]) == i || Volatile.Read(ref _stop) != 0) continue;
                _acks[p].Wait();
            }
            return true;
        }

        bool HasWork()
        {
            for (var p = 0; p < _producers; p++)
                if (Volatile.Read(ref _posted[p]) != Volatile.Read(ref _consumed[p])) return true;
            return false;
        }

        /// <summary>The waiter's loop: wait, reap wakeup tokens, ack every posted handoff.</summary>
        public void WaitForEveryHandoff()
        {
            // One delegate for the whole run: `waiter.Wait(HasWork)` would allocate a new one per call, and every
            // GC has to stop the producers too.
            Func<bool> hasWork = HasWork;
            var deadline = Stopwatch.StartNew();
            while (_done < Total && Errors.IsEmpty)
            {
                var why = _waiter.Wait(hasWork);
                _reasons[(int)why]++;
                if (why == WakeReason.SafetyTimeout && HasWork()) _lost++;
                ReapTokens(failOnOther: true);
                AckPostedHandoffs();
                if ((_done & 0xfff) == 0 && deadline.Elapsed > TimeSpan.FromMinutes(14))
                    Assert.Fail($"only {_done} of {Total} handoffs in 14 minutes");
            }
        }

        void ReapTokens(bool failOnOther)
        {
            io_uring_cqe* cqe;
            while ((cqe = LiburingFast.PeekCqeNowait(_r.Ring)) != null)
            {
                if (CqWordWaiter.IsWakeup(*cqe)) _tokens++;
                else if (failOnOther) Assert.Fail($"unexpected CQE user_data 0x{cqe->user_data:x} res {cqe->res}");
                LiburingFast.CqeSeen(_r.Ring, cqe);
            }
        }

        void AckPostedHandoffs()
        {
            for (var p = 0; p < _producers; p++)
            {
                var v = Volatile.Read(ref _posted[p]);
                var c = _consumed[p];
                if (v == c) continue;
                // Plain checks on the hot path: NUnit constraints allocate, which costs under TCG.
                if (v != c + 1) Assert.Fail($"producer {p} posted {v} before {c} was acked");
                _done++;
                Volatile.Write(ref _consumed[p], v);
                _acks[p].Set();
                if (_done % 100_000 == 0)
                    Console.WriteLine(
                        $"handoffs: {_done} of {Total} after {_sw.Elapsed.TotalSeconds:F0} s (lost {_lost})");
            }
        }

        /// <summary>
        /// Unblocks the producers even if the waiter stopped early (a failed assertion): before, they waited for
        /// an ack that never came and the Join hung with the failure unreported.
        /// </summary>
        public void Stop()
        {
            Volatile.Write(ref _stop, 1);
            foreach (var a in _acks) a.Set();
            foreach (var t in _threads) t.Join();
            foreach (var n in _notifiers) n.Dispose();
            foreach (var a in _acks) a.Dispose();
        }

        /// <summary>A token whose producer was acked before the waiter reaped it is still in the CQ.</summary>
        public void ReapLeftoverTokens() => ReapTokens(failOnOther: false);

        public void AssertNoWakeupLostAndBothPathsRan()
        {
            var stores = _notifiers.Sum(n => n.StoreOnly);
            var wakes = _notifiers.Sum(n => n.KernelWakeups);
            TestContext.Out.WriteLine($"{_done} handoffs ({_producers} producer(s)) in "
                + $"{_sw.Elapsed.TotalSeconds:F1} s: lost={_lost}; notifier store-only={stores} MSG_RING={wakes}; "
                + $"waiter: idle-phase wakes={_waiter.IdleWakeups} kernel sleeps={_waiter.KernelSleeps} "
                + $"safety timeouts={_waiter.SafetyTimeouts}; "
                + $"wake reasons: completion={_reasons[0]} notified={_reasons[1]} work={_reasons[2]} "
                + $"timeout={_reasons[3]}; wakeup CQEs reaped={_tokens}");
            Assert.That(_done, Is.EqualTo(Total));
            Assert.That(_lost, Is.Zero,
                "lost wakeups: the waiter slept through the safety timeout with a handoff pending");
            Assert.That(stores, Is.GreaterThan(0), "the plain-store path never ran");
            Assert.That(wakes, Is.GreaterThan(0), "the MSG_RING path never ran");
            Assert.That(_tokens, Is.GreaterThanOrEqualTo(wakes), "every MSG_RING must arrive as a CQE");
        }
    }
}
