using IoUring.Interop;
using IoUring.Interop.CrossRing;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Validation;

/// <summary>Shared helpers of the cross-ring suites: the feature probe and CQE expectations.</summary>
public static unsafe class CrossRing
{
    static readonly Lazy<(bool Supported, uint Features, int ProbeRes)> probe = new(() =>
    {
        var ok = CrossRingCompleter.KernelSupported(out var features, out var res);
        return (ok, features, res);
    });

    public static bool Supported => probe.Value.Supported;

    /// <summary>
    /// Skips the calling test on kernels without IOSQE_CQE_TARGET, after checking that such a kernel
    /// refuses the flag the documented way (-EINVAL, feature bit clear) rather than ignoring it.
    /// </summary>
    public static void RequireKernelFeature()
    {
        var (supported, features, res) = probe.Value;
        if (supported) return;
        Assert.That(res,
            Is.EqualTo(
                -LibcConstants.EINVAL), $"a kernel without the feature must refuse IOSQE_CQE_TARGET with -EINVAL " +
                    $"(features 0x{features:x})");
        Assert.That(features & IORING_FEAT_CQE_TARGET, Is.Zero, "feature bit set but the flag is refused");
        Assert.Ignore($"kernel {RunningKernel.Release} has no IOSQE_CQE_TARGET (IORING_FEAT_CQE_TARGET clear, flag " +
            $"probe {Errno.Describe(res)})");
    }

    /// <summary>A NOP whose res is injected (IORING_NOP_INJECT_RESULT, 6.10+): a request with a known result.</summary>
    public static io_uring_sqe* PrepNopRes(TestRing ring, ulong userData, int res)
    {
        var sqe = io_uring_get_sqe(ring.Ring);
        if (sqe == null)
        {
            ring.Submit();
            sqe = ring.Sqe();
        }
        io_uring_prep_nop(sqe);
        sqe->nop_flags = IORING_NOP_INJECT_RESULT;
        sqe->len = unchecked((uint)res);
        sqe->user_data = userData;
        return sqe;
    }

    /// <summary>One CQE within <paramref name="ms"/> (also runs task_work of a DEFER_TASKRUN ring), or null.</summary>
    public static io_uring_cqe? Get(TestRing ring, int ms)
    {
        io_uring_cqe* cqe;
        __kernel_timespec ts = default;
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1_000_000L;
        var rc = io_uring_wait_cqe_timeout(ring.Ring, &cqe, &ts);
        if (rc == -LibcConstants.ETIME) return null;
        Assert.That(rc, Is.Zero, $"waiting for a CQE: {Errno.Describe(rc)}");
        var copy = *cqe;
        io_uring_cqe_seen(ring.Ring, cqe);
        return copy;
    }

    public static string Show(io_uring_cqe c) => $"ud=0x{c.user_data:x} res={c.res} flags=0x{c.flags:x}";

    public static void Expect(TestRing ring, ulong userData, int res, uint flagsMask = ~0u, uint flags = 0,
        string what = "")
    {
        var c = Get(ring, 2000);
        Assert.That(c, Is.Not.Null, $"{what}: no CQE for ud=0x{userData:x}");
        Assert.That((c!.Value.user_data, c.Value.res, c.Value.flags & flagsMask), Is.EqualTo((userData, res,
            flags)), $"{what}: got {Show(c.Value)}");
    }

    public static void ExpectNone(TestRing ring, string what)
    {
        var c = Get(ring, 20);
        Assert.That(c, Is.Null, $"{what}: unexpected CQE {(c is { } v ? Show(v) : "")}");
    }
}
