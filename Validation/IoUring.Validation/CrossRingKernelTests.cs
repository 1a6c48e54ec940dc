using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;
using static IoUring.Validation.CrossRing;

namespace IoUring.Validation;

/// <summary>
/// The rules of docs/cross-ring-completion.md that only the kernel path has (submission-time checks,
/// CQ formats, overflow, lifetime), mirroring liburing-tests/cqe-target.c. The semantics both paths
/// share are in <see cref="CrossRingTests"/>. Their skip on a kernel without the feature fails on a kernel
/// expected to bring it.
/// </summary>
[Category(Toolkit.Contract.Features.CategoryPrefix + Toolkit.Contract.Features.CqeTarget)]
public sealed unsafe class CrossRingKernelTests
{
    [SetUp]
    public void RequireFeature() => RequireKernelFeature();

    [Test]
    public void FeatureBitIsReported()
    {
        using var r = new TestRing();
        Assert.That(r.Params.features & IORING_FEAT_CQE_TARGET, Is.Not.Zero);
        Assert.That(IORING_FEAT_CQE_TARGET, Is.EqualTo(1u << 19));
        Assert.That(IOSQE_CQE_TARGET, Is.EqualTo(0x80u));
    }

    [Test]
    public void SetCqeTargetWritesOffset56AndFlagBit7()
    {
        io_uring_sqe sqe = default;
        io_uring_sqe_set_cqe_target(&sqe, 0x1234);
        Assert.That(sqe.flags, Is.EqualTo((byte)0x80));
        Assert.That(*(int*)((byte*)&sqe + 56), Is.EqualTo(0x1234));
        Assert.That(*(uint*)((byte*)&sqe + 60), Is.Zero, "bytes 60..63 stay reserved");
    }

    [Test]
    public void SelfTargetIsALocalCompletionAndKeepsDrain()
    {
        using var a = new TestRing();
        io_uring_sqe_set_cqe_target(PrepNopRes(a, 0x5e1f, 17), a.Fd);
        Assert.That(a.Submit(), Is.EqualTo(1));
        Expect(a, 0x5e1f, 17, what: "local CQE");
        var sqe = PrepNopRes(a, 0xd1, 0);
        sqe->flags |= (byte)IOSQE_IO_DRAIN;
        a.Submit();
        Expect(a, 0xd1, 0, what: "a self target does not disable IOSQE_IO_DRAIN");
    }

    [Test]
    public void Cqe32TargetFromPlainSourceAndTheReverse()
    {
        using var a = new TestRing();
        using var b = new TestRing(flags: IORING_SETUP_CQE32);
        io_uring_sqe_set_cqe_target(PrepNopRes(a, 0x32, 32), b.Fd);
        a.Submit();
        io_uring_cqe* cqe;
        __kernel_timespec ts = default;
        ts.tv_sec = 2;
        Assert.That(io_uring_wait_cqe_timeout(b.Ring, &cqe, &ts), Is.Zero);
        // The 32-byte CQE is read in place: big_cqe[] is only valid inside the ring.
        Assert.That((cqe->user_data, cqe->res, cqe->flags, cqe->big_cqe(0), cqe->big_cqe(1)), Is.EqualTo((0x32UL, 32,
            0u, 0UL, 0UL)), "16 -> 32 bytes, big_cqe[] zero");
        io_uring_cqe_seen(b.Ring, cqe);
        io_uring_sqe_set_cqe_target(PrepNopRes(b, 0x16, 16), a.Fd);
        b.Submit();
        Expect(a, 0x16, 16, what: "32 -> 16 bytes");
        ExpectNone(a, "A");
        ExpectNone(b, "B");
    }

    [Test]
    public void FullTargetCqOverflowsAndLosesNothing()
    {
        using var a = new TestRing(entries: 64);
        using var b = new TestRing(entries: 4);
        Assert.That(b.Params.cq_entries, Is.LessThan(256u));
        for (var i = 0; i < 256; i++)
            io_uring_sqe_set_cqe_target(PrepNopRes(a, (ulong)i, i), b.Fd);
        Assert.That(a.Submit(), Is.GreaterThanOrEqualTo(0));
        Assert.That(Volatile.Read(ref *b.Ring->sq.kflags) & IORING_SQ_CQ_OVERFLOW, Is.Not.Zero,
            "IORING_SQ_CQ_OVERFLOW on B");
        var seen = new bool[256];
        var n = 0;
        while (Get(b, 200) is { } c)
        {
            Assert.That(c.user_data < 256 && c.res == (int)c.user_data && !seen[c.user_data], Is.True, Show(c));
            seen[c.user_data] = true;
            n++;
        }
        Assert.That(n, Is.EqualTo(256));
        ExpectNone(a, "A");
    }

