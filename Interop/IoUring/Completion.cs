using static IoUring.Interop.IoUringConstants;

namespace IoUring;

/// <summary>One CQE, copied out of the ring: the request's user data, its result and the IORING_CQE_F_* flags.</summary>
public readonly record struct Completion(ulong UserData, int Result, uint Flags)
{
    /// <summary>The request failed: <see cref="Result"/> is -errno.</summary>
    public bool Failed => Result < 0;

    /// <summary>The positive errno of a failed request, 0 otherwise.</summary>
    public int Errno => Result < 0 ? -Result : 0;

    /// <summary>IORING_CQE_F_MORE: a multishot request will post more CQEs.</summary>
    public bool More => (Flags & IORING_CQE_F_MORE) != 0;

    /// <summary>IORING_CQE_F_BUFFER: the request took a provided buffer, <see cref="BufferId"/>.</summary>
    public bool HasBuffer => (Flags & IORING_CQE_F_BUFFER) != 0;

    /// <summary>The provided buffer's id (valid when <see cref="HasBuffer"/>).</summary>
    public ushort BufferId => (ushort)(Flags >> IORING_CQE_BUFFER_SHIFT);

    /// <summary>
    /// The connection an accept completed with, as an owning socket handle (for <c>new Socket(handle)</c>); an
    /// <see cref="IoUringException"/> when the accept failed. Call it once per CQE: every call owns the fd.
    /// </summary>
    public System.Net.Sockets.SafeSocketHandle TakeSocket() =>
        new(ResultOrThrow("accept"), ownsHandle: true);

    /// <summary>The result, or an <see cref="IoUringException"/> naming <paramref name="operation"/> and the
    /// errno when the request failed.</summary>
    public int ResultOrThrow(string operation) => IoUringException.ThrowIfNegative(Result, operation);

    /// <inheritdoc/>
    public override string ToString() => Failed
        ? $"user_data={UserData} failed {IoUring.Errno.Name(Errno)} flags=0x{Flags:x}"
        : $"user_data={UserData} res={Result} flags=0x{Flags:x}";
}
