using System.Buffers;
using System.Runtime.InteropServices;

namespace IoUring;

/// <summary>
/// What a request in flight keeps alive until its last CQE: a pinned buffer and the handles whose fds the kernel
/// uses (each AddRef'd at preparation).
/// </summary>
struct Hold
{
    public MemoryHandle Pin;
    public SafeHandle? First;
    public SafeHandle? Second;

    public void Release()
    {
        Pin.Dispose();
        First?.DangerousRelease();
        Second?.DangerousRelease();
        this = default;
    }
}
