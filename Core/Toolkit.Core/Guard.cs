namespace Toolkit;

/// <summary>How every command reports a failure the user can act on: one line naming it, and its exit code.</summary>
public static class Guard
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (ToolkitException e)
        {
            Console.Error.WriteLine($"toolkit: {e.Message}");
            return e.ExitCode;
        }
    }
}
