using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static IoUring.Interop.IoUringConstants;

namespace IoUring.Interop.Wakeup;

/// <summary>
/// The 32-bit word a waiter watches, and its encoding. On kernels with IORING_FEAT_CQ_USER_WORD it is the
/// reserved word at <c>cq_off.user_word</c> (offset 48 of the rings' first cache line, next to cq.tail), so a
/// store to it and a completion both touch the one line a monitor can wait on. Without the feature it is a
/// word in ordinary, cache-line aligned memory: the protocol is the same, only a monitor on it no longer sees
/// completions (see <see cref="CqWordWaiter"/>).
/// <para>Encoding (little-endian; each part is written by one side only, with a store of exactly its size):</para>
/// <list type="bullet">
/// <item>bytes 0-1 (bits 0-15): the notification sequence. Notifiers store <c>old + 1</c> with a plain 16-bit
/// store; concurrent notifiers may lose increments, which is fine: the waiter only needs to see that the value
/// changed (a hint), the notification itself is whatever the notifier published before.</item>
/// <item>byte 2 (bits 16-23): reserved, 0.</item>
/// <item>byte 3 (bits 24-31): the waiter's state: <see cref="Awake"/> (0), <see cref="Asleep"/> (0x80: blocked,
/// or about to block, in io_uring_enter: notifiers must wake it through the kernel) or <see cref="Waking"/> (0x40:
/// a notifier claimed the kernel wakeup, so other notifiers need not send another).</item>
/// </list>
/// Why two halves rather than one counter with a flag bit: a notifier's plain 32-bit store of "seq + 1" would be a
/// non-atomic read-modify-write of the whole word and could overwrite an Asleep flag the waiter set in between,
/// losing the announcement (the spin model's <c>BROKEN_CLOBBER</c> variant shows the lost wakeup). Stores to
/// different bytes never overwrite each other, and both still land on the monitored line.
/// </summary>
public sealed unsafe class CqWord : IDisposable
{
    /// <summary>State byte: the waiter is running or polling; a plain store to the word reaches it.</summary>
    public const byte Awake = 0;
    /// <summary>State byte (bit 31 of the word): the waiter blocks, or is about to block, in io_uring_enter.</summary>
    public const byte Asleep = 0x80;
    /// <summary>State byte (bit 30): a notifier claimed the kernel wakeup of a sleeping waiter.</summary>
    public const byte Waking = 0x40;

    readonly void* owned;
    /// <summary>The managed ring whose mapping holds an in-ring word: referenced so the mapping outlives every user
    /// of the word (a notifier on another thread may store into it after the ring's owner disposed it).</summary>
    System.Runtime.InteropServices.SafeHandle? ringHandle;
    int refs = 1;
    bool disposed;

    /// <summary>The word (kernel-provided or our own).</summary>
    public uint* Address { get; }

    /// <summary>True when the word is the kernel's reserved CQ user word (same line as cq.tail).</summary>
    public bool InRing { get; }

    /// <summary>Why the word is where it is (for logs and test output).</summary>
    public string Description { get; }

    CqWord(uint* address, bool inRing, void* owned, string description)
    {
        Address = address;
        InRing = inRing;
        this.owned = owned;
        Description = description;
    }

    /// <summary>
    /// The ring's user word when the kernel announces it (and liburing found it), else a fresh word in
    /// ordinary memory, on its own cache line so unrelated stores do not disturb a waiter polling it.
    /// </summary>
    public static CqWord For(io_uring* ring, uint features)
    {
        var kernelWord = ring->cq.kuser_word;
        if ((features & IORING_FEAT_CQ_USER_WORD) != 0 && kernelWord != null)
            return new CqWord(kernelWord, true, null,
                "kernel CQ user word (IORING_FEAT_CQ_USER_WORD), on cq.tail's cache line");
        var mem = NativeMemory.AlignedAlloc(64, 64);
        NativeMemory.Clear(mem, 64);
        return new CqWord((uint*)mem, false, mem,
            "fallback: word in ordinary memory (kernel lacks IORING_FEAT_CQ_USER_WORD); completions do not touch its " +
                "line");
    }

    /// <summary>
    /// The word of a managed <see cref="Ring"/>: its reserved CQ user word when the kernel has
    /// IORING_FEAT_CQ_USER_WORD, else a fallback word. The ring's memory stays mapped until this word and every
    /// notifier using it are disposed.
    /// </summary>
    public static CqWord For(Ring ring)
    {
        ArgumentNullException.ThrowIfNull(ring);
        var word = For(ring.Raw, ring.Features.Bits);
        var ok = false;
        ring.Handle.DangerousAddRef(ref ok);
        word.ringHandle = ring.Handle;
        return word;
    }

    /// <summary>Another user of the word (a notifier): the word lives until it calls <see cref="Release"/>.</summary>
    internal CqWord Retain()
    {
        if (Interlocked.Increment(ref refs) <= 1) throw new ObjectDisposedException(nameof(CqWord));
        return this;
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref refs) != 0) return;
        if (owned != null) NativeMemory.AlignedFree(owned);
        ringHandle?.DangerousRelease();
    }

    /// <summary>The notification sequence half.</summary>
    public ushort* Sequence => (ushort*)Address;

    /// <summary>The waiter-state byte.</summary>
    public byte* State => (byte*)Address + 3;

    /// <summary>Acquire-load of the sequence half.</summary>
    public ushort ReadSequence() => Volatile.Read(ref *Sequence);

    /// <summary>Acquire-load of the state byte.</summary>
    public byte ReadState() => Volatile.Read(ref *State);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void BumpSequence()
    {
        // Plain load + plain 16-bit store (Volatile.Write is a release store: a MOV on x86, no lock prefix).
        Volatile.Write(ref *Sequence, (ushort)(*Sequence + 1));
    }

    /// <summary>Frees a fallback word (and lets a managed ring unmap) once the notifiers created from it are
    /// disposed too; the kernel word of a raw ring lives as long as that ring.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Release();
    }
}
