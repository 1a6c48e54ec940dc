using System.Diagnostics;
using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Validation;

/// <summary>
/// The reserved CQ user word (IORING_FEAT_CQ_USER_WORD, kernel-patches/cq-user-word): published offset, same cache
/// line as cq.tail, zero at setup, and never written by the kernel, also while it posts a million CQEs through an
/// overflow episode with other threads storing to the word, for default, NO_MMAP and CQE32 rings.
/// On kernels without the series (6.12 baseline, the host) every test checks that the offset reads 0 and skips;
/// on a kernel expected to bring the feature (toolkit-kernel.json, `vm test --expect`) such a skip fails.
/// </summary>
[Category(Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqUserWord)]
public sealed unsafe class CqUserWordTests
{
    const uint ExpectedOffset = 48;

    /// <summary>Skips (after checking the offset is 0) when the kernel lacks the feature; returns the word
    /// otherwise.</summary>
    internal static uint* RequireWord(io_uring* ring, in io_uring_params p)
    {
        var word = io_uring_cq_user_word(ring);
        if ((p.features & IORING_FEAT_CQ_USER_WORD) == 0)
        {
            Assert.That(p.cq_off.user_word, Is.Zero,
                "a kernel without the feature must report cq_off.user_word (ex-resv1) as 0");
            Assert.That((nint)word, Is.EqualTo((nint)0),
                "liburing's io_uring_cq_user_word must be NULL without the feature");
            Assert.Ignore($"kernel {RunningKernel.Release} lacks IORING_FEAT_CQ_USER_WORD (features 0x{p.features:x}, cq_off.user_word = 0)");
        }
        Assert.That(p.cq_off.user_word, Is.EqualTo(ExpectedOffset));
        Assert.That((nint)word, Is.EqualTo((nint)((byte*)ring->cq.ring_ptr + p.cq_off.user_word)),
            "liburing's pointer = ring_ptr + published offset");
        Assert.That((nint)ring->cq.kuser_word, Is.EqualTo((nint)word));
        return word;
    }

    [Test]
    public void FeatureBitAndOffsetArePublished()
    {
        using var r = new TestRing();
        RequireWord(r.Ring, r.Params);
        Assert.That(r.Params.features & IORING_FEAT_CQ_USER_WORD, Is.EqualTo(1u << 18));
        Assert.That(r.Params.features & IORING_FEAT_NODROP, Is.Not.Zero);
        // Offset 0 would be sq.head: the published offset must not collide with any other published field.
        var others = new[] { r.Params.cq_off.head, r.Params.cq_off.tail, r.Params.cq_off.ring_mask,
            r.Params.cq_off.ring_entries,
            r.Params.cq_off.overflow, r.Params.cq_off.flags, r.Params.sq_off.head, r.Params.sq_off.tail,
                r.Params.sq_off.flags, r.Params.sq_off.dropped };
        foreach (var o in others) Assert.That(Math.Abs((int)o - (int)r.Params.cq_off.user_word),
            Is.GreaterThanOrEqualTo(4), $"word at {r.Params.cq_off.user_word} overlaps a field at {o}");
        Assert.That(r.Params.cq_off.cqes, Is.GreaterThanOrEqualTo(r.Params.cq_off.user_word + 4));
    }

    [TestCase(0u)]
    [TestCase(IORING_SETUP_CQE32)]
    public void WordSharesTheCacheLineOfCqTail(uint flags)
    {
        using var r = new TestRing(flags: flags);
        var word = RequireWord(r.Ring, r.Params);
        var tail = (nuint)r.Ring->cq.ktail;
        TestContext.Out.WriteLine($"cq.tail at 0x{tail:x}, word at 0x{(nuint)word:x}, line 0x{tail / 64 * 64:x}");
        Assert.That((nuint)word / 64, Is.EqualTo(tail / 64), "the word must be on cq.tail's 64-byte line");
        Assert.That((nuint)word - tail, Is.EqualTo((nuint)(ExpectedOffset - r.Params.cq_off.tail)));
    }

