namespace Toolkit.Infra;

/// <summary>
/// Status output for long steps: a live, overwritten status line on a terminal; plain
/// timestamped lines (one per step, no spinner) when stderr is not a TTY, so CI logs stay readable.
/// </summary>
public static class Progress
{
    static readonly bool Tty = !Console.IsErrorRedirected
        && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb");
    static readonly object Gate = new();
    static bool lineOpen;

    public static bool IsTty => Tty;

    /// <summary>A step starts or ends: always printed as its own line.</summary>
    public static void Step(string message)
    {
        lock (Gate)
        {
            ClearLine();
            Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
        }
    }

    /// <summary>Transient detail (the latest compiled file, boot progress): on a TTY only.</summary>
    public static void Detail(string message)
    {
        if (!Tty) return;
        lock (Gate)
        {
            var width = Math.Max(20, SafeWidth() - 1);
            var text = message.Length > width ? message[..width] : message;
            Console.Error.Write("\r\u001b[K" + text);
            lineOpen = true;
        }
    }

    public static void Notice(string message) => Step("note: " + message);

    static void ClearLine()
    {
        if (lineOpen) { Console.Error.Write("\r\u001b[K"); lineOpen = false; }
    }

    static int SafeWidth()
    {
        try { return Console.WindowWidth > 0 ? Console.WindowWidth : 100; } catch (IOException) { return 100; }
    }
}
