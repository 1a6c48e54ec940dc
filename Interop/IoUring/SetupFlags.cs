using static IoUring.Interop.IoUringConstants;

namespace IoUring;

/// <summary>IORING_SETUP_* flags (io_uring_setup(2)); the kernel refuses ones it doesn't know with EINVAL.</summary>
[Flags]
public enum SetupFlags : uint
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>IORING_SETUP_IOPOLL: busy-poll for completions (O_DIRECT files on polled devices).</summary>
    IoPoll = IORING_SETUP_IOPOLL,
    /// <summary>IORING_SETUP_SQPOLL: a kernel thread submits from the SQ.</summary>
    SqPoll = IORING_SETUP_SQPOLL,
    /// <summary>IORING_SETUP_SQ_AFF: pin the SQPOLL thread to <see cref="RingOptions.SqThreadCpu"/>.</summary>
    SqAffinity = IORING_SETUP_SQ_AFF,
    /// <summary>IORING_SETUP_CLAMP: clamp too large entry counts instead of failing.</summary>
    Clamp = IORING_SETUP_CLAMP,
    /// <summary>IORING_SETUP_R_DISABLED: start disabled (for restrictions).</summary>
    Disabled = IORING_SETUP_R_DISABLED,
    /// <summary>IORING_SETUP_SUBMIT_ALL: keep submitting a batch after a request fails at submission.</summary>
    SubmitAll = IORING_SETUP_SUBMIT_ALL,
    /// <summary>IORING_SETUP_COOP_TASKRUN: completions' task work runs only when the task enters the kernel.</summary>
    CoopTaskRun = IORING_SETUP_COOP_TASKRUN,
    /// <summary>IORING_SETUP_TASKRUN_FLAG: flag pending task work in the SQ flags (with CoopTaskRun).</summary>
    TaskRunFlag = IORING_SETUP_TASKRUN_FLAG,
    /// <summary>IORING_SETUP_CQE32: 32-byte CQEs.</summary>
    Cqe32 = IORING_SETUP_CQE32,
    /// <summary>IORING_SETUP_SINGLE_ISSUER: one task submits.</summary>
    SingleIssuer = IORING_SETUP_SINGLE_ISSUER,
    /// <summary>IORING_SETUP_DEFER_TASKRUN: completions are posted when the submitter waits (needs SingleIssuer).</summary>
    DeferTaskRun = IORING_SETUP_DEFER_TASKRUN,
    /// <summary>IORING_SETUP_NO_SQARRAY: no SQ index array.</summary>
    NoSqArray = IORING_SETUP_NO_SQARRAY,
}

/// <summary>IOSQE_* flags of one request.</summary>
[Flags]
public enum SqeFlags : byte
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>IOSQE_IO_DRAIN: start only after every earlier request completed.</summary>
    Drain = (byte)IOSQE_IO_DRAIN,
    /// <summary>IOSQE_IO_LINK: the next request starts when this one succeeds; a failure cancels the rest.</summary>
    Link = (byte)IOSQE_IO_LINK,
    /// <summary>IOSQE_IO_HARDLINK: the next request starts when this one completes, whatever its result.</summary>
    HardLink = (byte)IOSQE_IO_HARDLINK,
    /// <summary>IOSQE_ASYNC: always issue from a kernel worker.</summary>
    Async = (byte)IOSQE_ASYNC,
    /// <summary>IOSQE_CQE_SKIP_SUCCESS: post a CQE only if the request fails.</summary>
    SkipSuccess = (byte)IOSQE_CQE_SKIP_SUCCESS,
}
