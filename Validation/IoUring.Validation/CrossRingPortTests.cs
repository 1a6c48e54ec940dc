using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;
using static IoUring.Validation.CrossRing;

namespace IoUring.Validation;

/// <summary>
/// Decisions of the 7.3 port of IOSQE_CQE_TARGET (docs/port-7.3.md, "cross-ring (v3)") that hold on every kernel
/// with the feature, 6.12 included: carriers carry 16-byte CQEs (a CQE32 target gets zeroed extra words, a CQE32
/// source sends plain CQEs), and for READ/WRITE bytes 56..63 are the target, not attr_type_mask. Mirrors parts of
/// liburing-tests/cqe-target-73.c; the cases needing newer facilities are in <see cref="CrossRingFacilityTests"/>.
/// </summary>
[Category(Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqeTarget)]
public sealed unsafe class CrossRingPortTests
{
    [SetUp]
    public void RequireFeature() => RequireKernelFeature();

    [TestCase(0u, IORING_SETUP_CQE32)]
    [TestCase(IORING_SETUP_CQE32, 0u)]
    [TestCase(IORING_SETUP_CQE32, IORING_SETUP_CQE32)]
    public void TargetGetsOne16ByteCqePerRequest(uint srcFlags, uint dstFlags)
    {
        using var src = new TestRing(flags: srcFlags);
        using var dst = new TestRing(flags: dstFlags);
        CqeFormats.ExpectPlainCqes(src, dst);
    }

    /// <summary>IORING_NOP_CQE32 needs a CQE32 or CQE_MIXED ring; from a plain ring it is the opcode's own prep
    /// failure (6.12: an unknown NOP flag), and those go to the target like any failure from prep on (the
    /// semantics table of docs/cross-ring-completion.md). Only a NOP that could post 32 bytes refuses the flag
    /// on the source (<see cref="CrossRingFacilityTests.TargetedNopCqe32IsRefusedOnTheSource"/>).</summary>
    [Test]
    public void TargetedNopCqe32FromAPlainSourceFailsOnTheTarget()
    {
        using var src = new TestRing();
        using var dst = new TestRing();
        var sqe = PrepNopRes(src, 0x32, 0);
        sqe->nop_flags |= IORING_NOP_CQE32;
        io_uring_sqe_set_cqe_target(sqe, dst.Fd);
        Assert.That(src.Submit(), Is.EqualTo(1));
        Expect(dst, 0x32, -LibcConstants.EINVAL, what: "prep failure of a targeted NOP_CQE32 from a plain ring");
        ExpectNone(src, "source");
        ExpectNone(dst, "target");
    }

    /// <summary>
    /// 7.3 reads bytes 56..63 of a READ/WRITE as attr_type_mask (PI); with the flag they hold the target and
    /// mean "no attributes", also for a self target (a local completion). The target fds here are non-zero and not
    /// IORING_RW_ATTR_FLAG_PI (1), so a kernel reading them as a mask fails the request with -EINVAL.
    /// </summary>
    [Test]
    public void TargetedReadAndWriteHaveNoAttributes()
    {
        using var a = new TestRing();
        using var b = new TestRing();
        using var zero = File.OpenHandle("/dev/zero");
        using var nul = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Write);
        var buf = stackalloc byte[64];
        foreach (var (target, where) in new[] { (b, "another ring"), (a, "the submitting ring") })
        {
            Assert.That(target.Fd, Is.GreaterThan(1), "a target fd that is not a valid attribute mask");
            new Span<byte>(buf, 64).Fill(0xa5);
            var read = a.Sqe();
            io_uring_prep_read(read, (int)zero.DangerousGetHandle(), buf, 64, 0);
            read->user_data = 1;
            io_uring_sqe_set_cqe_target(read, target.Fd);
            Assert.That(read->attr_type_mask, Is.EqualTo((ulong)target.Fd), "the target overlays attr_type_mask");
            var write = a.Sqe();
            io_uring_prep_write(write, (int)nul.DangerousGetHandle(), buf, 64, 0);
            write->user_data = 2;
            io_uring_sqe_set_cqe_target(write, target.Fd);
            Assert.That(a.Submit(), Is.EqualTo(2));
            var got = new[] { Get(target, 2000), Get(target, 2000) };
            Assert.That(got.Select(c => c is { } v ? (v.user_data, v.res) : default).OrderBy(x => x.user_data),
                Is.EqualTo(new[] { (1UL, 64), (2UL, 64) }), $"READ and WRITE completions on {where}");
            Assert.That(new Span<byte>(buf, 64).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "read /dev/zero's bytes");
            ExpectNone(a, "A");
            ExpectNone(b, "B");
        }
    }
}

