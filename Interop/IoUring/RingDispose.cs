using System.Diagnostics;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;

namespace IoUring;

public sealed unsafe partial class Ring
{
    /// <summary>How long <see cref="Dispose"/> waits for cancelled requests that hold buffers.</summary>
    public static TimeSpan DisposeWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>User data of the cancel-all request Dispose submits (and never reports).</summary>
    internal const ulong DisposeCancelUserData = 0xC7A6_FFFF_FFFF_FFFE;

    internal __kernel_timespec* TimespecFor(io_uring_sqe* sqe)
    {
        var shift = (Raw->flags & IORING_SETUP_SQE128) != 0 ? 1 : 0;
        return handle.Timespecs + ((sqe - Raw->sq.sqes) >> shift);
    }

    /// <summary>
    /// Closes the ring. Requests still holding buffers are cancelled first and their CQEs awaited (up to
    /// <see cref="DisposeWait"/>): the kernel may write a read's buffer until the request completes, so a
    /// buffer is unpinned only once it has. Buffers of requests that outlive the wait stay pinned for the
    /// process's life rather than be handed back to the GC under the kernel's hands.
    /// </summary>
    public void Dispose()
    {
        if (IsClosed) return;
        if (holds.Count > 0) CancelHolders();
        var quiet = holds.Count == 0;
        holds.Clear();
        // Buffer rings in use by requests that outlived the wait stay allocated, like pinned buffers.
        ReleaseBuffers();
        disposed = true;
        handle.Dispose();
        if (quiet) ReleaseRegistered();
    }

    void CancelHolders()
    {
        try
        {
            if (TryGetSqe(out var sqe))
            {
                sqe.Cancel(0, DisposeCancelUserData);
                sqe.SetCancelFlags(IORING_ASYNC_CANCEL_ANY);
            }
            Submit();
            var deadline = Stopwatch.StartNew();
            while (holds.Count > 0 && deadline.Elapsed < DisposeWait)
            {
                foreach (var _ in Completions()) { }
                if (holds.Count > 0) Thread.Sleep(1);
            }
        }
        catch (IoUringException) { }
        // Whatever is left is still the kernel's: keep it pinned and referenced (leak, don't corrupt).
    }

}
