namespace IoUring.Interop.Generator;

/// <summary>
/// Exit codes used by the interop commands. They mirror vm/Toolkit/ExitCodes.cs (this library
/// cannot reference the toolkit executable); a test keeps the two in step.
/// </summary>
public static class InteropExitCodes
{
    public const int Ok = 0;
    public const int Usage = 2;
    public const int MissingDependency = 230;
    public const int PatchDoesNotApply = 232;
    /// <summary>liburing or a benchmark failed to build, or clang could not compile an input header.</summary>
    public const int BuildFailed = 234;
    /// <summary>Stale generated output, unsupported construct, inconsistent inputs.</summary>
    public const int GeneratorError = 237;
}

/// <summary>What went wrong, why it matters for the interop work, and which exit code classifies it.</summary>
public enum InteropFailure
{
    /// <summary>clang-14, gcc, apt-get, dpkg-source, nm or make is not installed.</summary>
    ToolMissing,
    /// <summary>An input path (kernel tree, header, liburing prefix) does not exist.</summary>
    InputMissing,
    /// <summary>clang rejected a header: the message carries clang's diagnostics.</summary>
    HeaderDoesNotParse,
    /// <summary>A declaration uses a C construct the generator cannot express faithfully in C#.</summary>
    UnsupportedConstruct,
    /// <summary>Committed generated output differs from what the generator produces now.</summary>
    Stale,
    /// <summary>A patch of liburing-tests/liburing-patches/series does not apply.</summary>
    PatchDoesNotApply,
    /// <summary>liburing (or a benchmark program) failed to build.</summary>
    BuildFailed,
    /// <summary>Anything else the generator detects as inconsistent (e.g. a symbol not exported).</summary>
    Inconsistent,
}

/// <summary>A failure the user can act on. The message names the problem; <see cref="ExitCode"/> classifies it.</summary>
public sealed class InteropException(InteropFailure failure, string message) : Exception(message)
{
    public InteropFailure Failure { get; } = failure;

    /// <summary>
    /// Missing tools/inputs map to MissingDependency / Usage so a caller can tell "install
    /// something" from "fix the header"; all generator-level problems share GeneratorError.
    /// </summary>
    public int ExitCode => Failure switch
    {
        InteropFailure.ToolMissing => InteropExitCodes.MissingDependency,
        InteropFailure.InputMissing => InteropExitCodes.Usage,
        InteropFailure.PatchDoesNotApply => InteropExitCodes.PatchDoesNotApply,
        InteropFailure.BuildFailed => InteropExitCodes.BuildFailed,
        // A header clang cannot compile is a failed native compile, distinct from a construct the generator cannot bind.
        InteropFailure.HeaderDoesNotParse => InteropExitCodes.BuildFailed,
        _ => InteropExitCodes.GeneratorError,
    };
}