/// <summary>
/// Port decisions that combine IOSQE_CQE_TARGET with what 6.12 lacks: IORING_SETUP_CQE_MIXED rings,
/// IORING_NOP_CQE32 and IORING_FEAT_RW_ATTR (all in 7.3). Each test skips, with the reason, on a kernel
/// without its facility (6.12 refuses CQE_MIXED and NOP_CQE32 with -EINVAL), after checking the kernel
/// refuses it that way. No feature category: the skip is about the facility, so a 6.12 kernel expected to
/// bring cqe-target must not fail it; a kernel that lost the feature fails <see cref="CrossRingPortTests"/>.
/// </summary>
public sealed unsafe class CrossRingFacilityTests
{
    const uint Mixed = IORING_SETUP_CQE_MIXED;

    /// <summary>Skips unless the kernel sets up a CQE_MIXED ring; a kernel without it must say -EINVAL.</summary>
    static void RequireCqeMixed()
    {
        using var r = TestRing.TryCreate(8, Mixed, out var rc);
        if (r != null) return;
        Assert.That(rc, Is.EqualTo(-LibcConstants.EINVAL), "a kernel without CQE_MIXED refuses the setup flag");
        Assert.Ignore($"kernel {RunningKernel.Release} has no IORING_SETUP_CQE_MIXED (setup: {Errno.Describe(rc)})");
    }

    static void Require(uint srcFlags, uint dstFlags)
    {
        RequireKernelFeature();
        if (((srcFlags | dstFlags) & Mixed) != 0) RequireCqeMixed();
    }

    [TestCase(0u, Mixed)]
    [TestCase(Mixed, 0u)]
    [TestCase(Mixed, Mixed)]
    [TestCase(IORING_SETUP_CQE32, Mixed)]
    [TestCase(Mixed, IORING_SETUP_CQE32)]
    public void MixedRingsExchange16ByteCqes(uint srcFlags, uint dstFlags)
    {
        Require(srcFlags, dstFlags);
        using var src = new TestRing(flags: srcFlags);
        using var dst = new TestRing(flags: dstFlags);
        CqeFormats.ExpectPlainCqes(src, dst);
    }

    /// <summary>A NOP asking for a 32-byte CQE from a ring that can post one refuses the flag with -EINVAL on the
    /// submitting ring (the carrier is given back before prep fails), nothing on the target, and the source still
    /// targets afterwards.</summary>
    [TestCase(Mixed, 0u)]
    [TestCase(Mixed, Mixed)]
    [TestCase(IORING_SETUP_CQE32, 0u)]
    [TestCase(IORING_SETUP_CQE32, IORING_SETUP_CQE32)]
    public void TargetedNopCqe32IsRefusedOnTheSource(uint srcFlags, uint dstFlags)
    {
        Require(srcFlags, dstFlags);
        using var src = new TestRing(flags: srcFlags);
        using var dst = new TestRing(flags: dstFlags);
        CqeFormats.RequireLocalNopCqe32(src);
        var sqe = PrepNopRes(src, 2, 0);
        sqe->nop_flags |= IORING_NOP_CQE32;
        io_uring_sqe_set_cqe_target(sqe, dst.Fd);
        Assert.That(src.Submit(), Is.EqualTo(1));
        Expect(src, 2, -LibcConstants.EINVAL, flagsMask: 0, what: "targeted NOP_CQE32");
        ExpectNone(dst, "the refused NOP_CQE32 on the target");
        io_uring_sqe_set_cqe_target(PrepNopRes(src, 3, 3), dst.Fd);
        src.Submit();
        Expect(dst, 3, 3, what: "a plain targeted NOP after the refusal");
        ExpectNone(src, "source");
    }

    /// <summary>The other side of <see cref="CrossRingPortTests.TargetedReadAndWriteHaveNoAttributes"/>: without
    /// the flag the same bytes are attr_type_mask, and a mask other than IORING_RW_ATTR_FLAG_PI is -EINVAL.
    /// Needs no cross-ring feature (runs on any kernel with IORING_FEAT_RW_ATTR, 6.14+).</summary>
    [Test]
    public void UnflaggedReadWithTheTargetBytesIsRefused()
    {
        using var a = new TestRing();
        using var b = new TestRing();
        if ((a.Params.features & IORING_FEAT_RW_ATTR) == 0)
            Assert.Ignore($"kernel {RunningKernel.Release} lacks IORING_FEAT_RW_ATTR (features " +
                $"0x{a.Params.features:x}): bytes 56..63 of a READ are not attributes there");
        using var zero = File.OpenHandle("/dev/zero");
        var buf = stackalloc byte[64];
        var sqe = a.Sqe();
        io_uring_prep_read(sqe, (int)zero.DangerousGetHandle(), buf, 64, 0);
        sqe->user_data = 1;
        sqe->cqe_target_fd = b.Fd; // what io_uring_sqe_set_cqe_target() writes, without the flag
        Assert.That(sqe->attr_type_mask, Is.EqualTo((ulong)b.Fd));
        Assert.That(b.Fd, Is.GreaterThan(1), "not IORING_RW_ATTR_FLAG_PI");
        Assert.That(a.Submit(), Is.EqualTo(1));
        Expect(a, 1, -LibcConstants.EINVAL, what: "READ with attr_type_mask = the fd");
        ExpectNone(b, "B");
    }
}

