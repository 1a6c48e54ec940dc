using System.Runtime.InteropServices;
using IoUring.Interop;
using IoUring.Interop.CrossRing;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;
using static IoUring.Validation.CrossRing;

namespace IoUring.Validation;

/// <summary>
/// The semantics both delivery paths of <see cref="NativeCrossRingCompleter"/> (and so <see cref="CrossRingCompleter"/>) must give the receiver: the
/// same (res, flags, user_data) on the target ring, multishot, links, CQE_SKIP_SUCCESS, DEFER_TASKRUN
/// targets, two threads exchanging work. The Kernel fixture skips on kernels without IOSQE_CQE_TARGET;
/// the Relay fixture (IORING_OP_MSG_RING, 6.3+) runs everywhere. Only the Kernel fixture belongs to the
/// cqe-target feature: its skip fails on a kernel expected to bring it.
/// </summary>
[TestFixture(CrossRingPath.Kernel,
    Category = Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqeTarget)]
[TestFixture(CrossRingPath.Relay)]
public sealed unsafe class CrossRingTests(CrossRingPath path)
{
    [SetUp]
    public void RequirePath()
    {
        if (path == CrossRingPath.Kernel) RequireKernelFeature();
    }

    /// <summary>A source ring with its completer, driven by the test thread.</summary>
    sealed class Source : IDisposable
    {
        public readonly TestRing Ring;
        public readonly NativeCrossRingCompleter Completer;
        public readonly List<io_uring_cqe> Local = new();
        public readonly List<string> RelayErrors = new();

        public Source(CrossRingPath path, uint entries = 16, uint flags = 0)
        {
            Ring = new TestRing(entries, flags);
            Completer = new NativeCrossRingCompleter(Ring.Ring, Ring.Params.features, path);
            Completer.RelayFailed = lost => RelayErrors.Add(lost.ToString());
            Assert.That(Completer.Path, Is.EqualTo(path));
        }

        public void Pump(int waitMs = 0) => Completer.Pump(Local.Add, waitMs);

        /// <summary>The next CQE on <paramref name="target"/>, pumping the source meanwhile (the relay needs
        /// it).</summary>
        public io_uring_cqe? Next(TestRing target, int ms = 2000)
        {
            var until = Environment.TickCount64 + ms;
            do
            {
                Pump();
                if (Get(target, 5) is { } c) return c;
            } while (Environment.TickCount64 < until);
            return null;
        }

        public void Expect(TestRing target, ulong ud, int res, uint flagsMask = ~0u, uint flags = 0, string what = "")
        {
            var c = Next(target);
            Assert.That(c, Is.Not.Null, $"{what}: no CQE for ud=0x{ud:x}");
            Assert.That((c!.Value.user_data, c.Value.res, c.Value.flags & flagsMask), Is.EqualTo((ud, res,
                flags)), $"{what}: got {Show(c.Value)}");
        }

        public void ExpectNone(TestRing target, string what)
        {
            var c = Next(target, 30);
            Assert.That(c, Is.Null, $"{what}: unexpected CQE {(c is { } v ? Show(v) : "")}");
        }

        /// <summary>Nothing left on the source: no local CQE, no relayed request pending, no relay failure.</summary>
        public void AssertQuiet(params ulong[] expectedLocal)
        {
            Pump(20);
            Assert.That(Local.Select(c => c.user_data).Order(), Is.EqualTo(expectedLocal.Order()),
                "local CQEs on the source: " + string.Join(", ", Local.Select(Show)));
            Assert.That(Completer.InFlight, Is.Zero, "relayed requests still pending");
            Assert.That(RelayErrors, Is.Empty, "relay failures");
        }

        public void Dispose() => Ring.Dispose();
    }

