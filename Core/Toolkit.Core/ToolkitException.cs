namespace Toolkit;

/// <summary>A failure the user can act on: the message names the problem, the exit code classifies it.</summary>
public sealed class ToolkitException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
