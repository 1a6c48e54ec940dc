using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.Liburing;

namespace IoUring;

/// <summary>
/// Owns a liburing <c>struct io_uring</c> in native memory and the per-SQE-slot timespecs beside it;
/// releasing it runs io_uring_queue_exit (unmap, close the ring fd) and frees both.
/// </summary>
sealed unsafe class RingHandle : SafeHandle
{
    public RingHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>One timespec per SQE slot: a TIMEOUT's duration lives in the slot of its SQE until the kernel
    /// has consumed the SQE (it copies the value at prep), which is when the slot can be taken again.</summary>
    public __kernel_timespec* Timespecs { get; private set; }

    public io_uring* Ring => (io_uring*)handle;

    /// <summary>Sets the ring up; throws <see cref="IoUringException"/> with the kernel's errno.</summary>
    public static RingHandle Create(uint entries, io_uring_params* p)
    {
        var h = new RingHandle();
        var ring = (io_uring*)NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        var ret = io_uring_queue_init_params(entries, ring, p);
        if (ret < 0)
        {
            NativeMemory.Free(ring);
            throw new IoUringException(-ret, "io_uring_queue_init_params");
        }
        try
        {
            h.Timespecs = (__kernel_timespec*)NativeMemory.AllocZeroed(ring->sq.ring_entries,
                (nuint)sizeof(__kernel_timespec));
        }
        catch (OutOfMemoryException)
        {
            io_uring_queue_exit(ring);
            NativeMemory.Free(ring);
            throw;
        }
        h.SetHandle((IntPtr)ring);
        return h;
    }

    protected override bool ReleaseHandle()
    {
        io_uring_queue_exit(Ring);
        NativeMemory.Free(Timespecs);
        NativeMemory.Free(Ring);
        return true;
    }
}
