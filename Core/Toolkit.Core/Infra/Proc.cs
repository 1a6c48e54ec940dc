using System.Diagnostics;
using System.Text;

namespace Toolkit.Infra;

/// <summary>Result of a finished child process.</summary>
public sealed record ProcResult(int ExitCode, string Output, bool TimedOut);

/// <summary>
/// Runs child processes with their output kept: everything a child prints is appended to a
/// log file (when given) and returned, and an optional callback sees each line as it arrives.
/// </summary>
public static partial class Proc
{
    public static bool OnPath(string tool) => Which(tool) != null;

    public static string? Which(string tool)
    {
        if (tool.Contains('/')) return File.Exists(tool) ? tool : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static ProcResult Run(string file, IEnumerable<string> args, string? workDir = null, string? logFile = null,
        Action<string>? onLine = null, TimeSpan? timeout = null, IDictionary<string, string?>? env = null,
        string? stdin = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin != null,
            UseShellExecute = false,
            WorkingDirectory = workDir ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env != null)
            foreach (var (k, v) in env)
                if (v == null) psi.Environment.Remove(k); else psi.Environment[k] = v;

        var output = new StringBuilder();
        StreamWriter? log = null;
        if (logFile != null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logFile))!);
            log = new StreamWriter(logFile, append: true) { AutoFlush = true };
            log.WriteLine($"$ {file} {string.Join(' ', psi.ArgumentList)}");
        }
        var gate = new object();
        void Line(string? line)
        {
            if (line == null) return;
            lock (gate)
            {
                output.AppendLine(line);
                log?.WriteLine(line);
            }
            onLine?.Invoke(line);
        }

        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => Line(e.Data);
        p.ErrorDataReceived += (_, e) => Line(e.Data);
        try
        {
            p.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            log?.Dispose();
            throw new ToolkitException(ExitCodes.MissingDependency, $"cannot run '{file}': {e.Message}");
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin != null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var timedOut = false;
        if (timeout is { } t)
        {
            if (!p.WaitForExit(t))
            {
                timedOut = true;
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            }
        }
        p.WaitForExit();
        log?.Dispose();
        return new ProcResult(timedOut ? -1 : p.ExitCode, output.ToString(), timedOut);
    }

    /// <summary>Runs and returns stdout+stderr; a non-zero exit becomes a ToolkitException with the given
    /// code.</summary>
    public static string Check(string file, IEnumerable<string> args, int failureCode, string what,
        string? workDir = null,
        string? logFile = null, Action<string>? onLine = null, IDictionary<string, string?>? env = null)
    {
        var r = Run(file, args, workDir, logFile, onLine, env: env);
        if (r.ExitCode != 0)
        {
            var tail = Tail(r.Output, 30);
            throw new ToolkitException(DiskFullOr(failureCode, r.Output),
                $"{what} failed (exit {r.ExitCode})" + (logFile != null ? $"; full log: {logFile}" : "") + "\n" + tail);
        }
        return r.Output;
    }

    /// <summary>A build that died of a full disk gets the disk-full code whatever step it was.</summary>
    public static int DiskFullOr(int code, string output) =>
        output.Contains("No space left on device", StringComparison.Ordinal) ? ExitCodes.DiskFull : code;

    public static string Tail(string text, int lines)
    {
        var all = text.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
}
