using System.Runtime.CompilerServices;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Interop.Tests;

/// <summary>The bindings against the host kernel: NOP round trips, the libc selection, and the managed fast path byte
/// for byte.</summary>
[Category("liburing")]
public sealed unsafe class RoundTripTests
{
    // The natives under test are the cached liburing build's, not whatever the system has.
    [OneTimeSetUp]
    public void PointResolverAtCachedLiburing() => TestEnvironment.PointResolverAtCachedLiburing();

    [Test]
    public void BoolFunctionsTakeAndReturnCSharpBool()
    {
        Assert.That(io_uring_check_version(2, 9), Is.False, "false means the library is at least 2.9");
        Assert.That(io_uring_check_version(99, 0), Is.True, "a version the library isn't");
        io_uring ring;
        Assert.That(io_uring_queue_init(8, &ring, 0), Is.Zero);
        try
        {
            Assert.That(io_uring_cq_has_overflow(&ring), Is.False);
            Assert.That(io_uring_cq_eventfd_enabled(&ring), Is.True, "no IORING_CQ_EVENTFD_DISABLED yet");
            Assert.That(io_uring_cq_eventfd_toggle(&ring, false), Is.Zero);
            Assert.That(io_uring_cq_eventfd_enabled(&ring), Is.False, "the false argument arrived as 0");
            Assert.That(io_uring_cq_eventfd_toggle(&ring, true), Is.Zero);
            Assert.That(io_uring_cq_eventfd_enabled(&ring), Is.True);
        }
        finally { io_uring_queue_exit(&ring); }
    }

    [Test]
    public void NopRoundTripThroughLiburing()
    {
        io_uring ring;
        Assert.That(io_uring_queue_init(8, &ring, 0), Is.Zero);
        try
        {
            for (ulong i = 1; i <= 3; i++)
            {
                var sqe = io_uring_get_sqe(&ring);
                Assert.That((nint)sqe, Is.Not.Zero);
                io_uring_prep_nop(sqe);
                io_uring_sqe_set_data64(sqe, 1000 + i);
            }
            Assert.That(io_uring_submit(&ring), Is.EqualTo(3));
            var seen = new List<ulong>();
            for (var i = 0; i < 3; i++)
            {
                io_uring_cqe* cqe;
                Assert.That(io_uring_wait_cqe(&ring, &cqe), Is.Zero);
                Assert.That(cqe->res, Is.Zero);
                seen.Add(io_uring_cqe_get_data64(cqe));
                io_uring_cqe_seen(&ring, cqe);
            }
            Assert.That(seen, Is.EquivalentTo(new ulong[] { 1001, 1002, 1003 }));
            Assert.That(NativeResolver.Loaded[NativeLibraryNames.LiburingFfi],
                Does.StartWith(TestEnvironment.Liburing.LibDir));
        }
        finally
        {
            io_uring_queue_exit(&ring);
        }
    }

    [Test]
    public void ParamsReportFeaturesAndLiburingVersionMatches()
    {
        io_uring_params p = default;
        io_uring ring;
        Assert.That(io_uring_queue_init_params(4, &ring, &p), Is.Zero);
        try
        {
            Assert.That(p.features & IORING_FEAT_NODROP, Is.Not.Zero);
            Assert.That(p.sq_entries, Is.EqualTo(4u));
            Assert.That(ring.sq.ring_entries, Is.EqualTo(4u));
        }
        finally
        {
            io_uring_queue_exit(&ring);
        }
        Assert.That(io_uring_major_version(), Is.EqualTo(LiburingConstants.IO_URING_VERSION_MAJOR));
        Assert.That(io_uring_minor_version(), Is.EqualTo(LiburingConstants.IO_URING_VERSION_MINOR));
    }