    [Test]
    public void ResAndUserDataArriveOnTheTarget()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        a.Completer.Prepare(PrepNopRes(a.Ring, 0x1111, 4242), b.Fd);
        a.Completer.Prepare(PrepNopRes(a.Ring, 0x2222, -LibcConstants.ENOENT), b.Fd);
        a.Completer.Prepare(PrepNopRes(a.Ring, ulong.MaxValue >> 16, int.MinValue), b.Fd);
        Assert.That(a.Ring.Submit(), Is.EqualTo(3));
        a.Expect(b, 0x1111, 4242, what: "first");
        a.Expect(b, 0x2222, -LibcConstants.ENOENT, what: "negative res");
        a.Expect(b, ulong.MaxValue >> 16, int.MinValue, what: "int.MinValue res");
        a.ExpectNone(b, "nothing more on B");
        a.AssertQuiet();
    }

    [Test]
    public void ReadOfAnEventfdCompletesOnTheTargetWithItsResult()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        var efd = Libc.eventfd(0, 0);
        var buf = (ulong*)NativeMemory.AllocZeroed(8);
        try
        {
            ulong v = 41;
            Assert.That(Libc.write(efd, &v, 8), Is.EqualTo((nint)8));
            var sqe = a.Ring.Sqe();
            io_uring_prep_read(sqe, efd, buf, 8, 0);
            sqe->user_data = 0xead;
            a.Completer.Prepare(sqe, b.Fd);
            a.Ring.Submit();
            a.Expect(b, 0xead, 8, what: "READ of 8 bytes");
            Assert.That(*buf, Is.EqualTo(41UL), "the data read by the source's request");
            // A read that has to wait (eventfd empty): completes from task_work / poll, still on B.
            sqe = a.Ring.Sqe();
            io_uring_prep_read(sqe, efd, buf, 8, 0);
            sqe->user_data = 0xeae;
            a.Completer.Prepare(sqe, b.Fd);
            a.Ring.Submit();
            a.ExpectNone(b, "read still pending");
            v = 7;
            Libc.write(efd, &v, 8);
            a.Expect(b, 0xeae, 8, what: "deferred READ");
            Assert.That(*buf, Is.EqualTo(7UL));
            a.AssertQuiet();
        }
        finally
        {
            NativeMemory.Free(buf);
            Libc.close(efd);
        }
    }

    [Test]
    public void BufferSelectCflagsNameTheSourcesBuffer()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        var efd = Libc.eventfd(0, 0);
        var bufs = (byte*)NativeMemory.AllocZeroed(4 * 8);
        try
        {
            // Four 8-byte buffers, group 3, ids 10..13, provided to the source ring (a local CQE).
            var sqe = a.Ring.Sqe();
            io_uring_prep_provide_buffers(sqe, bufs, 8, 4, 3, 10);
            sqe->user_data = 0xb0;
            a.Ring.Submit();
            ulong v = 99;
            Libc.write(efd, &v, 8);
            sqe = a.Ring.Sqe();
            io_uring_prep_read(sqe, efd, null, 8, 0);
            sqe->flags |= (byte)IOSQE_BUFFER_SELECT;
            sqe->buf_group = 3;
            sqe->user_data = 0xb1;
            a.Completer.Prepare(sqe, b.Fd);
            a.Ring.Submit();
            var c = a.Next(b);
            Assert.That(c, Is.Not.Null, "no CQE on the target");
            Assert.That((c!.Value.user_data, c.Value.res), Is.EqualTo((0xb1UL, 8)));
            Assert.That(c.Value.flags & IORING_CQE_F_BUFFER, Is.Not.Zero, $"IORING_CQE_F_BUFFER: {Show(c.Value)}");
            var bid = (int)(c.Value.flags >> IORING_CQE_BUFFER_SHIFT);
            Assert.That(bid, Is.InRange(10, 13));
            Assert.That(*(ulong*)(bufs + (bid - 10) * 8), Is.EqualTo(99UL),
                "the data is in the source's buffer the flags name");
            a.AssertQuiet(0xb0);
        }
        finally
        {
            NativeMemory.Free(bufs);
            Libc.close(efd);
        }
    }

    [Test]
    public void MultishotTimeoutEveryShotOnTheTargetWithMore()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        __kernel_timespec ts = default;
        ts.tv_nsec = 10_000_000;
        var sqe = a.Ring.Sqe();
        io_uring_prep_timeout(sqe, &ts, 3, IORING_TIMEOUT_MULTISHOT);
        sqe->user_data = 0x42;
        a.Completer.Prepare(sqe, b.Fd);
        a.Ring.Submit();
        a.Expect(b, 0x42, -LibcConstants.ETIME, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "shot 1");
        a.Expect(b, 0x42, -LibcConstants.ETIME, IORING_CQE_F_MORE, IORING_CQE_F_MORE, "shot 2");
        a.Expect(b, 0x42, -LibcConstants.ETIME, IORING_CQE_F_MORE, 0, "last shot");
        a.ExpectNone(b, "nothing more on B");
        a.AssertQuiet();
    }

    [Test]
    public void MultishotPollEventsAndTheFinalCancelOnTheTarget()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        var efd = Libc.eventfd(0, 0);
        try
        {
            var sqe = a.Ring.Sqe();
            io_uring_prep_poll_multishot(sqe, efd, 1 /* POLLIN */);
            sqe->user_data = 0x33;
            a.Completer.Prepare(sqe, b.Fd);
            a.Ring.Submit();
            ulong v = 1, r;
            for (var i = 0; i < 3; i++)
            {
                Libc.write(efd, &v, 8);
                a.Expect(b, 0x33, 1, IORING_CQE_F_MORE, IORING_CQE_F_MORE, $"event {i}");
                Libc.read(efd, &r, 8);
            }
            sqe = a.Ring.Sqe();
            // The relay gave the request another user_data on the source ring: cancel by that one.
            io_uring_prep_poll_remove(sqe, a.Completer.SourceUserData(0x33));
            sqe->user_data = 0x34;
            a.Ring.Submit();
            a.Expect(b, 0x33, -LibcConstants.ECANCELED, IORING_CQE_F_MORE, 0, "final CQE");
            a.ExpectNone(b, "nothing more on B");
            a.AssertQuiet(0x34);
            Assert.That(a.Local.Single().res, Is.Zero, "the remove completes on the source");
        }
        finally
        {
            Libc.close(efd);
        }
    }

    [Test]
    public void LinksCompleteWhereEachRequestSaysAndFailuresPropagate()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        using var c = new TestRing();
        // B <- 1, C <- 2, A <- 3
        var sqe = PrepNopRes(a.Ring, 1, 0);
        sqe->flags |= (byte)IOSQE_IO_LINK;
        a.Completer.Prepare(sqe, b.Fd);
        sqe = PrepNopRes(a.Ring, 2, 0);
        sqe->flags |= (byte)IOSQE_IO_LINK;
        a.Completer.Prepare(sqe, c.Fd);
        PrepNopRes(a.Ring, 3, 0);
        // failing head: B <- 4 -EIO, C <- 5 -ECANCELED, A <- 6 -ECANCELED
        sqe = PrepNopRes(a.Ring, 4, -5 /* EIO */);
        sqe->flags |= (byte)IOSQE_IO_LINK;
        a.Completer.Prepare(sqe, b.Fd);
        sqe = PrepNopRes(a.Ring, 5, 0);
        sqe->flags |= (byte)IOSQE_IO_LINK;
        a.Completer.Prepare(sqe, c.Fd);
        PrepNopRes(a.Ring, 6, 0);
        Assert.That(a.Ring.Submit(), Is.EqualTo(6));
        // Within a ring the two chains may complete in either order.
        var onB = new[] { a.Next(b), a.Next(b) };
        var onC = new[] { a.Next(c), a.Next(c) };
        Assert.That(onB.Select(x => (x?.user_data, x?.res)), Is.EquivalentTo(new (ulong?, int?)[] { (1, 0), (4, -5) }));
        Assert.That(onC.Select(x => (x?.user_data, x?.res)), Is.EquivalentTo(new (ulong?, int?)[] { (2, 0), (5,
            -LibcConstants.ECANCELED) }));
        a.ExpectNone(b, "B");
        a.ExpectNone(c, "C");
        a.AssertQuiet(3, 6);
        Assert.That(a.Local.Single(x => x.user_data == 6).res, Is.EqualTo(-LibcConstants.ECANCELED));
    }

    [Test]
    public void SkipSuccessDropsSuccessesAndDeliversFailures()
    {
        using var a = new Source(path);
        using var b = new TestRing();
        var sqe = PrepNopRes(a.Ring, 7, 0);
        sqe->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
        a.Completer.Prepare(sqe, b.Fd);
        sqe = PrepNopRes(a.Ring, 8, -5);
        sqe->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
        a.Completer.Prepare(sqe, b.Fd);
        a.Completer.Prepare(PrepNopRes(a.Ring, 9, 0), b.Fd);
        Assert.That(a.Ring.Submit(), Is.EqualTo(3));
        a.Expect(b, 8, -5, what: "the failed one");
        a.Expect(b, 9, 0, what: "marker");
        a.ExpectNone(b, "B");
        a.AssertQuiet();
    }

    [Test]
    public void DeferTaskrunTargetIsReapedByItsOwnerThread()
    {
        // This thread owns the SINGLE_ISSUER/DEFER_TASKRUN target; a second thread owns the source.
        using var b = new TestRing(entries: 64, flags: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
        const int n = 40;
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try
            {
                using var a = new Source(path);
                for (var i = 0; i < n; i++)
                    a.Completer.Prepare(PrepNopRes(a.Ring, 0x1000UL + (ulong)i, i), b.Fd);
                a.Ring.Submit();
                var until = Environment.TickCount64 + 5000;
                while (a.Completer.InFlight > 0 && Environment.TickCount64 < until) a.Pump(5);
                a.AssertQuiet();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        t.Start();
        t.Join();
        Assert.That(failure, Is.Null, failure?.ToString());
        // The CQEs were handed to this task's task_work: they appear once it waits.
        for (var i = 0; i < n; i++)
            CrossRing.Expect(b, 0x1000UL + (ulong)i, i, what: $"CQE {i}");
        CrossRing.ExpectNone(b, "nothing more");
    }

    [TestCase(0u, 100_000)]
    [TestCase(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 20_000)]
    [Property("TimeoutSeconds", 900)]
    public void TwoThreadsExchangeWorkAndEveryCompletionIsAccountedFor(uint setupFlags, int perDirection)
    {
        var exchange = new WorkExchange(path, setupFlags, perDirection);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var threads = new[] { new Thread(() => exchange.Run(0)), new Thread(() => exchange.Run(1)) };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.That(exchange.Errors, Is.All.Null, string.Join("\n", exchange.Errors));
        Assert.That(exchange.Received, Is.EqualTo(new long[] { perDirection, perDirection }));
        TestContext.Out.WriteLine($"{path} setup 0x{setupFlags:x}: {perDirection} each way, "
            + $"{2.0 * perDirection / sw.Elapsed.TotalSeconds:F0} completions/s");
    }

    /// <summary>
    /// Two rings, one thread each, each sending the other <c>perDirection</c> NOPs whose completions land on the
    /// peer's ring. user_data = sender &lt;&lt; 40 | seq, res = seq &amp; 0x7fff, so each side can check every
    /// completion it gets exactly once.
    /// </summary>
    sealed class WorkExchange(CrossRingPath path, uint setupFlags, int perDirection)
    {
        // Credits: at most this many of one side's NOPs not yet reaped by the peer, so its CQ never overflows.
        const int Window = 128;
        readonly long[] _reaped = new long[2];
        readonly int[] _fds = new int[2];
        readonly Barrier _ready = new(2);
        int _abort;

        public string?[] Errors { get; } = new string?[2];
        public long[] Received { get; } = new long[2];

        public void Run(int me)
        {
            try
            {
                using var s = new Source(path, entries: 256, flags: setupFlags);
                _fds[me] = s.Ring.Fd;
                _ready.SignalAndWait();
                var seen = new bool[perDirection];
                var got = Exchange(s, me, seen);
                Assert.That(seen, Is.All.True);
                Assert.That(s.RelayErrors, Is.Empty);
                Received[me] = got;
                // Keep the ring (a target of the peer) open until the peer has everything.
                _ready.SignalAndWait();
            }
            catch (Exception e)
            {
                Errors[me] = e.ToString();
                Volatile.Write(ref _abort, 1);
                _ready.RemoveParticipantSafe();
            }
        }

        /// <summary>
        /// Sends while there are credits and reaps what the peer sent; returns how many completions arrived.
        /// </summary>
        long Exchange(Source s, int me, bool[] seen)
        {
            var peer = 1 - me;
            long sent = 0, got = 0;
            var deadline = Environment.TickCount64 + 800_000;
            void OnLocal(io_uring_cqe c)
            {
                CheckFromPeer(c, me, seen);
                got++;
            }
            while (sent < perDirection || got < perDirection || s.Completer.InFlight > 0)
            {
                if (Volatile.Read(ref _abort) != 0) throw new OperationCanceledException($"ring {me}: the peer failed");
                if (Environment.TickCount64 > deadline)
                    throw new TimeoutException($"ring {me}: sent {sent} got {got} in flight {s.Completer.InFlight}");
                sent = SendWithinCredits(s, me, sent);
                var canSend = sent < perDirection && sent - Volatile.Read(ref _reaped[peer]) < Window;
                s.Completer.Pump(OnLocal, canSend ? 0 : 1);
                Volatile.Write(ref _reaped[me], got);
            }
            return got;
        }

        /// <summary>Queues NOPs for the peer while credits and SQ space last; returns the new count sent.</summary>
        long SendWithinCredits(Source s, int me, long sent)
        {
            var peer = 1 - me;
            var queued = 0;
            while (sent < perDirection && sent - Volatile.Read(ref _reaped[peer]) < Window
                   && io_uring_sq_space_left(s.Ring.Ring) > 8)
            {
                var sqe = PrepNopRes(s.Ring, ((ulong)me << 40) | (ulong)sent, (int)(sent & 0x7fff));
                s.Completer.Prepare(sqe, _fds[peer]);
                sent++;
                queued++;
            }
            if (queued > 0) s.Ring.Submit();
            return sent;
        }

        /// <summary>Everything local on a ring comes from the peer, each sequence number once, with its res.</summary>
        void CheckFromPeer(io_uring_cqe c, int me, bool[] seen)
        {
            var from = (int)(c.user_data >> 40);
            var seq = (long)(c.user_data & 0xff_ffff_ffffUL);
            if (from != 1 - me || seq >= perDirection || seen[seq] || c.res != (int)(seq & 0x7fff) || c.flags != 0)
                throw new InvalidOperationException($"ring {me}: unexpected {Show(c)}");
            seen[seq] = true;
        }
    }
}

static class BarrierExtensions
{
    /// <summary>Lets the other thread through the barrier when this one failed (it would wait forever).</summary>
    public static void RemoveParticipantSafe(this Barrier b)
    {
        try { b.RemoveParticipant(); } catch (InvalidOperationException) { }
    }
}
