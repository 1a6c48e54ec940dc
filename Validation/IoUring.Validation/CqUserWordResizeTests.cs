using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Validation;

/// <summary>
/// The CQ user word across IORING_REGISTER_RESIZE_RINGS (docs/port-7.3.md, cq-user-word v2): the resize copies
/// the word into the new rings under the completion lock and publishes the same cq_off.user_word; that copy is
/// the kernel's only store to the word after setup. Mirrors liburing-tests/cq-user-word-73-resize.c.
/// On a kernel with the word but without resizing (6.12, which refuses the register opcode with -EINVAL) each
/// test checks that the refusal left the word as stored, and passes; without the word they skip like
/// <see cref="CqUserWordTests"/>.
/// </summary>
[Category(Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqUserWord)]
public sealed unsafe class CqUserWordResizeTests
{
    // io_register_resize_rings() is limited to DEFER_TASKRUN rings, which must be SINGLE_ISSUER.
    const uint Resizable = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

    static io_uring_params ResizeTo(uint sq, uint cq)
    {
        io_uring_params p = default;
        p.sq_entries = sq;
        p.cq_entries = cq;
        p.flags = IORING_SETUP_CQSIZE;
        return p;
    }

    /// <summary>True for the refusal of a kernel older than RESIZE_RINGS (6.13); on a newer kernel -EINVAL for a
    /// valid resize of a DEFER_TASKRUN ring is a failure, so this asserts the version.</summary>
    static bool RefusedByAnOldKernel(int rc)
    {
        if (rc != -LibcConstants.EINVAL || RunningKernel.Version >= new Version(6, 13)) return false;
        TestContext.Out.WriteLine($"kernel {RunningKernel.Release} refuses IORING_REGISTER_RESIZE_RINGS " +
            $"({Errno.Describe(rc)}): checking the refusal left the word alone");
        return true;
    }

    /// <summary>Posts <paramref name="n"/> NOP CQEs, 8 at a time, and reaps them.</summary>
    static void Nops(TestRing r, int n)
    {
        for (var done = 0; done < n; done += 8)
        {
            for (var i = 0; i < 8; i++) io_uring_prep_nop(r.Sqe());
            Assert.That(io_uring_submit_and_wait(r.Ring, 8), Is.EqualTo(8));
            for (var i = 0; i < 8; i++) Assert.That(r.Wait().res, Is.Zero);
        }
    }

    /// <summary>liburing's io_uring_resize_rings(): re-maps the rings, so the word's pointer is re-read after it.
    /// Checks the new rings are in use, the offset is unchanged and the word holds <paramref name="stored"/>.</summary>
    static uint* ResizeKeeps(TestRing r, uint sq, uint cq, uint offset, uint stored)
    {
        var p = ResizeTo(sq, cq);
        var rc = io_uring_resize_rings(r.Ring, &p);
        Assert.That(rc, Is.GreaterThanOrEqualTo(0), $"resize to {sq}/{cq}: {Errno.Describe(rc)}");
        Assert.That(*r.Ring->cq.kring_entries, Is.EqualTo(cq), "liburing maps the new rings");
        Assert.That(p.cq_off.user_word, Is.EqualTo(offset), "cq_off.user_word after the resize");
        var word = io_uring_cq_user_word(r.Ring);
        Assert.That((nint)word, Is.EqualTo((nint)((byte*)r.Ring->cq.ring_ptr + offset)));
        Assert.That(*word, Is.EqualTo(stored), $"word after the resize to {sq}/{cq}");
        return word;
    }

