namespace IoUring.Interop.CrossRing;

/// <summary>How a cross-ring completer delivers a completion to another ring.</summary>
public enum CrossRingPath
{
    /// <summary><c>IOSQE_CQE_TARGET</c>: the kernel posts the CQE on the target (kernels with
    /// <c>IORING_FEAT_CQE_TARGET</c>: the toolkit's patched ones).</summary>
    Kernel,
    /// <summary>The request completes on the source ring; the completer's <c>Pump</c> re-posts it on the target with
    /// <c>IORING_OP_MSG_RING</c> and <c>IORING_MSG_RING_FLAGS_PASS</c> (6.3+).</summary>
    Relay,
}

/// <summary>
/// A completion the relay could not deliver: the request ran on the source ring and finished with
/// (<paramref name="UserData"/>, <paramref name="Result"/>, <paramref name="Flags"/>), but the MSG_RING that was to
/// post it on the ring with fd <paramref name="TargetFd"/> failed with <paramref name="Errno"/> (positive: EBADF
/// for a closed fd, EBADFD for an fd that is no io_uring, EAGAIN when the
/// source's SQ had no room for the forward). The receiver never sees this completion.
/// </summary>
public readonly record struct LostCompletion(ulong UserData, int Result, uint Flags, int TargetFd, int Errno)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"lost completion user_data={UserData} res={Result} flags=0x{Flags:x} for ring fd {TargetFd}: errno {Errno}";
}
