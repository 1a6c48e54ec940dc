using System.Runtime.CompilerServices;
using static IoUring.Interop.IoUringConstants;

namespace IoUring.Interop;

/// <summary>
/// Managed equivalents of liburing's hottest static-inline helpers. Calling the exported copies
/// in liburing-ffi costs a P/Invoke transition per SQE/CQE, which dominates a NOP benchmark; these
/// do the same memory operations in place. A test checks them byte for byte against the C helpers.
/// Everything else (submit, wait, register) stays native. The names are C#'s (GetSqe for
/// io_uring_get_sqe, ...), not liburing's: with <c>using static</c> on both this class and
/// <see cref="Liburing"/>, C names here would make every call to those helpers ambiguous (CS0121).
/// </summary>
public static unsafe class LiburingFast
{
    /// <summary>io_uring_get_sqe: next free SQE (zeroed like io_uring_initialize_sqe), or null when the SQ is
    /// full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static io_uring_sqe* GetSqe(io_uring* ring)
    {
        ref var sq = ref ring->sq;
        var next = sq.sqe_tail + 1;
        var shift = (ring->flags & IORING_SETUP_SQE128) != 0 ? 1 : 0;
        // With SQPOLL the kernel thread moves the head concurrently: acquire, as liburing does.
        var head = (ring->flags & IORING_SETUP_SQPOLL) != 0 ? Volatile.Read(ref *sq.khead) : *sq.khead;
        if (next - head > sq.ring_entries) return null;
        var sqe = sq.sqes + ((sq.sqe_tail & sq.ring_mask) << shift);
        sq.sqe_tail = next;
        sqe->flags = 0;
        sqe->ioprio = 0;
        sqe->rw_flags = 0;
        sqe->buf_index = 0;
        sqe->personality = 0;
        sqe->file_index = 0;
        sqe->addr3 = 0;
        sqe->__pad2[0] = 0;
        return sqe;
    }

    /// <summary>io_uring_prep_rw: the common part of every prep helper.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrepRw(int op, io_uring_sqe* sqe, int fd, void* addr, uint len, ulong offset)
    {
        sqe->opcode = (byte)op;
        sqe->fd = fd;
        sqe->off = offset;
        sqe->addr = (ulong)addr;
        sqe->len = len;
    }

    /// <summary>io_uring_prep_nop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrepNop(io_uring_sqe* sqe) => PrepRw(IORING_OP_NOP, sqe, -1, null, 0, 0);

    /// <summary>io_uring_sqe_set_data64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SqeSetData64(io_uring_sqe* sqe, ulong data) => sqe->user_data = data;

    /// <summary>io_uring_cq_ready: completions waiting in the CQ (acquire on the kernel's tail).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint CqReady(io_uring* ring) => Volatile.Read(ref *ring->cq.ktail) - *ring->cq.khead;

    /// <summary>
    /// Non-waiting CQ peek: the next CQE or null. Unlike io_uring_peek_cqe it never enters the
    /// kernel; rings without IORING_FEAT_EXT_ARG (pre-5.11) are not handled here, so callers on
    /// such kernels must use the native helper.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static io_uring_cqe* PeekCqeNowait(io_uring* ring)
    {
        ref var cq = ref ring->cq;
        var tail = Volatile.Read(ref *cq.ktail);
        var head = *cq.khead;
        if (tail == head) return null;
        var shift = (ring->flags & IORING_SETUP_CQE32) != 0 ? 1 : 0;
        return cq.cqes + ((head & cq.ring_mask) << shift);
    }

    /// <summary>io_uring_cq_advance: release-store of the new head, after the CQEs were read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CqAdvance(io_uring* ring, uint nr)
    {
        if (nr != 0) Volatile.Write(ref *ring->cq.khead, *ring->cq.khead + nr);
    }

    /// <summary>io_uring_cqe_seen.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CqeSeen(io_uring* ring, io_uring_cqe* cqe)
    {
        if (cqe != null) CqAdvance(ring, 1);
    }
}