    [Test]
    public void StoredValueSurvivesAResizeAtTheSameOffset()
    {
        using var r = new TestRing(flags: Resizable);
        var word = CqUserWordTests.RequireWord(r.Ring, r.Params);
        var offset = r.Params.cq_off.user_word;
        Assert.That(*word, Is.Zero);
        *word = 0x5eed_0001u;
        var p = ResizeTo(32, 128);
        var rc = io_uring_resize_rings(r.Ring, &p);
        if (RefusedByAnOldKernel(rc))
        {
            Assert.That(*word, Is.EqualTo(0x5eed_0001u), "word after the refused resize");
            Nops(r, 96);
            Assert.That(*word, Is.EqualTo(0x5eed_0001u), "word after NOPs");
            return;
        }
        Assert.That(rc, Is.GreaterThanOrEqualTo(0), $"resize: {Errno.Describe(rc)}");
        // The first resize was done above by hand; check it like the next ones.
        Assert.That(*r.Ring->cq.kring_entries, Is.EqualTo(128u));
        Assert.That(p.cq_off.user_word, Is.EqualTo(offset));
        word = io_uring_cq_user_word(r.Ring);
        Assert.That(*word, Is.EqualTo(0x5eed_0001u), "word after the resize to 32/128");
        Nops(r, 1000);
        Assert.That(*word, Is.EqualTo(0x5eed_0001u), "word after 1000 NOPs in the resized rings");
        // Back down, with a new value stored in between.
        *word = 0x5eed_0002u;
        word = ResizeKeeps(r, 8, 16, offset, 0x5eed_0002u);
        Nops(r, 16);
        Assert.That(*word, Is.EqualTo(0x5eed_0002u), "word after NOPs in the shrunk rings");
    }

    const int Rounds = 20;

    /// <summary>
    /// A thread stores an increasing counter to the word while the main thread resizes: the new rings' word must
    /// be a value it stored during the resize, between the one published before the resize began and the one after
    /// the last published (stored, not yet published), never 0 or anything else. Then, quiet, a value stored last
    /// must come through a second resize exactly. The resizes are raw register calls and the new rings are mapped
    /// here: liburing's io_uring_resize_rings() unmaps the old rings, where the storer is still storing.
    /// </summary>
    [Test, Property("TimeoutSeconds", 300)]
    public void ConcurrentStoresAcrossRepeatedResizes()
    {
        using var r = new TestRing(flags: Resizable);
        var word = CqUserWordTests.RequireWord(r.Ring, r.Params);
        var offset = r.Params.cq_off.user_word;
        var storer = new CounterStorer { Final = 0xf1a1_0001u };
        using var maps = new RingMappings(r.Fd);
        for (var round = 0; round < Rounds; round++)
        {
            var big = round % 2 == 0;
            var (lo, hi, rc, p) = storer.StoreDuring(word, () => RawResize(r.Fd, big ? 16u : 8u, big ? 64u : 16u));
            if (round == 0 && RefusedByAnOldKernel(rc))
            {
                Assert.That(*word, Is.EqualTo(storer.Final), "the storer's last value after the refused resize");
                return;
            }
            Assert.That(rc, Is.Zero, $"round {round}: resize: {Errno.Describe(rc)}");
            Assert.That(p.cq_off.user_word, Is.EqualTo(offset), $"round {round}: cq_off.user_word");
            var racing = maps.Map(p);
            var got = Volatile.Read(ref *(uint*)(racing + offset));
            Assert.That(got != 0 && got >= lo && got <= hi + 1, Is.True,
                $"round {round}: word 0x{got:x} in the new rings; the thread stored 0x{lo:x}..0x{hi + 1:x} meanwhile");
            // The storer's last store went to the rings it was given: nothing stored there after the swap.
            Assert.That(*word, Is.EqualTo(storer.Final), $"round {round}: the old rings' word");

            storer.Final++;
            Volatile.Write(ref *(uint*)(racing + offset), storer.Final);
            var (qrc, qp) = RawResize(r.Fd, 8, 32);
            Assert.That(qrc, Is.Zero, $"round {round}: quiet resize: {Errno.Describe(qrc)}");
            var quiet = maps.Map(qp);
            Assert.That(*(uint*)(quiet + offset), Is.EqualTo(storer.Final), $"round {round}: after a quiet resize");
            word = (uint*)(quiet + offset); // the next round's thread stores into these rings
            storer.Final++;
        }
        TestContext.Out.WriteLine($"{Rounds} racing and {Rounds} quiet resizes, last counter 0x{storer.Final:x}");
    }

