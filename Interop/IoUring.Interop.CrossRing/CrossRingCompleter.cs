using System.Runtime.InteropServices;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Interop.CrossRing;

/// <summary>How a <see cref="CrossRingCompleter"/> delivers a completion to another ring.</summary>
public enum CrossRingPath
{
    /// <summary><c>IOSQE_CQE_TARGET</c>: the kernel posts the CQE on the target (kernels with
    /// <c>IORING_FEAT_CQE_TARGET</c>).</summary>
    Kernel,
    /// <summary>The request completes on the source ring; <see cref="CrossRingCompleter.Pump"/> re-posts it on the
    /// target with <c>IORING_OP_MSG_RING</c> (6.3+ for <c>IORING_MSG_RING_FLAGS_PASS</c>).</summary>
    Relay,
}

/// <summary>
/// "Complete this request on that ring", for one source ring owned by one thread (not thread safe:
/// call <see cref="Prepare"/> and <see cref="Pump"/> from the thread that submits on the source ring).
/// The receiver sees the same (res, flags, user_data) on the target ring whichever path is used;
/// it needs no code of this class.
/// <para>
/// Relay path: <see cref="Prepare"/> swaps the SQE's user_data for a token (top 16 bits
/// <see cref="RelayTag"/>: user_data with these bits is reserved on the source ring) and remembers the
/// original user_data and target. The source thread must call <see cref="Pump"/>, which reaps the source
/// CQ and, for each relayed CQE, submits a MSG_RING SQE with <c>data</c> = the original user_data,
/// <c>len</c> = <c>(uint)res</c> and <c>IORING_MSG_RING_FLAGS_PASS</c> + the CQE's flags. <c>len</c> is a
/// <c>__u32</c> but the kernel stores it into the target CQE's <c>__s32 res</c> unchanged, so a negative res
/// travels as its two's-complement bit pattern and arrives as the same negative number.
/// </para>
/// <para>
/// Differences from the kernel path: one extra SQE and a hop through the source thread per completion
/// (it must be running and pumping: latency is bounded by how often it pumps); the CQE is delivered only
/// after the source CQ is reaped, so ordering is per source ring (in source CQ order) rather than
/// completion order across rings; <c>IOSQE_CQE_SKIP_SUCCESS</c> is emulated (the flag is removed, the
/// source CQE is reaped and a success is dropped by the pump), so it costs a source CQE; a target CQ
/// that is full makes MSG_RING fail (reported to <see cref="RelayFailed"/>) where the kernel path
/// overflows into the target's overflow list; a bad target fd is found at forward time (the relayed
/// request already ran) instead of at submission.
/// </para>
/// </summary>
public sealed unsafe class CrossRingCompleter
{
    /// <summary>Top 16 bits of the source-ring user_data values the relay path owns.</summary>
    public const ulong RelayTag = 0xC7A6_0000_0000_0000UL;
    const ulong TagMask = 0xFFFF_0000_0000_0000UL;
    /// <summary>user_data of the relay's own MSG_RING SQEs (only a failure posts a CQE for them).</summary>
    const ulong ForwardToken = RelayTag | 0x0000_FFFF_FFFF_FFFFUL;

    readonly io_uring* source;
    readonly Dictionary<ulong, Pending> pending = new();
    ulong nextToken;

    record struct Pending(ulong UserData, int TargetFd, bool SkipSuccess);

    /// <summary>Uses the kernel feature when the source ring reports it (and <paramref name="forcePath"/> is
    /// null).</summary>
    public CrossRingCompleter(io_uring* sourceRing, uint sourceFeatures, CrossRingPath? forcePath = null)
    {
        source = sourceRing;
        Path = forcePath
            ?? ((sourceFeatures & IORING_FEAT_CQE_TARGET) != 0 ? CrossRingPath.Kernel : CrossRingPath.Relay);
    }

    /// <summary>The path this completer uses (fixed at construction).</summary>
    public CrossRingPath Path { get; }

