using static IoUring.Interop.IoUringConstants;

namespace IoUring;

/// <summary>
/// The IORING_FEAT_* bits the kernel reported at setup. Test these, not kernel versions: the toolkit's patched
/// kernels add <see cref="CqUserWord"/> and <see cref="CqeTarget"/>, which no released kernel has.
/// </summary>
public readonly record struct RingFeatures(uint Bits)
{
    bool Has(uint bit) => (Bits & bit) != 0;

    /// <summary>IORING_FEAT_SINGLE_MMAP: SQ and CQ rings share one mapping.</summary>
    public bool SingleMmap => Has(IORING_FEAT_SINGLE_MMAP);
    /// <summary>IORING_FEAT_NODROP: CQEs beyond the CQ are kept, not dropped.</summary>
    public bool NoDrop => Has(IORING_FEAT_NODROP);
    /// <summary>IORING_FEAT_SUBMIT_STABLE: SQE data is copied at submission.</summary>
    public bool SubmitStable => Has(IORING_FEAT_SUBMIT_STABLE);
    /// <summary>IORING_FEAT_FAST_POLL: internal poll retry for sockets and pipes.</summary>
    public bool FastPoll => Has(IORING_FEAT_FAST_POLL);
    /// <summary>IORING_FEAT_EXT_ARG: waits take a timeout argument.</summary>
    public bool ExtArg => Has(IORING_FEAT_EXT_ARG);
    /// <summary>IORING_FEAT_NATIVE_WORKERS: io-wq workers are threads of the task.</summary>
    public bool NativeWorkers => Has(IORING_FEAT_NATIVE_WORKERS);
    /// <summary>IORING_FEAT_CQE_SKIP: <see cref="SqeFlags.SkipSuccess"/> is supported.</summary>
    public bool CqeSkip => Has(IORING_FEAT_CQE_SKIP);
    /// <summary>IORING_FEAT_LINKED_FILE: linked requests resolve files when they start.</summary>
    public bool LinkedFile => Has(IORING_FEAT_LINKED_FILE);
    /// <summary>IORING_FEAT_MIN_TIMEOUT: waits take a minimum-timeout.</summary>
    public bool MinTimeout => Has(IORING_FEAT_MIN_TIMEOUT);
    /// <summary>IORING_FEAT_RW_ATTR: reads and writes take attributes (7.x).</summary>
    public bool RwAttr => Has(IORING_FEAT_RW_ATTR);
    /// <summary>IORING_FEAT_CQ_USER_WORD: the reserved CQ user word (toolkit patch series).</summary>
    public bool CqUserWord => Has(IORING_FEAT_CQ_USER_WORD);
    /// <summary>IORING_FEAT_CQE_TARGET: IOSQE_CQE_TARGET, completion on another ring (toolkit patch series).</summary>
    public bool CqeTarget => Has(IORING_FEAT_CQE_TARGET);
}
