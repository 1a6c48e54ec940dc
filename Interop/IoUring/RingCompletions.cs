using System.Runtime.CompilerServices;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring;

public sealed unsafe partial class Ring
{
    /// <summary>CQEs ready now.</summary>
    public uint Ready => LiburingFast.CqReady(Raw);

    /// <summary>Takes the next CQE if one is ready, without entering the kernel.</summary>
    public bool TryGetCompletion(out Completion completion)
    {
        var ring = Raw;
        var cqe = LiburingFast.PeekCqeNowait(ring);
        if (cqe == null)
        {
            completion = default;
            return false;
        }
        completion = new Completion(cqe->user_data, cqe->res, cqe->flags);
        LiburingFast.CqAdvance(ring, 1);
        Release(completion);
        return true;
    }

    /// <summary>Takes the next CQE, waiting in the kernel for one if none is ready (EINTR retried).</summary>
    public Completion WaitCompletion()
    {
        if (TryGetCompletion(out var c)) return c;
        io_uring_cqe* cqe;
        int ret;
        while ((ret = io_uring_wait_cqe(Raw, &cqe)) == -4) { }
        IoUringException.ThrowIfNegative(ret, "io_uring_wait_cqe");
        return TryGetCompletion(out c) ? c : throw new InvalidOperationException("io_uring_wait_cqe returned no CQE");
    }

    /// <summary>
    /// Takes the next CQE, waiting in the kernel up to <paramref name="timeout"/> for one; false when none came in
    /// time. EINTR is retried with the whole timeout again (the runtime's signals are rare).
    /// </summary>
    public bool TryWaitCompletion(TimeSpan timeout, out Completion completion)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        if (TryGetCompletion(out completion)) return true;
        var ts = new __kernel_timespec
        {
            tv_sec = timeout.Ticks / TimeSpan.TicksPerSecond,
            tv_nsec = timeout.Ticks % TimeSpan.TicksPerSecond * 100,
        };
        io_uring_cqe* cqe;
        int ret;
        while ((ret = io_uring_wait_cqe_timeout(Raw, &cqe, &ts)) == -4) { }
        if (ret == -62 /* ETIME */) return false;
        IoUringException.ThrowIfNegative(ret, "io_uring_wait_cqe_timeout");
        return TryGetCompletion(out completion);
    }

    /// <summary>
    /// The CQEs ready now, for <c>foreach</c>: no allocation, and the CQ head moves once, when the loop ends (also
    /// when it ends early: the CQEs not reached stay in the ring).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public CompletionBatch Completions() => new(this);

    /// <summary>The ready CQEs of a ring; see <see cref="Completions"/>.</summary>
    public ref struct CompletionBatch
    {
        readonly Ring ring;
        readonly io_uring* raw;
        readonly uint head, ready, shift;
        uint taken, advanced;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal CompletionBatch(Ring ring)
        {
            this.ring = ring;
            raw = ring.Raw;
            head = *raw->cq.khead;
            ready = LiburingFast.CqReady(raw);
            shift = (raw->flags & IORING_SETUP_CQE32) != 0 ? 1u : 0u;
        }

        /// <summary>The enumerator is the batch itself.</summary>
        public readonly CompletionBatch GetEnumerator() => this;

        /// <summary>The CQE the loop is at.</summary>
        public Completion Current { get; private set; }

        /// <summary>Moves to the next ready CQE.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool MoveNext()
        {
            // A ring disposed inside the loop has no CQ left to read.
            if (taken == ready || ring.IsClosed) return false;
            var cqe = raw->cq.cqes + (((head + taken) & raw->cq.ring_mask) << (int)shift);
            Current = new Completion(cqe->user_data, cqe->res, cqe->flags);
            taken++;
            ring.Release(Current);
            return true;
        }

        /// <summary>Gives the CQEs the loop reached back to the kernel.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Dispose()
        {
            if (ring.IsClosed) return;
            LiburingFast.CqAdvance(raw, taken - advanced);
            advanced = taken;
        }
    }
}