    /// <summary>Relayed requests whose final CQE has not been forwarded yet.</summary>
    public int InFlight => pending.Count;

    /// <summary>
    /// Called by <see cref="Pump"/> with (user_data, target fd, MSG_RING error) when a forward fails. All forwards
    /// share one source user_data (so that success can be skipped cheaply), so user_data is 0 and the fd -1:
    /// the callback says that a completion was lost and why, not which one.
    /// </summary>
    public Action<ulong, int, int>? RelayFailed { get; set; }

    /// <summary>
    /// Makes <paramref name="sqe"/> complete on <paramref name="targetRingFd"/>. Call it last, after the
    /// io_uring_prep_* call, the user_data and the flags are set.
    /// </summary>
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
        // Any 48-bit value except the one ForwardToken uses.
        var token = RelayTag | (nextToken++ % 0x0000_FFFF_FFFF_FFFFUL);
        pending[token] = new Pending(sqe->user_data, targetRingFd, skip);
        sqe->user_data = token;
    }

    /// <summary>
    /// The user_data a request prepared with <paramref name="userData"/> has on the source ring, for
    /// cancelling or removing it (IORING_OP_ASYNC_CANCEL, POLL_REMOVE, TIMEOUT_REMOVE): the relay replaced it
    /// with a token; on the kernel path it is unchanged. Returns <paramref name="userData"/> when not pending.
    /// </summary>
    public ulong SourceUserData(ulong userData)
    {
        if (Path == CrossRingPath.Kernel) return userData;
        foreach (var (token, p) in pending)
            if (p.UserData == userData) return token;
        return userData;
    }

    /// <summary>
    /// Reaps every CQE ready on the source ring (waiting up to <paramref name="waitMs"/> for the first one
    /// when &gt; 0), forwards the relayed ones, hands the others to <paramref name="local"/>, and submits the
    /// forwards. Returns the number of CQEs reaped. On the kernel path it only reaps local CQEs.
    /// </summary>
    public int Pump(Action<io_uring_cqe>? local = null, int waitMs = 0)
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
        var forwards = 0;
        while (io_uring_peek_cqe(source, &cqe) == 0)
        {
            var c = *cqe;
            io_uring_cqe_seen(source, cqe);
            reaped++;
            if ((c.user_data & TagMask) != RelayTag)
            {
                local?.Invoke(c);
                continue;
            }
            if (c.user_data == ForwardToken)
            {
                // A MSG_RING forward failed; its original user_data is not known any more (one token for all).
                RelayFailed?.Invoke(0, -1, c.res);
                continue;
            }
            if (!pending.TryGetValue(c.user_data, out var p))
            {
                local?.Invoke(c);
                continue;
            }
            var more = (c.flags & IORING_CQE_F_MORE) != 0;
            if (!more) pending.Remove(c.user_data);
            if (p.SkipSuccess && c.res >= 0 && !more) continue;
            Forward(p.TargetFd, c.res, c.flags, p.UserData);
            forwards++;
        }
        if (forwards > 0) io_uring_submit(source);
        return reaped;
    }

    void Forward(int targetFd, int res, uint flags, ulong userData)
    {
        var sqe = io_uring_get_sqe(source);
        if (sqe == null)
        {
            // SQ full of forwards: push them to the kernel and take a fresh slot.
            io_uring_submit(source);
            sqe = io_uring_get_sqe(source);
            if (sqe == null) throw new InvalidOperationException("source SQ full after submit");
        }
        io_uring_prep_msg_ring_cqe_flags(sqe, targetFd, unchecked((uint)res), userData, IORING_MSG_RING_FLAGS_PASS,
            flags);
        sqe->user_data = ForwardToken;
        // Success needs no CQE on the source: only failures come back to the pump.
        sqe->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
    }

    /// <summary>
    /// Whether this kernel supports IOSQE_CQE_TARGET: the feature bit, and a self-targeted injected NOP
    /// that must not fail. <paramref name="probeRes"/> is the NOP's res (-EINVAL on kernels without it).
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
