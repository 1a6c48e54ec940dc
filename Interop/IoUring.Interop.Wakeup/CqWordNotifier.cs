using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Interop.Wakeup;

/// <summary>
/// The notifying side: any thread that has published work for a <see cref="CqWordWaiter"/> calls
/// <see cref="Notify"/>. Fast path (waiter awake): a plain 16-bit store of the next sequence into the word,
/// a full fence, and a load of the waiter's state byte; no atomic read-modify-write, no syscall. Slow path (the
/// waiter announced <see cref="CqWord.Asleep"/>): one notifier wins a compare-exchange Asleep → Waking and posts a
/// CQE into the waiter's ring with IORING_OP_MSG_RING from this notifier's own small ring; the others return.
/// The fence is what makes the fast path safe (see <see cref="CqWordWaiter"/>): without it x86 may perform the state
/// load before the publication and sequence stores are visible, and both sides would miss each other.
/// Thread-safe: the slow path serialises on this instance's ring.
/// </summary>
public sealed unsafe class CqWordNotifier : IDisposable
{
    readonly CqWord word;
    readonly int targetFd;
    readonly io_uring* own;
    readonly Lock gate = new();
    bool disposed;
    readonly bool retained;

    /// <summary>
    /// Notifies that took the plain-store path: a plain increment, since an atomic one would put a locked
    /// instruction on the very path this class exists to keep cheap; approximate when several threads share
    /// one notifier.
    /// </summary>
    public long StoreOnly;

    /// <summary>Notifies that sent a MSG_RING (exact: counted on the slow path, under the send lock).</summary>
    public long KernelWakeups;

    /// <summary>A notifier for the waiter whose ring fd is <paramref name="waiterRingFd"/>; sets up its own 8-entry
    /// ring to send MSG_RING from.</summary>
    public CqWordNotifier(CqWord word, int waiterRingFd) : this(word, waiterRingFd, retain: false) { }

    internal CqWordNotifier(CqWord word, int waiterRingFd, bool retain)
    {
        this.word = word;
        targetFd = waiterRingFd;
        own = (io_uring*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        var rc = io_uring_queue_init(8, own, 0);
        if (rc < 0)
        {
            System.Runtime.InteropServices.NativeMemory.Free(own);
            throw new InvalidOperationException($"io_uring_queue_init for the notifier's MSG_RING ring failed: {rc}");
        }
        if (retain) word.Retain();
        retained = retain;
    }

    /// <summary>Call after publishing the work. Returns true when it had to wake the waiter through the
    /// kernel.</summary>
    public bool Notify()
    {
        word.BumpSequence();
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref *word.State) != CqWord.Asleep)
        {
            StoreOnly++;
            return false;
        }
        // Several notifiers may see Asleep; one kernel wakeup is enough, the waiter re-checks everything.
        if (Interlocked.CompareExchange(ref *word.State, CqWord.Waking, CqWord.Asleep) != CqWord.Asleep)
        {
            StoreOnly++;
            return false;
        }
        SendWakeup(countAsWakeup: true);
        return true;
    }

    /// <summary>Posts a wakeup CQE (user_data <see cref="CqWordWaiter.WakeupUserData"/>) into the waiter's ring,
    /// unconditionally.</summary>
    public void SendWakeup() => SendWakeup(countAsWakeup: false);

    void SendWakeup(bool countAsWakeup)
    {
        lock (gate)
        {
            if (countAsWakeup) KernelWakeups++;
            ObjectDisposedException.ThrowIf(disposed, this);
            var sqe = LiburingFast.GetSqe(own);
            io_uring_prep_msg_ring(sqe, targetFd, 0, CqWordWaiter.WakeupUserData, 0);
            // Success needs no CQE on our side; a failure still posts one, reaped below.
            sqe->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
            var rc = io_uring_submit(own);
            if (rc != 1) throw new InvalidOperationException($"submitting MSG_RING failed: {rc}");
            var cqe = LiburingFast.PeekCqeNowait(own);
            if (cqe != null)
            {
                var res = cqe->res;
                LiburingFast.CqeSeen(own, cqe);
                if (res < 0) throw new InvalidOperationException($"MSG_RING to fd {targetFd} failed: {res}");
            }
        }
    }

    /// <summary>Tears down the notifier's own ring.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            io_uring_queue_exit(own);
            System.Runtime.InteropServices.NativeMemory.Free(own);
            if (retained) word.Release();
        }
    }
}