    /// <summary>IORING_REGISTER_RESIZE_RINGS through liburing's plain syscall wrapper: liburing's own mapping
    /// and struct io_uring stay as they were (stale, still mapped).</summary>
    static (int Rc, io_uring_params P) RawResize(int fd, uint sq, uint cq)
    {
        var p = ResizeTo(sq, cq);
        var rc = io_uring_register((uint)fd, (uint)IORING_REGISTER_RESIZE_RINGS, &p, 1);
        return (rc, p);
    }

    /// <summary>The rings mapped after raw resizes (the fd's current rings at each call), unmapped at the end;
    /// liburing's original mapping is the TestRing's to unmap.</summary>
    sealed class RingMappings(int fd) : IDisposable
    {
        readonly List<(nint Ptr, nuint Len)> maps = [];

        public byte* Map(in io_uring_params p)
        {
            var len = Math.Max(p.cq_off.cqes + (nuint)p.cq_entries * (nuint)sizeof(io_uring_cqe),
                p.sq_off.array + (nuint)p.sq_entries * sizeof(uint));
            var ptr = Libc.mmap(null, len, LibcConstants.PROT_READ | LibcConstants.PROT_WRITE,
                LibcConstants.MAP_SHARED | LibcConstants.MAP_POPULATE, fd, (long)IORING_OFF_SQ_RING);
            Assert.That((nint)ptr, Is.Not.EqualTo((nint)(-1)), "mmap of the new rings");
            maps.Add(((nint)ptr, len));
            Assert.That(*(uint*)((byte*)ptr + p.cq_off.ring_entries), Is.EqualTo(p.cq_entries), "mapped the new rings");
            return (byte*)ptr;
        }

        public void Dispose()
        {
            foreach (var (ptr, len) in maps) Libc.munmap((void*)ptr, len);
        }
    }

    /// <summary>A thread storing 1, 2, 3, ... to a word, publishing each value after its store; when stopped it
    /// stores <see cref="Final"/> last.</summary>
    sealed class CounterStorer
    {
        uint published;
        int stop;

        public uint Final;

        /// <summary>Runs <paramref name="action"/> while the thread stores to <paramref name="word"/>; returns the
        /// values published just before and just after it.</summary>
        public (uint Lo, uint Hi, int Rc, io_uring_params P) StoreDuring(uint* word,
            Func<(int Rc, io_uring_params P)> action)
        {
            Volatile.Write(ref stop, 0);
            Volatile.Write(ref published, 0);
            var w = (nint)word;
            var t = new Thread(() => Store((uint*)w)) { IsBackground = true, Name = "word-storer" };
            t.Start();
            // Sleep rather than spin: the storer may share a vCPU with this thread.
            var until = Environment.TickCount64 + 10_000;
            while (Volatile.Read(ref published) < 1000 && Environment.TickCount64 < until) Thread.Sleep(1);
            var lo = Volatile.Read(ref published);
            var (rc, p) = action();
            var hi = Volatile.Read(ref published);
            Volatile.Write(ref stop, 1);
            t.Join();
            Assert.That(lo, Is.GreaterThanOrEqualTo(1000u), "the storer barely ran");
            return (lo, hi, rc, p);
        }

        void Store(uint* word)
        {
            uint v = 0;
            while (Volatile.Read(ref stop) == 0)
            {
                if (++v == 0x7fff_ffffu) v = 1;
                Volatile.Write(ref *word, v);
                Volatile.Write(ref published, v);
            }
            Volatile.Write(ref *word, Final);
            Volatile.Write(ref published, Final);
        }
    }
}
