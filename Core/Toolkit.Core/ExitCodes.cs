namespace Toolkit;

/// <summary>
/// Fixed exit codes of the toolkit, documented in vm/README.md. `vm run` passes the
/// guest command's own status through when the command ran to completion and the
/// kernel stayed clean; every toolkit-level failure uses one of these codes, chosen
/// high so they rarely collide with a guest command's own codes.
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A check ran and found failures (tests failed, regressions, stale output).</summary>
    public const int Failed = 1;
    /// <summary>Bad command-line usage or bad input file.</summary>
    public const int Usage = 2;

    /// <summary>A required host tool or package is missing (qemu, clang, linux-source, ...).</summary>
    public const int MissingDependency = 230;
    /// <summary>The base's kernel source package is present but is not the expected version.</summary>
    public const int WrongSourceVersion = 231;
    /// <summary>A patch in the base's series (kernel-patches/BASE/series) does not apply.</summary>
    public const int PatchDoesNotApply = 232;
    /// <summary>A config fragment is malformed, or olddefconfig dropped a requested option.</summary>
    public const int BadConfig = 233;
    /// <summary>The kernel (or another native build) failed to compile.</summary>
    public const int BuildFailed = 234;
    /// <summary>The disk filled up during a build or run.</summary>
    public const int DiskFull = 235;
    /// <summary>No kernel image for the requested flavour: build it first.</summary>
    public const int NoKernelImage = 236;
    /// <summary>Generated output is stale or a generator input is invalid.</summary>
    public const int GeneratorError = 237;
    /// <summary>A test named in a list (liburing-suite's subset, --only) does not exist, or its binary is missing after
    /// the build.</summary>
    public const int TestMissing = 238;
    /// <summary>A series folder declares another kernel base than the one asked for (--base).</summary>
    public const int SeriesForOtherBase = 239;

    /// <summary>
    /// `review` found only warnings (no failure). NIPA's code for "warning"; a failed review check
    /// exits with <see cref="Failed"/> like every other failed check.
    /// </summary>
    public const int ReviewWarn = 250;

    /// <summary>QEMU could not be started or died without the guest reporting a status.</summary>
    public const int VmFailure = 240;
    /// <summary>The guest never reached init within the boot timeout.</summary>
    public const int BootTimeout = 241;
    /// <summary>The guest command ran past its timeout; QEMU was killed.</summary>
    public const int CommandTimeout = 242;
    /// <summary>The guest kernel panicked or oopsed.</summary>
    public const int KernelPanic = 243;
    /// <summary>The command finished but the kernel log shows a splat (BUG, WARNING, KASAN, lockdep, RCU
    /// stall).</summary>
    public const int KernelSplat = 244;
}
