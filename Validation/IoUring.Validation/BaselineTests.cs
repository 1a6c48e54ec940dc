using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Validation;

/// <summary>
/// What every kernel with io_uring must do (6.12 baseline, the patched kernels, and the newer host):
/// proves the pipeline end to end before the feature suites add their own cases.
/// </summary>
public sealed unsafe class BaselineTests
{
    [Test]
    public void SetupReportsSizesAndPackedRingOffsets()
    {
        using var r = new TestRing(entries: 8);
        Assert.That(r.Fd, Is.GreaterThan(2));
        Assert.That(r.Params.sq_entries, Is.EqualTo(8u));
        Assert.That(r.Params.cq_entries, Is.EqualTo(16u), "CQ defaults to twice the SQ");
        if (RunningKernel.Version >= new Version(6, 6))
        {
            // Since 6.6 the heads and tails share the first cache line of the rings.
            Assert.That(r.Params.sq_off.head, Is.EqualTo(0u));
            Assert.That(r.Params.sq_off.tail, Is.EqualTo(4u));
            Assert.That(r.Params.cq_off.head, Is.EqualTo(8u));
            Assert.That(r.Params.cq_off.tail, Is.EqualTo(12u));
            Assert.That(r.Params.sq_off.ring_mask, Is.EqualTo(16u),
                "the word after cq.tail is kernel-written (sq ring mask)");
        }
    }

    [Test]
    public void ProbeListsTheOpcodesTheSuitesUse()
    {
        using var r = new TestRing();
        var probe = io_uring_get_probe_ring(r.Ring);
        Assert.That((nint)probe, Is.Not.Zero, "IORING_REGISTER_PROBE failed");
        try
        {
            Assert.That(probe->last_op, Is.GreaterThanOrEqualTo((byte)IORING_OP_MSG_RING));
            foreach (var op in new[] { IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE, IORING_OP_POLL_ADD,
                IORING_OP_TIMEOUT, IORING_OP_MSG_RING })
                Assert.That(io_uring_opcode_supported(probe, op), Is.Not.Zero, $"opcode {op} not supported");
            TestContext.Out.WriteLine($"kernel {RunningKernel.Release}: last_op={probe->last_op} ops_len={probe->ops_len}");
        }
        finally
        {
            io_uring_free_probe(probe);
        }
    }

    [TestCase(0UL)]
    [TestCase(1UL)]
    [TestCase(0xdead_beef_cafe_f00dUL)]
    [TestCase(ulong.MaxValue)]
    public void NopRoundTripKeepsUserData(ulong userData)
    {
        using var r = new TestRing();
        var sqe = r.Sqe();
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, userData);
        Assert.That(r.Submit(), Is.EqualTo(1));
        var cqe = r.Wait();
        Assert.That(cqe.user_data, Is.EqualTo(userData));
        Assert.That(cqe.res, Is.Zero);
        Assert.That(cqe.flags, Is.Zero);
    }

    [Test]
    public void ManyNopsCompleteOnceEach()
    {
        using var r = new TestRing(entries: 64);
        const int total = 10_000;
        var seen = new bool[total];
        var submitted = 0;
        var completed = 0;
        while (completed < total)
        {
            while (submitted < total && submitted - completed < 64 && io_uring_sq_space_left(r.Ring) > 0)
            {
                var sqe = r.Sqe();
                io_uring_prep_nop(sqe);
                io_uring_sqe_set_data64(sqe, (ulong)submitted++);
            }
            r.Submit();
            var cqe = r.Wait();
            Assert.That(seen[cqe.user_data], Is.False, $"duplicate completion for {cqe.user_data}");
            seen[cqe.user_data] = true;
            completed++;
        }
        Assert.That(seen, Is.All.True);
    }

    [Test]
    public void MsgRingPostsIntoAnotherRing()
    {
        using var source = new TestRing();
        using var target = new TestRing();
        var sqe = source.Sqe();
        io_uring_prep_msg_ring(sqe, target.Fd, 0x1234, 0xfeed_face_0000_0001UL, 0);
        io_uring_sqe_set_data64(sqe, 7);
        Assert.That(source.Submit(), Is.EqualTo(1));
        var own = source.Wait();
        Assert.That((own.user_data, own.res), Is.EqualTo((7UL, 0)), "the sender's own completion");
        var posted = target.Wait();
        Assert.That(posted.user_data, Is.EqualTo(0xfeed_face_0000_0001UL));
        Assert.That(posted.res, Is.EqualTo(0x1234));
        Assert.That(source.Peek(), Is.Null, "nothing else on the source ring");
    }

    [Test]
    public void MsgRingToANonRingFdFailsWithEbadfd()
    {
        using var source = new TestRing();
        var sqe = source.Sqe();
        io_uring_prep_msg_ring(sqe, 0 /* stdin: not an io_uring */, 0, 1, 0);
        source.Submit();
        Assert.That(source.Wait().res, Is.EqualTo(-(int)LibcConstants.EBADFD));
    }

    [Test]
    public void FeatureBitsAreReportedByName()
    {
        using var r = new TestRing();
        var features = r.Params.features;
        var names = typeof(IoUringConstants).GetFields()
            .Where(f => f.Name.StartsWith("IORING_FEAT_", StringComparison.Ordinal) && f.FieldType == typeof(uint))
            .Select(f => (f.Name, Bit: (uint)f.GetValue(null)!)).ToList();
        foreach (var (name, bit) in names)
            TestContext.Out.WriteLine($"{name,-32} {((features & bit) != 0 ? "yes" : "no")}");
        var unknown = features & ~names.Aggregate(0u, (a, n) => a | n.Bit);
        TestContext.Out.WriteLine($"bits this binding has no name for: 0x{unknown:x}");
        // Every bit 6.12 defines (0..15) is set by 6.12 and later kernels.
        if (RunningKernel.Version >= new Version(6, 12))
            Assert.That(features & 0xffffu, Is.EqualTo(0xffffu), $"features 0x{features:x}");
        Assert.That(features & IORING_FEAT_NODROP, Is.Not.Zero);
    }
}
