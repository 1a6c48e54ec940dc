using System.Buffers;
using System.Runtime.InteropServices;
using IoUring.Interop;

namespace IoUring;

public readonly unsafe ref partial struct Sqe
{
    /// <summary>IORING_OP_READV into <paramref name="buffers"/> in order (preadv2(2)); every buffer stays pinned and
    /// <paramref name="file"/> referenced until the CQE; the result is the byte count.</summary>
    public Sqe Readv(SafeHandle file, ReadOnlySpan<Memory<byte>> buffers, ulong offset, ulong userData) =>
        Vectored(io_uring_op.IORING_OP_READV, file, buffers, offset, userData);

    /// <summary>IORING_OP_WRITEV of <paramref name="buffers"/> in order (pwritev2(2)); held like
    /// <see cref="Readv"/>'s.</summary>
    public Sqe Writev(SafeHandle file, ReadOnlySpan<ReadOnlyMemory<byte>> buffers, ulong offset, ulong userData)
    {
        var writable = new Memory<byte>[buffers.Length];
        for (var i = 0; i < buffers.Length; i++) writable[i] = MemoryMarshal.AsMemory(buffers[i]);
        return Vectored(io_uring_op.IORING_OP_WRITEV, file, writable, offset, userData);
    }

    Sqe Vectored(io_uring_op op, SafeHandle file, ReadOnlySpan<Memory<byte>> buffers, ulong offset, ulong userData)
    {
        if (buffers.IsEmpty)
        {
            Discard();
            throw new ArgumentOutOfRangeException(nameof(buffers), "at least one buffer");
        }
        var hold = new Hold { First = AddRef(file, userData), Pins = new MemoryHandle[buffers.Length] };
        var iov = (iovec*)NativeMemory.Alloc((nuint)buffers.Length, (nuint)sizeof(iovec));
        hold.Native = iov;
        try
        {
            for (var i = 0; i < buffers.Length; i++)
            {
                hold.Pins[i] = buffers[i].Pin();
                iov[i].iov_base = hold.Pins[i].Pointer;
                iov[i].iov_len = (nuint)buffers[i].Length;
            }
        }
        catch
        {
            hold.Release(ring); // a buffer that can't be pinned (a disposed MemoryManager): give back what was taken
            throw;
        }
        ring.AddHold(userData, hold, Checked);
        return Prep(op, (int)file.DangerousGetHandle(), iov, (uint)buffers.Length, offset, userData);
    }

    /// <summary>
    /// IORING_OP_READ_FIXED into <paramref name="length"/> bytes at <paramref name="start"/> of registered buffer
    /// <paramref name="index"/> (<see cref="Ring.RegisterBuffers"/>): no pinning or page lookup per request. The
    /// registered buffers can't be unregistered until the CQE.
    /// </summary>
    public Sqe ReadFixed(SafeHandle file, int index, int start, int length, ulong offset, ulong userData) =>
        FixedIo(io_uring_op.IORING_OP_READ_FIXED, file, index, start, length, offset, userData);

    /// <summary>IORING_OP_WRITE_FIXED of <paramref name="length"/> bytes at <paramref name="start"/> of registered
    /// buffer <paramref name="index"/>; like <see cref="ReadFixed"/>.</summary>
    public Sqe WriteFixed(SafeHandle file, int index, int start, int length, ulong offset, ulong userData) =>
        FixedIo(io_uring_op.IORING_OP_WRITE_FIXED, file, index, start, length, offset, userData);

    Sqe FixedIo(io_uring_op op, SafeHandle file, int index, int start, int length, ulong offset, ulong userData)
    {
        void* address;
        try
        {
            address = ring.RegisteredAddress(index, start, length);
        }
        catch
        {
            Discard();
            throw;
        }
        ring.AddHold(userData, new Hold { First = AddRef(file, userData), Fixed = true }, Checked);
        Prep(op, (int)file.DangerousGetHandle(), address, (uint)length, offset, userData);
        sqe->buf_index = (ushort)index;
        return this;
    }
}
