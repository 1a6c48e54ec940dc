namespace IoUring;

/// <summary>How <see cref="Ring.Create"/> sets a ring up (io_uring_setup(2)'s parameters).</summary>
public sealed record RingOptions
{
    /// <summary>SQ entries (a power of two up to 32768; the kernel rounds up).</summary>
    public uint Entries { get; init; } = 64;

    /// <summary>CQ entries, if not twice <see cref="Entries"/> (sets IORING_SETUP_CQSIZE).</summary>
    public uint? CqEntries { get; init; }

    /// <summary>Setup flags.</summary>
    public SetupFlags Flags { get; init; }

    /// <summary>With <see cref="SetupFlags.SqPoll"/>: milliseconds the SQ thread spins before sleeping.</summary>
    public uint SqThreadIdleMs { get; init; }

    /// <summary>With <see cref="SetupFlags.SqAffinity"/>: the CPU the SQ thread runs on.</summary>
    public uint SqThreadCpu { get; init; }
}
