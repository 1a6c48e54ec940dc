using System.Buffers;
using System.Runtime.InteropServices;

namespace IoUring;

/// <summary>
/// What a request in flight keeps alive until its last CQE: pinned buffers, the handles whose fds the kernel uses
/// (each AddRef'd at preparation), native memory the kernel reads (an iovec array, a socket address), and the
/// buffer ring or registered buffers it uses (counted, so they are not freed under it).
/// </summary>
unsafe struct Hold
{
    public MemoryHandle Pin;
    public MemoryHandle[]? Pins;
    public SafeHandle? First;
    public SafeHandle? Second;
    public void* Native;
    public BufferRing? Buffers;
    public bool Fixed;
    /// <summary>The SQE that took the hold and the ring's submit count then: the hold is that SQE's while both
    /// match.</summary>
    public IoUring.Interop.io_uring_sqe* Sqe;
    public ulong Generation;

    public void Release(Ring ring)
    {
        Pin.Dispose();
        if (Pins != null)
            foreach (var p in Pins) p.Dispose();
        First?.DangerousRelease();
        Second?.DangerousRelease();
        NativeMemory.Free(Native);
        if (Buffers != null) Buffers.InFlight--;
        if (Fixed) ring.FixedInFlight--;
        this = default;
    }
}