    [TestCase(0u)]
    [TestCase(IORING_SETUP_CQE32)]
    public void WordIsZeroAtSetup(uint flags)
    {
        using var r = new TestRing(flags: flags);
        var word = RequireWord(r.Ring, r.Params);
        Assert.That(*word, Is.Zero);
    }

    /// <summary>The acceptance run: >= 1,000,000 NOP CQEs with overflow episodes on a small CQ, two threads storing
    /// into the word.</summary>
    [Test, Property("TimeoutSeconds", 900)]
    public void PatternsSurviveAMillionCqesWithOverflow()
    {
        using var r = new TestRing(entries: 256, cqEntries: 512);
        var word = RequireWord(r.Ring, r.Params);
        var stats = WordWorkload.Run(r.Ring, sqEntries: 256, cqEntries: 512, total: 1_000_000, word);
        TestContext.Out.WriteLine(stats.ToString());
    }

    [Test, Property("TimeoutSeconds", 600)]
    public void Cqe32RingKeepsTheWord()
    {
        using var r = new TestRing(entries: 64, flags: IORING_SETUP_CQE32, cqEntries: 128);
        var word = RequireWord(r.Ring, r.Params);
        Assert.That(*word, Is.Zero);
        TestContext.Out.WriteLine(WordWorkload.Run(r.Ring, 64, 128, 200_000, word).ToString());
    }

    /// <summary>
    /// NO_MMAP: the application provides the ring memory and the kernel does not clear it. Learn where the word
    /// lands, then set up again in the same memory with garbage at exactly that spot: the kernel must zero it.
    /// </summary>
    [TestCase(0u)]
    [TestCase(IORING_SETUP_CQE32)]
    [Property("TimeoutSeconds", 600)]
    public void NoMmapRingZeroesAndKeepsTheWord(uint extraFlags)
    {
        const nuint size = 64 * 1024;
        const uint sq = 32, cq = 64;
        var mem = (byte*)NativeMemory.AlignedAlloc(size, 4096);
        var ring = (io_uring*)NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        try
        {
            io_uring_params Setup()
            {
                io_uring_params p = default;
                p.flags = IORING_SETUP_NO_MMAP | IORING_SETUP_CQSIZE | extraFlags;
                p.cq_entries = cq;
                var rc = io_uring_queue_init_mem(sq, ring, &p, mem, size);
                Assert.That(rc, Is.GreaterThan(0), $"io_uring_queue_init_mem: {Errno.Describe(rc)}");
                return p;
            }

            NativeMemory.Clear(mem, size);
            var p = Setup();
            if ((p.features & IORING_FEAT_CQ_USER_WORD) == 0)
            {
                io_uring_queue_exit(ring);
                RequireWord(ring, p); // asserts 0 and skips
            }
            var offset = (nuint)((byte*)ring->cq.ring_ptr - mem) + p.cq_off.user_word;
            io_uring_queue_exit(ring);
            Assert.That(offset + 4, Is.LessThanOrEqualTo(size), "ring outside the application memory");

            NativeMemory.Clear(mem, size);
            *(uint*)(mem + offset) = 0xa5a5_a5a5u;
            p = Setup();
            try
            {
                var word = RequireWord(ring, p);
                Assert.That((nuint)((byte*)word - mem), Is.EqualTo(offset), "the ring moved in the application memory");
                Assert.That(*word, Is.Zero,
                    "the kernel must zero the word at setup (user memory is not cleared otherwise)");
                Assert.That((nuint)word / 64, Is.EqualTo((nuint)ring->cq.ktail / 64));
                TestContext.Out.WriteLine(WordWorkload.Run(ring, sq, cq, 100_000, word).ToString());
            }
            finally
            {
                io_uring_queue_exit(ring);
            }
        }
        finally
        {
            NativeMemory.Free(ring);
            NativeMemory.AlignedFree(mem);
        }
    }
}

