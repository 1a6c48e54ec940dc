using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;

namespace IoUring;

/// <summary>
/// One submission queue entry of a <see cref="Ring"/>, from <see cref="Ring.GetSqe"/>: prepare it with one of the
/// operations, optionally add <see cref="WithFlags"/>, then submit the ring. An SQE taken and not prepared is
/// submitted as a NOP with user data 0; one whose preparation threw (a bad argument, a user data still holding)
/// becomes a NOP that posts nothing.
/// </summary>
public readonly unsafe ref partial struct Sqe
{
    readonly Ring ring;
    readonly io_uring_sqe* sqe;

    internal Sqe(Ring ring, io_uring_sqe* sqe)
    {
        this.ring = ring;
        this.sqe = sqe;
    }

    /// <summary>The ring this SQE belongs to (for the feature libraries).</summary>
    internal Ring Owner => ring;

    /// <summary>The raw SQE (for the feature libraries, which set fields the typed operations don't).</summary>
    internal io_uring_sqe* Raw => Checked;

    io_uring_sqe* Checked
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => sqe == null ? throw new InvalidOperationException("no SQE (TryGetSqe returned false)") : sqe;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    Sqe Prep(io_uring_op op, int fd, void* addr, uint len, ulong offset, ulong userData)
    {
        LiburingFast.PrepRw((int)op, Checked, fd, addr, len, offset);
        sqe->user_data = userData;
        return this;
    }

    /// <summary>
    /// Adds IOSQE_* flags (links, drain, async, skip-success) to the prepared request. Skip-success is refused
    /// (<see cref="InvalidOperationException"/>, the SQE becomes a NOP that posts nothing) for a request that
    /// holds a buffer or handle: what it holds is given back on its CQE, which a success would not post.
    /// </summary>
    public Sqe WithFlags(SqeFlags flags)
    {
        var s = Checked;
        if ((flags & SqeFlags.SkipSuccess) != 0 && ring.HoldsFor(s))
        {
            var userData = s->user_data;
            ring.DropHold(userData);
            Discard();
            throw new InvalidOperationException($"user_data {userData}: skip-success on a request that holds a " +
                "buffer or handle would never give it back (it is released on the request's CQE)");
        }
        s->flags |= (byte)flags;
        return this;
    }

    /// <summary>IORING_OP_NOP: completes with result 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Sqe Nop(ulong userData) => Prep(io_uring_op.IORING_OP_NOP, -1, null, 0, 0, userData);

    /// <summary>
    /// IORING_OP_NOP with IORING_NOP_INJECT_RESULT (6.10+): completes with <paramref name="result"/>, negative
    /// ones included. A request with a known result, e.g. to hand a value (an fd) to another ring's thread.
    /// </summary>
    public Sqe Nop(ulong userData, int result)
    {
        Prep(io_uring_op.IORING_OP_NOP, -1, null, unchecked((uint)result), 0, userData);
        sqe->nop_flags = IORING_NOP_INJECT_RESULT;
        return this;
    }

    /// <summary>IORING_OP_READ into <paramref name="buffer"/> at <paramref name="offset"/> (ulong.MaxValue: the file
    /// position). The buffer stays pinned and <paramref name="file"/> referenced until the request's CQE is taken
    /// from this ring; the result is the byte count.</summary>
    public Sqe Read(SafeHandle file, Memory<byte> buffer, ulong offset, ulong userData) =>
        ReadWrite(io_uring_op.IORING_OP_READ, file, buffer, offset, userData);

    /// <summary>IORING_OP_WRITE of <paramref name="buffer"/>; held like <see cref="Read"/>'s.</summary>
    public Sqe Write(SafeHandle file, ReadOnlyMemory<byte> buffer, ulong offset, ulong userData) =>
        ReadWrite(io_uring_op.IORING_OP_WRITE, file, MemoryMarshal.AsMemory(buffer), offset, userData);

    Sqe ReadWrite(io_uring_op op, SafeHandle file, Memory<byte> buffer, ulong offset, ulong userData)
    {
        var hold = new Hold { First = AddRef(file, userData) };
        hold.Pin = buffer.Pin();
        ring.AddHold(userData, hold, Checked);
        return Prep(op, (int)file.DangerousGetHandle(), hold.Pin.Pointer, (uint)buffer.Length, offset, userData);
    }

    /// <summary>IORING_OP_SEND of <paramref name="buffer"/> on a socket (send(2) <paramref name="flags"/>); held
    /// like <see cref="Read"/>'s; the result is the byte count.</summary>
    public Sqe Send(SafeHandle socket, ReadOnlyMemory<byte> buffer, ulong userData, int flags = 0)
    {
        ReadWrite(io_uring_op.IORING_OP_SEND, socket, MemoryMarshal.AsMemory(buffer), 0, userData);
        sqe->msg_flags = (uint)flags;
        return this;
    }

    /// <summary>IORING_OP_RECV into <paramref name="buffer"/> (recv(2) <paramref name="flags"/>); held like
    /// <see cref="Read"/>'s; the result is the byte count, 0 at end of stream.</summary>
    public Sqe Recv(SafeHandle socket, Memory<byte> buffer, ulong userData, int flags = 0)
    {
        ReadWrite(io_uring_op.IORING_OP_RECV, socket, buffer, 0, userData);
        sqe->msg_flags = (uint)flags;
        return this;
    }

    /// <summary>IORING_OP_POLL_ADD, single shot: completes with the ready poll(2) events among
    /// <paramref name="events"/> (e.g. POLLIN = 1); <paramref name="file"/> is held until then.</summary>
    public Sqe Poll(SafeHandle file, uint events, ulong userData)
    {
        ring.AddHold(userData, new Hold { First = AddRef(file, userData) }, Checked);
        Prep(io_uring_op.IORING_OP_POLL_ADD, (int)file.DangerousGetHandle(), null, 0, 0, userData);
        sqe->poll32_events = events;
        return this;
    }

    /// <summary>
    /// IORING_OP_TIMEOUT: completes with -ETIME after <paramref name="after"/>, or with 0 once
    /// <paramref name="count"/> other CQEs were posted (0: time only).
    /// </summary>
    public Sqe Timeout(TimeSpan after, ulong userData, uint count = 0)
    {
        if (after < TimeSpan.Zero)
        {
            Discard();
            throw new ArgumentOutOfRangeException(nameof(after), after, "a timeout can't be negative");
        }
        var ts = ring.TimespecFor(Checked);
        ts->tv_sec = after.Ticks / TimeSpan.TicksPerSecond;
        ts->tv_nsec = after.Ticks % TimeSpan.TicksPerSecond * 100;
        return Prep(io_uring_op.IORING_OP_TIMEOUT, -1, ts, 1, count, userData);
    }

    /// <summary>IORING_OP_ASYNC_CANCEL of the request with <paramref name="target"/> as its user data: 0 when it was
    /// cancelled, -ENOENT when there is none, -EALREADY when it is running.</summary>
    public Sqe Cancel(ulong target, ulong userData)
    {
        Prep(io_uring_op.IORING_OP_ASYNC_CANCEL, -1, null, 0, 0, userData);
        sqe->addr = target;
        return this;
    }

    /// <summary>
    /// IORING_OP_MSG_RING: posts a CQE with user data <paramref name="data"/> and result <paramref name="result"/>
    /// on <paramref name="target"/>, which stays referenced until this request's own CQE is taken.
    /// </summary>
    public Sqe MsgRing(Ring target, int result, ulong data, ulong userData)
    {
        ring.AddHold(userData, new Hold { First = AddRef(target.Handle, userData) }, Checked);
        Prep(io_uring_op.IORING_OP_MSG_RING, target.Fd, null, (uint)result, data, userData);
        return this;
    }

    internal void SetCancelFlags(uint flags) => Checked->cancel_flags = flags;

    /// <summary>
    /// A preparation that fails leaves the SQE taken (it can't be given back): it becomes a NOP that posts nothing,
    /// so the refused request leaves no trace in the CQ.
    /// </summary>
    internal void Discard()
    {
        if (sqe == null) return;
        Nop(0);
        sqe->flags = (byte)SqeFlags.SkipSuccess;
    }

    SafeHandle AddRef(SafeHandle h, ulong userData)
    {
        if (ring.IsHeld(userData))
        {
            Discard();
            throw Ring.AlreadyHeld(userData);
        }
        var ok = false;
        h.DangerousAddRef(ref ok);
        return h;
    }
}
