namespace IoUring.Interop.Generator;

public static class InteropBench
{
    public static int Run(double seconds, string? output) => throw new InteropException(InteropFailure.Inconsistent, "not yet");
}
