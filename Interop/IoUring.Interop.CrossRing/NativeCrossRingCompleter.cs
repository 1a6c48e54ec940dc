using System.Runtime.InteropServices;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Interop.CrossRing;

/// <summary>
/// <see cref="CrossRingCompleter"/>'s rules for code on the raw bindings (a liburing <c>io_uring*</c> and
/// <c>io_uring_sqe*</c>), used by the validation suite and the benchmarks. Same paths, tokens and lost-completion
/// reports; the caller owns the ring and must reap it only through <see cref="Pump"/>. Not thread safe.
/// </summary>
public sealed unsafe class NativeCrossRingCompleter
{
    readonly io_uring* source;
    readonly Relay relay = new();

    /// <summary>Top 16 bits of the source-ring user_data values the relay path owns.</summary>
    public const ulong RelayTag = Relay.Tag;

    /// <summary>Uses the kernel path when <paramref name="sourceFeatures"/> has IORING_FEAT_CQE_TARGET (and
    /// <paramref name="forcePath"/> is null).</summary>
    public NativeCrossRingCompleter(io_uring* sourceRing, uint sourceFeatures, CrossRingPath? forcePath = null)
    {
        source = sourceRing;
        Path = forcePath
            ?? ((sourceFeatures & IORING_FEAT_CQE_TARGET) != 0 ? CrossRingPath.Kernel : CrossRingPath.Relay);
    }

    /// <summary>The path this completer uses (fixed at construction).</summary>
    public CrossRingPath Path { get; }

    /// <summary>Relayed requests whose final CQE has not been forwarded yet.</summary>
    public int InFlight => relay.InFlight;

    /// <summary>Called by <see cref="Pump"/> for each completion a forward failed to deliver.</summary>
    public Action<LostCompletion>? RelayFailed { get; set; }

    /// <summary>Makes <paramref name="sqe"/> complete on <paramref name="targetRingFd"/>. Call it last, after the
    /// io_uring_prep_* call, the user_data and the flags are set.</summary>
    public void Prepare(io_uring_sqe* sqe, int targetRingFd)
    {
        if (Path == CrossRingPath.Kernel)
        {
            io_uring_sqe_set_cqe_target(sqe, targetRingFd);
            return;
        }
        var skip = (sqe->flags & IOSQE_CQE_SKIP_SUCCESS) != 0;
        // The pump has to see the success to retire the token, so the skip is done by it.
        sqe->flags = (byte)(sqe->flags & ~IOSQE_CQE_SKIP_SUCCESS);
        sqe->user_data = relay.Add(sqe->user_data, targetRingFd, skip);
    }

    /// <summary>The user_data a request prepared with <paramref name="userData"/> has on the source ring (for a
    /// cancel): the relay's token, or <paramref name="userData"/> on the kernel path or when not pending.</summary>
    public ulong SourceUserData(ulong userData) =>
        Path == CrossRingPath.Relay && relay.TryFindToken(userData, out var token) ? token : userData;

    /// <summary>
    /// Reaps every CQE ready on the source ring (waiting up to <paramref name="waitMs"/> for the first one when
    /// &gt; 0), forwards the relayed ones, hands the others to <paramref name="local"/>, and submits the forwards.
    /// Returns the number of CQEs reaped.
    /// </summary>
    public int Pump(Action<io_uring_cqe>? local, int waitMs = 0)
    {
        io_uring_cqe* cqe;
        if (waitMs > 0 && io_uring_cq_ready(source) == 0)
        {
            __kernel_timespec ts = default;
            ts.tv_sec = waitMs / 1000;
            ts.tv_nsec = (waitMs % 1000) * 1_000_000L;
            io_uring_wait_cqe_timeout(source, &cqe, &ts);
        }
        var reaped = 0;
        while (io_uring_peek_cqe(source, &cqe) == 0)
        {
            var c = *cqe;
            io_uring_cqe_seen(source, cqe);
            reaped++;
            if (!relay.Route(c.user_data, c.res, c.flags, RelayFailed)) local?.Invoke(c);
        }
        SubmitForwards(source, relay, RelayFailed);
        return reaped;
    }

    /// <summary>Turns the relay's queued forwards into MSG_RING SQEs on <paramref name="ring"/> and submits them. A
    /// forward with no SQE even after a submit is reported lost (EAGAIN) rather than thrown: its source CQE is
    /// already consumed.</summary>
    internal static void SubmitForwards(io_uring* ring, Relay relay, Action<LostCompletion>? lost)
    {
        if (relay.Queue.Count == 0) return;
        foreach (var f in relay.Queue)
        {
            var sqe = LiburingFast.GetSqe(ring);
            if (sqe == null)
            {
                io_uring_submit(ring);
                sqe = LiburingFast.GetSqe(ring);
            }
            if (sqe == null)
            {
                lost?.Invoke(new LostCompletion(f.UserData, f.Result, f.Flags, f.TargetFd, LibcConstants.EAGAIN));
                continue;
            }
            // len is a __u32, but the kernel stores it into the target CQE's __s32 res unchanged: a negative res
            // travels as its two's-complement bits and arrives as the same number.
            io_uring_prep_msg_ring_cqe_flags(sqe, f.TargetFd, unchecked((uint)f.Result), f.UserData,
                IORING_MSG_RING_FLAGS_PASS, f.Flags);
            sqe->user_data = relay.Track(f);
        }
        relay.Queue.Clear();
        io_uring_submit(ring);
    }

    /// <summary>
    /// Whether this kernel supports IOSQE_CQE_TARGET: the feature bit, and a self-targeted injected NOP that must
    /// not fail. <paramref name="probeRes"/> is the NOP's res (-EINVAL on kernels without it).
    /// </summary>
    public static bool KernelSupported(out uint features, out int probeRes)
    {
        var ring = (io_uring*)NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        try
        {
            io_uring_params p = default;
            var rc = io_uring_queue_init_params(4, ring, &p);
            if (rc < 0) throw new InvalidOperationException($"io_uring_queue_init_params: {rc}");
            features = p.features;
            var sqe = io_uring_get_sqe(ring);
            io_uring_prep_nop(sqe);
            sqe->nop_flags = IORING_NOP_INJECT_RESULT;
            sqe->len = 7;
            io_uring_sqe_set_cqe_target(sqe, ring->ring_fd);
            io_uring_submit(ring);
            io_uring_cqe* cqe;
            rc = io_uring_wait_cqe(ring, &cqe);
            probeRes = rc < 0 ? rc : cqe->res;
            if (rc == 0) io_uring_cqe_seen(ring, cqe);
            io_uring_queue_exit(ring);
            return (features & IORING_FEAT_CQE_TARGET) != 0 && probeRes == 7;
        }
        finally
        {
            NativeMemory.Free(ring);
        }
    }
}
