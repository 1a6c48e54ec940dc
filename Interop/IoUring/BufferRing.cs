using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.Liburing;

namespace IoUring;

/// <summary>
/// Provided buffers in a ring shared with the kernel (IORING_REGISTER_PBUF_RING), from
/// <see cref="Ring.CreateBufferRing"/>: a receive with buffer selection takes one when data arrives and its CQE
/// names it. Read it with <see cref="Data"/>, then hand it back with <see cref="Recycle"/>; a buffer not recycled
/// is not used again, and a ring with none left fails receives with -ENOBUFS. The buffers are native memory owned
/// here, so the GC never moves them under the kernel. Same thread as its <see cref="Ring"/>.
/// </summary>
public sealed unsafe class BufferRing : IDisposable
{
    readonly Ring ring;
    io_uring_buf_ring* br;
    byte* memory;
    ushort tail;

    /// <summary>The buffer group id requests name.</summary>
    public ushort Group { get; }

    /// <summary>How many buffers.</summary>
    public int Count { get; }

    /// <summary>Bytes per buffer.</summary>
    public int Size { get; }

    /// <summary>Requests in flight that may take buffers from here.</summary>
    internal int InFlight { get; set; }

    BufferRing(Ring ring, ushort group, int count, int size)
    {
        this.ring = ring;
        Group = group;
        Count = count;
        Size = size;
    }

    internal static BufferRing Create(Ring ring, ushort group, int count, int size)
    {
        if (count < 1 || count > 32768 || (count & (count - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, "a power of two from 1 to 32768");
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var b = new BufferRing(ring, group, count, size);
        b.memory = (byte*)NativeMemory.AlignedAlloc((nuint)count * (nuint)size, 64);
        int err;
        b.br = io_uring_setup_buf_ring(ring.Raw, (uint)count, group, 0, &err);
        if (b.br == null)
        {
            NativeMemory.AlignedFree(b.memory);
            throw new IoUringException(-err, "io_uring_setup_buf_ring");
        }
        for (var i = 0; i < count; i++) b.Add((ushort)i);
        b.Publish();
        return b;
    }

    void Add(ushort id)
    {
        ref var buf = ref br->bufs(tail & (Count - 1));
        buf.addr = (ulong)(memory + (nuint)id * (nuint)Size);
        buf.len = (uint)Size;
        buf.bid = id;
        tail++;
    }

    // The kernel reads the entries after it sees the tail: a release store, as liburing's advance.
    void Publish() => Volatile.Write(ref br->tail, tail);

    internal void CheckOwner(Ring r)
    {
        ObjectDisposedException.ThrowIf(br == null, this);
        if (r != ring) throw new ArgumentException("the buffer ring belongs to another ring", nameof(r));
    }

    /// <summary>The bytes a completion received into its buffer (its result's length).</summary>
    public ReadOnlySpan<byte> Data(in Completion completion)
    {
        ObjectDisposedException.ThrowIf(br == null, this);
        if (!completion.HasBuffer)
            throw new ArgumentException($"{completion} carries no buffer", nameof(completion));
        if (completion.BufferId >= Count || completion.Result > Size)
            throw new ArgumentException($"{completion} is not from this buffer ring", nameof(completion));
        return new ReadOnlySpan<byte>(memory + (nuint)completion.BufferId * (nuint)Size, completion.Result);
    }

    /// <summary>Gives buffer <paramref name="bufferId"/> back to the kernel.</summary>
    public void Recycle(ushort bufferId)
    {
        ObjectDisposedException.ThrowIf(br == null, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(bufferId, Count);
        Add(bufferId);
        Publish();
    }

    /// <summary>
    /// Unregisters the group and frees the buffers. Refused (<see cref="InvalidOperationException"/>) while a
    /// receive that may take a buffer from it is in flight: the kernel would copy into freed memory.
    /// </summary>
    public void Dispose()
    {
        if (br == null) return;
        if (InFlight > 0)
            throw new InvalidOperationException(
                $"{InFlight} request(s) that select buffers from group {Group} in flight");
        io_uring_free_buf_ring(ring.Raw, br, (uint)Count, Group);
        NativeMemory.AlignedFree(memory);
        br = null;
        memory = null;
        ring.Forget(this);
    }
}