/// <summary>
/// Posts <c>total</c> NOP CQEs in batches of one SQ's worth and, every so often, an overflow episode (twice the CQ
/// submitted before reaping, so the kernel parks CQEs on its overflow list and sets IORING_SQ_CQ_OVERFLOW; NODROP
/// keeps them). Meanwhile two threads each own one 16-bit half of the word and store changing patterns, re-reading
/// each right after the store and again after yielding. Checks: every CQE exactly once with res 0, no pattern
/// ever changed under a writer, and a final known value survives one more overflow episode untouched.
/// </summary>
static unsafe class WordWorkload
{
    public sealed record Stats(int Cqes, int OverflowEpisodes, long OverflowFlagSeen, long[] Stores, double Seconds)
    {
        public override string ToString() =>
            $"{Cqes} CQEs in {Seconds:F1} s ({Cqes / Seconds / 1000:F0} k/s), {OverflowEpisodes} overflow episodes " +
                $"(IORING_SQ_CQ_OVERFLOW seen {OverflowFlagSeen}x), " +
            $"word stores per writer: {string.Join(", ", Stores)}, all re-read intact";
    }

    public static Stats Run(io_uring* ring, uint sqEntries, uint cqEntries, int total, uint* word)
    {
        var seen = new bool[total];
        var writers = new WordWriters((ushort*)word);
        var sw = Stopwatch.StartNew();
        writers.Start();
        (int Reaped, int Episodes, long FlagSeen) posted;
        try
        {
            posted = PostWithOverflowEpisodes(ring, sqEntries, cqEntries, total, seen);
        }
        finally
        {
            writers.Stop();
        }
        Assert.That(writers.Failures, Is.Empty, "the kernel changed the user word under a writer");
        Assert.That(posted.Reaped, Is.EqualTo(total));
        var missing = Array.IndexOf(seen, false);
        Assert.That(missing, Is.EqualTo(-1), $"CQE {missing} never arrived");
        Assert.That(posted.FlagSeen, Is.GreaterThan(0), "no overflow episode actually overflowed the CQ");
        Assert.That(writers.Stores, Has.All.GreaterThan(100L), "the writers barely ran");

        AssertKnownValueSurvivesOverflow(ring, (int)sqEntries, cqEntries, total, word);
        return new Stats(total, posted.Episodes + 1, posted.FlagSeen, writers.Stores, sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Two threads, each owning one 16-bit half of the word, store changing patterns and re-read each right after
    /// the store and again after yielding; every mismatch is a failure.
    /// </summary>
    sealed class WordWriters(ushort* halves)
    {
        readonly List<Thread> _threads = [];
        int _stop;

        public long[] Stores { get; } = new long[2];
        public System.Collections.Concurrent.ConcurrentQueue<string> Failures { get; } = new();

        public void Start()
        {
            for (var t = 0; t < 2; t++)
            {
                var half = t;
                _threads.Add(new Thread(() => Write(half)) { IsBackground = true, Name = $"word-writer-{half}" });
            }
            foreach (var w in _threads) w.Start();
        }

        void Write(int t)
        {
            var p = halves + t;
            ushort v = (ushort)(0x1234 * (t + 1));
            long n = 0;
            while (Volatile.Read(ref _stop) == 0)
            {
                v = (ushort)(v * 31 + 7 + t);
                Volatile.Write(ref *p, v);
                if (Volatile.Read(ref *p) != v)
                    Failures.Enqueue($"writer {t}: stored 0x{v:x4}, read 0x{*p:x4} at once");
                // Yield so the CQE-posting thread keeps running on 2 vCPUs, then re-read after the kernel had time.
                Thread.Yield();
                var back = Volatile.Read(ref *p);
                if (back != v) Failures.Enqueue($"writer {t}: stored 0x{v:x4}, read 0x{back:x4} after yielding");
                n++;
            }
            Stores[t] = n;
        }

        public void Stop()
        {
            Volatile.Write(ref _stop, 1);
            foreach (var w in _threads) w.Join();
        }
    }

    /// <summary>
    /// Posts <paramref name="total"/> NOPs an SQ's worth at a time, reaping after each round; every 64th round (and
    /// the first) submits twice the CQ before reaping.
    /// </summary>
    static (int Reaped, int Episodes, long FlagSeen) PostWithOverflowEpisodes(io_uring* ring, uint sqEntries,
        uint cqEntries, int total, bool[] seen)
    {
        ulong next = 0;
        var reaped = 0;
        var episodes = 0;
        long flagSeen = 0;
        var batch = (int)sqEntries;
        var round = 0;
        while (next < (ulong)total)
        {
            var overflow = round++ % 64 == 0;
            var batches = overflow ? (int)(2 * cqEntries / sqEntries) : 1;
            for (var b = 0; b < batches && next < (ulong)total; b++)
            {
                var n = (int)Math.Min((ulong)batch, (ulong)total - next);
                for (var i = 0; i < n; i++)
                {
                    var sqe = LiburingFast.GetSqe(ring);
                    LiburingFast.PrepNop(sqe);
                    LiburingFast.SqeSetData64(sqe, next++);
                }
                var rc = io_uring_submit(ring);
                Assert.That(rc, Is.EqualTo(n), $"io_uring_submit: {Errno.Describe(rc)}");
            }
            if (overflow)
            {
                episodes++;
                if ((Volatile.Read(ref *ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW) != 0) flagSeen++;
            }
            reaped += Reap(ring, (int)next - reaped, seen);
        }
        return (reaped, episodes, flagSeen);
    }

    /// <summary>A known value across one more overflow episode, with nobody else storing.</summary>
    static void AssertKnownValueSurvivesOverflow(io_uring* ring, int batch, uint cqEntries, int total, uint* word)
    {
        *word = 0xc0ff_ee00u;
        var extra = (int)(2 * cqEntries);
        var data = (ulong)total;
        for (var b = 0; b < extra / batch; b++)
        {
            for (var i = 0; i < batch; i++)
            {
                var sqe = LiburingFast.GetSqe(ring);
                LiburingFast.PrepNop(sqe);
                LiburingFast.SqeSetData64(sqe, data++);
            }
            io_uring_submit(ring);
        }
        Assert.That(Volatile.Read(ref *ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW, Is.Not.Zero, "overflow expected");
        Assert.That(*word, Is.EqualTo(0xc0ff_ee00u), "word changed while the CQ was overflowing");
        var tail = new bool[extra];
        var got = 0;
        while (got < extra) got += Reap(ring, extra - got, tail, baseData: (ulong)total);
        Assert.That(*word, Is.EqualTo(0xc0ff_ee00u), "word changed by the overflow flush");
    }

    /// <summary>Reaps exactly <paramref name="expected"/> CQEs, entering the kernel (which flushes the overflow list)
    /// when the ring is empty.</summary>
    static int Reap(io_uring* ring, int expected, bool[] seen, ulong baseData = 0)
    {
        var got = 0;
        while (got < expected)
        {
            io_uring_cqe* cqe;
            while (got < expected && (cqe = LiburingFast.PeekCqeNowait(ring)) != null)
            {
                var idx = cqe->user_data - baseData;
                Assert.That(idx, Is.LessThan((ulong)seen.Length), $"unexpected user_data {cqe->user_data}");
                Assert.That(seen[idx], Is.False, $"CQE {cqe->user_data} arrived twice");
                Assert.That(cqe->res, Is.Zero, $"NOP {cqe->user_data} failed");
                seen[idx] = true;
                LiburingFast.CqeSeen(ring, cqe);
                got++;
            }
            if (got < expected)
            {
                __kernel_timespec ts = default;
                ts.tv_sec = 10;
                var rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
                Assert.That(rc, Is.Zero, $"waiting for CQE (got {got} of {expected}): {Errno.Describe(rc)}");
            }
        }
        return got;
    }
}