    [Test]
    public void UnusableTargetsFailOnTheSource()
    {
        using var a = new TestRing(flags: IORING_SETUP_SUBMIT_ALL);
        using var b = new TestRing();
        using var disabled = new TestRing(flags: IORING_SETUP_R_DISABLED);
        using var iopoll = new TestRing(flags: IORING_SETUP_IOPOLL);
        var efd = Libc.eventfd(0, 0);
        try
        {
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 1, 0), efd);
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 2, 0), -1);
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 3, 0), 100000);
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 4, 0), disabled.Fd);
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 5, 0), iopoll.Fd);
            Assert.That(a.Submit(), Is.EqualTo(5));
            Expect(a, 1, -LibcConstants.EBADFD, what: "eventfd is not an io_uring");
            Expect(a, 2, -LibcConstants.EBADF, what: "fd -1");
            Expect(a, 3, -LibcConstants.EBADF, what: "unused fd");
            Expect(a, 4, -LibcConstants.EBADFD, what: "R_DISABLED ring");
            Expect(a, 5, -LibcConstants.EINVAL, what: "IOPOLL ring");
            ExpectNone(b, "B");
            ExpectNone(a, "A");
        }
        finally
        {
            Libc.close(efd);
        }
    }

    [Test]
    public void OpcodesUsingTheFieldOrPostingExtraCqesRefuseTheFlag()
    {
        using var a = new TestRing(flags: IORING_SETUP_SUBMIT_ALL);
        using var b = new TestRing();
        var efd = Libc.eventfd(0, 0);
        try
        {
            var sqe = a.Sqe();
            io_uring_prep_rw(IORING_OP_URING_CMD, sqe, efd, null, 0, 0);
            sqe->user_data = 1;
            io_uring_sqe_set_cqe_target(sqe, b.Fd);
            byte x = 1;
            sqe = a.Sqe();
            io_uring_prep_send_zc(sqe, efd, &x, 1, 0, 0);
            sqe->user_data = 2;
            io_uring_sqe_set_cqe_target(sqe, b.Fd);
            sqe = a.Sqe();
            io_uring_prep_rw(IORING_OP_SENDMSG_ZC, sqe, efd, null, 1, 0);
            sqe->user_data = 3;
            io_uring_sqe_set_cqe_target(sqe, b.Fd);
            Assert.That(a.Submit(), Is.EqualTo(3));
            // Refused at submission, whatever the fd is (without the flag these fail differently on an eventfd).
            Expect(a, 1, -LibcConstants.EINVAL, what: "URING_CMD");
            Expect(a, 2, -LibcConstants.EINVAL, what: "SEND_ZC");
            Expect(a, 3, -LibcConstants.EINVAL, what: "SENDMSG_ZC");
            ExpectNone(b, "B");
            ExpectNone(a, "A");
        }
        finally
        {
            Libc.close(efd);
        }
    }

    static TestRing RestrictedRing(uint flagsAllowed)
    {
        var r = new TestRing(flags: IORING_SETUP_R_DISABLED);
        var res = stackalloc io_uring_restriction[2];
        res[0] = default;
        res[1] = default;
        res[0].opcode = IORING_RESTRICTION_SQE_OP;
        res[0].sqe_op = IORING_OP_NOP;
        res[1].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
        res[1].sqe_flags = (byte)flagsAllowed;
        Assert.That(io_uring_register_restrictions(r.Ring, res, 2), Is.Zero, "register restrictions");
        Assert.That(io_uring_enable_rings(r.Ring), Is.Zero, "enable rings");
        return r;
    }

    [Test]
    public void RestrictionsFilterTheFlag()
    {
        using var b = new TestRing();
        using var denied = RestrictedRing(0);
        using var allowed = RestrictedRing(IOSQE_CQE_TARGET);
        io_uring_sqe_set_cqe_target(PrepNopRes(denied, 1, 0), b.Fd);
        denied.Submit();
        Expect(denied, 1, -LibcConstants.EACCES, what: "flag not in sqe_flags_allowed");
        io_uring_sqe_set_cqe_target(PrepNopRes(allowed, 2, 0), b.Fd);
        allowed.Submit();
        Expect(b, 2, 0, what: "flag allowed");
        ExpectNone(denied, "denied");
        ExpectNone(allowed, "allowed");
        ExpectNone(b, "B");
    }

    [Test]
    public void RestrictionsAreCheckedBeforeTheTargetIsLookedAt()
    {
        // A restricted submitter must learn nothing about the fds it names: -EACCES whatever the fd is.
        using var denied = RestrictedRing(0);
        using var b = new TestRing();
        using var disabled = new TestRing(flags: IORING_SETUP_R_DISABLED);
        using var iopoll = new TestRing(flags: IORING_SETUP_IOPOLL);
        var efd = Libc.eventfd(0, 0);
        try
        {
            int[] fds = [-1, 100000, efd, b.Fd, disabled.Fd, iopoll.Fd, denied.Fd];
            for (var i = 0; i < fds.Length; i++)
            {
                io_uring_sqe_set_cqe_target(PrepNopRes(denied, (ulong)i + 1, 0), fds[i]);
                denied.Submit();
                Expect(denied, (ulong)i + 1, -LibcConstants.EACCES, what: $"target fd {fds[i]} on a restricted ring");
            }
            ExpectNone(b, "B");
        }
        finally
        {
            Libc.close(efd);
        }
    }

    [Test]
    public void RefusedTargetLeavesDrainWorking()
    {
        // IOSQE_IO_DRAIN is disabled only once a target was accepted; each refusal below leaves it working.
        using var b = new TestRing();
        using (var restricted = RestrictedRing(IOSQE_IO_DRAIN))
        {
            io_uring_sqe_set_cqe_target(PrepNopRes(restricted, 1, 0), b.Fd);
            restricted.Submit();
            Expect(restricted, 1, -LibcConstants.EACCES, what: "restriction refusal");
            PrepNopRes(restricted, 2, 0)->flags |= (byte)IOSQE_IO_DRAIN;
            restricted.Submit();
            Expect(restricted, 2, 0, what: "drain after a restriction refusal");
        }
        using var a = new TestRing();
        var refusals = new (string What, int Res, Action<IntPtr> Spoil)[]
        {
            ("non-zero ioprio", -LibcConstants.EINVAL, p => ((io_uring_sqe*)p)->ioprio = 1),
            ("unregistered personality", -LibcConstants.EINVAL, p => ((io_uring_sqe*)p)->personality = 0x7ff0),
            ("bad target fd", -LibcConstants.EBADF, p => ((io_uring_sqe*)p)->cqe_target_fd = -1),
            ("drain on the targeted sqe", -LibcConstants.EOPNOTSUPP,
                p => ((io_uring_sqe*)p)->flags |= (byte)IOSQE_IO_DRAIN),
        };
        ulong ud = 0x100;
        foreach (var (what, res, spoil) in refusals)
        {
            var sqe = PrepNopRes(a, ++ud, 0);
            io_uring_sqe_set_cqe_target(sqe, b.Fd);
            spoil((IntPtr)sqe);
            a.Submit();
            Expect(a, ud, res, what: what);
            PrepNopRes(a, ++ud, 0)->flags |= (byte)IOSQE_IO_DRAIN;
            a.Submit();
            Expect(a, ud, 0, what: $"drain after: {what}");
        }
        ExpectNone(b, "B");
    }

    [Test]
    public void BytesAfterTheTargetFdMustBeZero()
    {
        using var a = new TestRing(flags: IORING_SETUP_SUBMIT_ALL);
        using var b = new TestRing();
        uint[] spoilers = [0xffffffff, 1];
        ulong ud = 0;
        foreach (var spoiler in spoilers)
        {
            var nop = PrepNopRes(a, ++ud, 0);
            io_uring_sqe_set_cqe_target(nop, b.Fd);
            *(uint*)((byte*)nop + 60) = spoiler;
            __kernel_timespec ts = default;
            ts.tv_nsec = 1000;
            var timeout = a.Sqe();
            io_uring_prep_timeout(timeout, &ts, 0, 0);
            timeout->user_data = ++ud;
            io_uring_sqe_set_cqe_target(timeout, b.Fd);
            *(uint*)((byte*)timeout + 60) = spoiler;
            Assert.That(a.Submit(), Is.EqualTo(2));
            Expect(a, ud - 1, -LibcConstants.EINVAL, what: $"NOP with 0x{spoiler:x} at bytes 60..63");
            Expect(a, ud, -LibcConstants.EINVAL, what: $"TIMEOUT with 0x{spoiler:x} at bytes 60..63");
        }
        io_uring_sqe_set_cqe_target(PrepNopRes(a, 0x60, 6), b.Fd);
        a.Submit();
        Expect(b, 0x60, 6, what: "zero reserved bytes: delivered");
        ExpectNone(a, "A");
        ExpectNone(b, "B");
    }

    [Test]
    public void DrainIsDisabledOnceASourceUsedATarget()
    {
        using var a = new TestRing(flags: IORING_SETUP_SUBMIT_ALL);
        using var b = new TestRing();
        var sqe = PrepNopRes(a, 1, 0);
        io_uring_sqe_set_cqe_target(sqe, b.Fd);
        sqe->flags |= (byte)IOSQE_IO_DRAIN;
        io_uring_sqe_set_cqe_target(PrepNopRes(a, 2, 0), b.Fd);
        PrepNopRes(a, 3, 0)->flags |= (byte)IOSQE_IO_DRAIN;
        Assert.That(a.Submit(), Is.EqualTo(3));
        Expect(a, 1, -LibcConstants.EOPNOTSUPP, what: "drain + target");
        Expect(b, 2, 0, what: "target");
        Expect(a, 3, -LibcConstants.EOPNOTSUPP, what: "drain after a target");
    }

    [Test]
    public void SqpollSource()
    {
        using var a = new TestRing(flags: IORING_SETUP_SQPOLL);
        using var b = new TestRing();
        for (var i = 0; i < 4; i++)
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 0x50UL + (ulong)i, i), b.Fd);
        Assert.That(a.Submit(), Is.EqualTo(4));
        for (var i = 0; i < 4; i++)
            Expect(b, 0x50UL + (ulong)i, i, what: $"CQE {i} on B");
        ExpectNone(a, "A");
        ExpectNone(b, "B");
    }

    [Test]
    public void TargetClosedWhileRequestsAreInFlight()
    {
        var a = new TestRing();
        var b = new TestRing();
        var c = new TestRing();
        var efd = Libc.eventfd(0, 0);
        var fdsBefore = Directory.GetFiles("/proc/self/fd").Length;
        try
        {
            // A timeout in flight towards B, then B closed: its CQE goes into B's unreachable CQ.
            __kernel_timespec ts = default;
            ts.tv_nsec = 30_000_000;
            var sqe = a.Sqe();
            io_uring_prep_timeout(sqe, &ts, 0, 0);
            sqe->user_data = 1;
            io_uring_sqe_set_cqe_target(sqe, b.Fd);
            // A poll that never fires towards C, then C closed, then A closed (cancels it).
            sqe = a.Sqe();
            io_uring_prep_poll_add(sqe, efd, 1 /* POLLIN */);
            sqe->user_data = 2;
            io_uring_sqe_set_cqe_target(sqe, c.Fd);
            Assert.That(a.Submit(), Is.EqualTo(2));
            b.Dispose();
            c.Dispose();
            ExpectNone(a, "nothing on A");
            Thread.Sleep(60);
            ExpectNone(a, "nothing on A after the timeout fired");
            // A target whose owner thread has exited (DEFER_TASKRUN): queued to its task_work, freed at teardown.
            TestRing? d = null;
            var t = new Thread(() => d = new TestRing(flags: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN));
            t.Start();
            t.Join();
            io_uring_sqe_set_cqe_target(PrepNopRes(a, 3, 0), d!.Fd);
            a.Submit();
            ExpectNone(a, "nothing on A");
            d.Dispose();
        }
        finally
        {
            a.Dispose();
            Libc.close(efd);
        }
        // The rings are freed asynchronously (io_ring_exit_work); what must hold is that every fd is gone.
        Assert.That(Directory.GetFiles("/proc/self/fd").Length, Is.LessThanOrEqualTo(fdsBefore - 3),
            "ring fds and the eventfd closed");
        // A fresh pair still works: nothing wedged in the kernel.
        using var x = new TestRing();
        using var y = new TestRing();
        io_uring_sqe_set_cqe_target(PrepNopRes(x, 9, 9), y.Fd);
        x.Submit();
        Expect(y, 9, 9, what: "after teardown");
    }
}