/// <summary>CQE-format checks shared by the two fixtures.</summary>
static unsafe class CqeFormats
{
    static uint Tail(TestRing r) => Volatile.Read(ref *r.Ring->cq.ktail);

    static bool Big(TestRing r) => (r.Params.flags & IORING_SETUP_CQE32) != 0;

    /// <summary>Fills every CQ slot with a pattern, so what the kernel posts must overwrite it: a zero extra word
    /// afterwards was written by the kernel, not left over from setup.</summary>
    static void Spoil(TestRing r)
    {
        var bytes = (nuint)(*r.Ring->cq.kring_entries) * (nuint)(Big(r) ? 32 : 16);
        new Span<byte>(r.Ring->cq.cqes, checked((int)bytes)).Fill(0xa5);
    }

    /// <summary>Four NOPs with injected results from <paramref name="src"/> to <paramref name="dst"/>: each
    /// arrives as one 16-byte entry (tail +1, IORING_CQE_F_32 clear) with its res and user_data, a CQE32
    /// target's extra words zeroed; nothing on the source.</summary>
    public static void ExpectPlainCqes(TestRing src, TestRing dst)
    {
        Spoil(dst);
        var tail = Tail(dst);
        for (var i = 0; i < 4; i++) io_uring_sqe_set_cqe_target(PrepNopRes(src, 0x10UL + (ulong)i, 100 + i), dst.Fd);
        Assert.That(src.Submit(), Is.EqualTo(4));
        for (var i = 0; i < 4; i++)
        {
            io_uring_cqe* cqe;
            __kernel_timespec ts = default;
            ts.tv_sec = 2;
            Assert.That(io_uring_wait_cqe_timeout(dst.Ring, &cqe, &ts), Is.Zero, $"CQE {i} on the target");
            // Read in place: big_cqe[] exists only inside a CQE32 ring.
            var what = $"CQE {i}: {Show(*cqe)}";
            Assert.That((cqe->user_data, cqe->res), Is.EqualTo((0x10UL + (ulong)i, 100 + i)), what);
            Assert.That(cqe->flags & IORING_CQE_F_32, Is.Zero, $"IORING_CQE_F_32 on a carried CQE: {what}");
            if (Big(dst))
                Assert.That((cqe->big_cqe(0), cqe->big_cqe(1)), Is.EqualTo((0UL, 0UL)), $"extra words: {what}");
            io_uring_cqe_seen(dst.Ring, cqe);
        }
        Assert.That(Tail(dst) - tail, Is.EqualTo(4u), "one CQ entry per carried CQE");
        ExpectNone(src, "source");
        ExpectNone(dst, "target");
    }

    /// <summary>Skips unless a local NOP with IORING_NOP_CQE32 posts its 32-byte CQE on <paramref name="r"/>
    /// (extra1/extra2 from off/addr); a kernel without the flag fails the NOP with -EINVAL.</summary>
    public static void RequireLocalNopCqe32(TestRing r)
    {
        var sqe = PrepNopRes(r, 1, 0);
        sqe->nop_flags |= IORING_NOP_CQE32;
        sqe->off = 0x1111;
        sqe->addr = 0x2222;
        Assert.That(r.Submit(), Is.EqualTo(1));
        io_uring_cqe* cqe;
        __kernel_timespec ts = default;
        ts.tv_sec = 2;
        Assert.That(io_uring_wait_cqe_timeout(r.Ring, &cqe, &ts), Is.Zero, "local NOP_CQE32");
        var c = *cqe;
        var extra = (cqe->big_cqe(0), cqe->big_cqe(1));
        io_uring_cqe_seen(r.Ring, cqe); // on a CQE_MIXED ring liburing steps over both halves (F_32)
        Assert.That(c.user_data, Is.EqualTo(1UL));
        if (c.res == -LibcConstants.EINVAL)
            Assert.Ignore($"kernel {RunningKernel.Release} has no IORING_NOP_CQE32 (a local one: {Show(c)})");
        Assert.That((c.res, extra), Is.EqualTo((0, (0x1111UL, 0x2222UL))), $"local NOP_CQE32: {Show(c)}");
        if (!Big(r)) Assert.That(c.flags & IORING_CQE_F_32, Is.Not.Zero, "a 32-byte CQE on a mixed ring");
    }
}
