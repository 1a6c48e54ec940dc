using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring;

/// <summary>
/// An io_uring instance that owns its fd and memory. Not thread-safe: one thread prepares, submits and reaps
/// (liburing's rule). Buffers and handles given to a request stay pinned and referenced until its last CQE is
/// consumed through this ring; <see cref="Dispose"/> cancels what is still in flight and waits for it first.
/// </summary>
public sealed unsafe partial class Ring : IDisposable
{
    readonly RingHandle handle;
    readonly Dictionary<ulong, Hold> holds = [];

    Ring(RingHandle handle, uint features)
    {
        this.handle = handle;
        Features = new RingFeatures(features);
    }

    /// <summary>Sets a ring up; an <see cref="IoUringException"/> carries the kernel's errno (EINVAL for flags
    /// it doesn't know, ENOMEM, EPERM under a restricted io_uring_disabled sysctl).</summary>
    public static Ring Create(RingOptions? options = null)
    {
        options ??= new RingOptions();
        io_uring_params p = default;
        p.flags = (uint)options.Flags;
        p.sq_thread_idle = options.SqThreadIdleMs;
        p.sq_thread_cpu = options.SqThreadCpu;
        if (options.CqEntries is { } cq)
        {
            p.flags |= IORING_SETUP_CQSIZE;
            p.cq_entries = cq;
        }
        var h = RingHandle.Create(options.Entries, &p);
        return new Ring(h, p.features);
    }

    /// <summary>What the kernel supports, as reported at setup.</summary>
    public RingFeatures Features { get; }

    /// <summary>The ring's file descriptor (for IORING_OP_MSG_RING or IOSQE_CQE_TARGET from other rings).</summary>
    public int Fd => Raw->ring_fd;

    /// <summary>The setup flags the ring runs with.</summary>
    public SetupFlags Flags => (SetupFlags)Raw->flags;

    /// <summary>SQ entries.</summary>
    public uint SqEntries => Raw->sq.ring_entries;

    /// <summary>CQ entries.</summary>
    public uint CqEntries => Raw->cq.ring_entries;

    /// <summary>Requests prepared and not yet submitted.</summary>
    public uint Unsubmitted => Raw->sq.sqe_tail - Raw->sq.sqe_head;

    /// <summary>Requests whose buffers or handles this ring still holds.</summary>
    public int Holding => holds.Count;

    internal io_uring* Raw
    {
        // Hot (every SQE and CQE loop): inlined, so a fully optimised caller does not wait for tiering.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => IsClosed ? throw new ObjectDisposedException(nameof(Ring)) : handle.Ring;
    }

    internal SafeHandle Handle => handle;

    /// <summary>Disposed. Tracked here, not by the handle: a handle another party references (a notifier, another
    /// ring's MSG_RING in flight) is released only after its last reference, and reads as open until then.</summary>
    internal bool IsClosed
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => disposed || handle.IsClosed;
    }

    bool disposed;

    /// <summary>The next free SQE, or false when the SQ is full (submit, then try again).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetSqe(out Sqe sqe)
    {
        var raw = LiburingFast.GetSqe(Raw);
        sqe = raw == null ? default : new Sqe(this, raw);
        return raw != null;
    }

    /// <summary>The next free SQE; a full SQ is submitted first. Throws when it is still full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Sqe GetSqe()
    {
        if (TryGetSqe(out var sqe)) return sqe;
        Submit();
        return TryGetSqe(out sqe) ? sqe
            : throw new InvalidOperationException("the submission queue is still full after submitting it");
    }

    /// <summary>Submits what was prepared; returns how many SQEs the kernel took. EINTR (the runtime's own
    /// signals interrupt system calls) is retried; other errors throw.</summary>
    public int Submit()
    {
        int ret;
        submitGeneration++;
        while ((ret = io_uring_submit(Raw)) == -EintrErrno) { }
        return IoUringException.ThrowIfNegative(ret, "io_uring_submit");
    }

    /// <summary>Submits and waits until at least <paramref name="waitNr"/> CQEs are ready (EINTR retried).</summary>
    public int SubmitAndWait(uint waitNr)
    {
        int ret;
        submitGeneration++;
        while ((ret = io_uring_submit_and_wait(Raw, waitNr)) == -EintrErrno) { }
        return IoUringException.ThrowIfNegative(ret, "io_uring_submit_and_wait");
    }

    const int EintrErrno = 4;

    /// <summary>Counts submissions: a hold taken since the last one belongs to an SQE the kernel has not seen.</summary>
    ulong submitGeneration;

    internal void AddHold(ulong userData, Hold hold, io_uring_sqe* sqe)
    {
        hold.Sqe = sqe;
        hold.Generation = submitGeneration;
        if (!holds.TryAdd(userData, hold)) throw AlreadyHeld(userData);
        // What the hold uses can't be freed under it: counted here, uncounted by Hold.Release.
        if (hold.Buffers != null) hold.Buffers.InFlight++;
        if (hold.Fixed) FixedInFlight++;
    }

    /// <summary>Whether <paramref name="sqe"/>, not yet submitted, took the hold of its user data.</summary>
    internal bool HoldsFor(io_uring_sqe* sqe) => holds.TryGetValue(sqe->user_data, out var h) && h.Sqe == sqe &&
        h.Generation == submitGeneration;

    internal bool IsHeld(ulong userData) => holds.ContainsKey(userData);

    /// <summary>Gives back what a request holds before it was submitted (its SQE is being turned into a NOP).</summary>
    internal void DropHold(ulong userData)
    {
        if (holds.Remove(userData, out var hold)) hold.Release(this);
    }

    internal static InvalidOperationException AlreadyHeld(ulong userData) =>
        new($"user_data {userData} already names a request in flight that holds a buffer or handle");

    /// <summary>A request's final CQE gives back what it held.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Release(in Completion c)
    {
        if (holds.Count == 0 || c.More || !holds.Remove(c.UserData, out var hold)) return;
        hold.Release(this);
    }
}