    [Test]
    public void LibcSelectionWorks()
    {
        // Raw io_uring_setup through syscall(): the generated __NR_ number and io_uring_params layout reach the kernel.
        io_uring_params p = default;
        var fd = Libc.syscall(LibcConstants.__NR_io_uring_setup, 2, (long)&p, 0, 0, 0, 0);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0));
        Assert.That(p.sq_off.array, Is.Not.Zero);
        var ring = Libc.mmap(null, p.sq_off.array + p.sq_entries * sizeof(uint),
            LibcConstants.PROT_READ | LibcConstants.PROT_WRITE,
            LibcConstants.MAP_SHARED | LibcConstants.MAP_POPULATE, (int)fd, (long)IORING_OFF_SQ_RING);
        Assert.That((nint)ring, Is.Not.EqualTo((nint)(-1)));
        Assert.That(*(uint*)((byte*)ring + p.sq_off.ring_entries), Is.EqualTo(p.sq_entries));
        Assert.That(Libc.munmap(ring, p.sq_off.array + p.sq_entries * sizeof(uint)), Is.Zero);
        Assert.That(Libc.close((int)fd), Is.Zero);

        var efd = Libc.eventfd(0, LibcConstants.EFD_CLOEXEC | LibcConstants.EFD_NONBLOCK);
        Assert.That(efd, Is.GreaterThanOrEqualTo(0));
        ulong one = 1, back = 0;
        Assert.That(Libc.write(efd, &one, 8), Is.EqualTo((nint)8));
        Assert.That(Libc.read(efd, &back, 8), Is.EqualTo((nint)8));
        Assert.That(back, Is.EqualTo(1ul));
        Assert.That(Libc.sched_yield(), Is.Zero);
        Libc.close(efd);
    }

    [Test]
    public void FlexibleArrayAccessorsAddressTheTrailingMemory()
    {
        var p = io_uring_get_probe();
        Assert.That((nint)p, Is.Not.Zero);
        try
        {
            Assert.That(p->last_op, Is.GreaterThan((byte)IORING_OP_NOP));
            ref var nop = ref p->ops(IORING_OP_NOP);
            Assert.That(nop.op, Is.EqualTo((byte)IORING_OP_NOP));
            Assert.That(nop.flags & IO_URING_OP_SUPPORTED, Is.Not.Zero);
            Assert.That(p->ops_span(p->ops_len).Length, Is.EqualTo(p->ops_len));
            Assert.That(io_uring_opcode_supported(p, IORING_OP_NOP), Is.EqualTo(1));
        }
        finally
        {
            io_uring_free_probe(p);
        }
    }

    /// <summary>
    /// The managed fast path must leave the SQE, the SQ bookkeeping and the CQ head exactly as the C
    /// helpers do: the same operations are run on two identical rings and the bytes compared.
    /// </summary>
    [Test]
    public void FastPathMatchesTheCHelpersByteForByte()
    {
        io_uring native, managed;
        Assert.That(io_uring_queue_init(16, &native, 0), Is.Zero);
        Assert.That(io_uring_queue_init(16, &managed, 0), Is.Zero);
        try
        {
            for (var i = 0; i < 20; i++) // past the ring size: both must return null at the same point
            {
                var a = io_uring_get_sqe(&native);
                var b = LiburingFast.GetSqe(&managed);
                Assert.That(a == null, Is.EqualTo(b == null), $"get_sqe #{i}");
                if (a == null) continue;
                Assert.That((byte*)a - (byte*)native.sq.sqes, Is.EqualTo((byte*)b - (byte*)managed.sq.sqes),
                    "same slot");
                // Dirty both SQEs identically first so the helpers' zeroing is compared too.
                Unsafe.InitBlock(a, 0xA5, 64);
                Unsafe.InitBlock(b, 0xA5, 64);
                if (i % 2 == 0)
                {
                    io_uring_prep_nop(a);
                    LiburingFast.PrepNop(b);
                }
                else
                {
                    var buffer = (void*)0x1234_5678;
                    io_uring_prep_rw(IORING_OP_READ, a, 7, buffer, 4096, 99);
                    LiburingFast.PrepRw(IORING_OP_READ, b, 7, buffer, 4096, 99);
                }
                io_uring_sqe_set_data64(a, (ulong)i * 77);
                LiburingFast.SqeSetData64(b, (ulong)i * 77);
                Assert.That(new ReadOnlySpan<byte>(a, sizeof(io_uring_sqe)).SequenceEqual(new ReadOnlySpan<byte>(b,
                    sizeof(io_uring_sqe))), $"SQE bytes #{i}");
            }
            Assert.That(managed.sq.sqe_tail, Is.EqualTo(native.sq.sqe_tail));
            Assert.That(managed.sq.sqe_head, Is.EqualTo(native.sq.sqe_head));

            // Fresh SQEs from get_sqe itself (no dirtying): the initialization must match as well.
            io_uring_submit(&native);
            io_uring_submit(&managed);
            var x = io_uring_get_sqe(&native);
            var y = LiburingFast.GetSqe(&managed);
            io_uring_prep_nop(x);
            LiburingFast.PrepNop(y);
            Assert.That(new ReadOnlySpan<byte>(x, 64).SequenceEqual(new ReadOnlySpan<byte>(y, 64)));
        }
        finally
        {
            io_uring_queue_exit(&native);
            io_uring_queue_exit(&managed);
        }
    }

    [Test]
    public void FastPathCompletionSideMatchesTheCHelpers()
    {
        io_uring native, managed;
        Assert.That(io_uring_queue_init(8, &native, 0), Is.Zero);
        Assert.That(io_uring_queue_init(8, &managed, 0), Is.Zero);
        try
        {
            foreach (var r in new[] { &native, &managed })
            {
                for (ulong i = 0; i < 4; i++)
                {
                    var sqe = io_uring_get_sqe(r);
                    io_uring_prep_nop(sqe);
                    io_uring_sqe_set_data64(sqe, i);
                }
                Assert.That(io_uring_submit_and_wait(r, 4), Is.EqualTo(4));
            }
            Assert.That(LiburingFast.CqReady(&managed), Is.EqualTo(io_uring_cq_ready(&native)));
            for (var i = 0; i < 4; i++)
            {
                io_uring_cqe* a;
                Assert.That(io_uring_peek_cqe(&native, &a), Is.Zero);
                var b = LiburingFast.PeekCqeNowait(&managed);
                Assert.That((byte*)a - (byte*)native.cq.cqes, Is.EqualTo((byte*)b - (byte*)managed.cq.cqes),
                    "same CQ slot");
                Assert.That(b->user_data, Is.EqualTo(a->user_data));
                io_uring_cqe_seen(&native, a);
                LiburingFast.CqeSeen(&managed, b);
                Assert.That(*managed.cq.khead, Is.EqualTo(*native.cq.khead));
            }
            Assert.That(LiburingFast.PeekCqeNowait(&managed) == null, "CQ drained");
            LiburingFast.CqAdvance(&managed, 0);
            Assert.That(*managed.cq.khead, Is.EqualTo(*native.cq.khead));
        }
        finally
        {
            io_uring_queue_exit(&native);
            io_uring_queue_exit(&managed);
        }
    }
}
