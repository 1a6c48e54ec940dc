using System.Buffers;
using IoUring.Interop;
using static IoUring.Interop.Liburing;

namespace IoUring;

public sealed unsafe partial class Ring
{
    /// <summary>The registered buffers: each one's pin (its address) and length.</summary>
    (MemoryHandle Pin, int Length)[]? registered;
    readonly List<BufferRing> bufferRings = [];

    /// <summary>READ_FIXED and WRITE_FIXED requests in flight: the registered buffers can't go while any is.</summary>
    internal int FixedInFlight { get; set; }

    /// <summary>
    /// Registers <paramref name="buffers"/> for <see cref="Sqe.ReadFixed"/> and <see cref="Sqe.WriteFixed"/>
    /// (IORING_REGISTER_BUFFERS). They stay pinned until <see cref="UnregisterBuffers"/> or <see cref="Dispose"/>,
    /// because the kernel keeps the pages they were in. One set at a time (a second is refused with EBUSY); the
    /// kernel limits each buffer to 1 GiB and counts them against RLIMIT_MEMLOCK where that applies.
    /// </summary>
    public void RegisterBuffers(params ReadOnlySpan<Memory<byte>> buffers)
    {
        ArgumentOutOfRangeException.ThrowIfZero(buffers.Length, nameof(buffers));
        if (registered != null) throw new IoUringException(16 /* EBUSY */, "io_uring_register_buffers");
        var pins = new MemoryHandle[buffers.Length];
        var iov = new iovec[buffers.Length];
        for (var i = 0; i < buffers.Length; i++)
        {
            pins[i] = buffers[i].Pin();
            iov[i] = new iovec { iov_base = pins[i].Pointer, iov_len = (nuint)buffers[i].Length };
        }
        int ret;
        fixed (iovec* p = iov) ret = io_uring_register_buffers(Raw, p, (uint)iov.Length);
        if (ret < 0)
        {
            foreach (var pin in pins) pin.Dispose();
            throw new IoUringException(-ret, "io_uring_register_buffers");
        }
        registered = new (MemoryHandle, int)[pins.Length];
        for (var i = 0; i < pins.Length; i++) registered[i] = (pins[i], buffers[i].Length);
    }

    /// <summary>Unregisters the buffers and unpins them; refused (<see cref="InvalidOperationException"/>) while a
    /// fixed request is in flight, which the kernel may still be copying into.</summary>
    public void UnregisterBuffers()
    {
        if (registered == null) return;
        if (FixedInFlight > 0)
            throw new InvalidOperationException($"{FixedInFlight} fixed-buffer request(s) still in flight");
        var ret = io_uring_unregister_buffers(Raw);
        if (ret < 0) throw new IoUringException(-ret, "io_uring_unregister_buffers");
        ReleaseRegistered();
    }

    void ReleaseRegistered()
    {
        foreach (var r in registered ?? []) r.Pin.Dispose();
        registered = null;
    }

    /// <summary>The address of <paramref name="length"/> bytes at <paramref name="start"/> of registered buffer
    /// <paramref name="index"/>, checked against what was registered.</summary>
    internal void* RegisteredAddress(int index, int start, int length)
    {
        if (registered == null)
            throw new InvalidOperationException("no buffers registered (Ring.RegisterBuffers)");
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, registered.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + (long)length, registered[index].Length, nameof(length));
        return (byte*)registered[index].Pin.Pointer + start;
    }

    /// <summary>
    /// A ring of <paramref name="count"/> provided buffers of <paramref name="size"/> bytes each, in group
    /// <paramref name="group"/> (IORING_REGISTER_PBUF_RING), for receives that select buffers
    /// (<c>Sqe.Recv(socket, bufferRing, ...)</c>).
    /// <paramref name="count"/> is a power of two up to 32768. The ring owns the buffer ring: disposing the ring
    /// frees it.
    /// </summary>
    public BufferRing CreateBufferRing(ushort group, int count, int size)
    {
        var br = BufferRing.Create(this, group, count, size);
        bufferRings.Add(br);
        return br;
    }

    internal void Forget(BufferRing br) => bufferRings.Remove(br);

    /// <summary>At Dispose, after in-flight requests were cancelled and before the ring closes: frees the buffer
    /// rings nothing uses any more (those still named by a request stay allocated).</summary>
    void ReleaseBuffers()
    {
        foreach (var br in bufferRings.ToArray())
            if (br.InFlight == 0) br.Dispose();
    }
}
