using System.Diagnostics;

namespace Toolkit.Infra;

/// <summary>A finished child process whose standard output and error were kept apart.</summary>
public sealed record CapturedProcess(int ExitCode, string StdOut, string StdErr)
{
    public bool Succeeded => ExitCode == 0;
}

public static partial class Proc
{
    /// <summary>
    /// Runs a tool whose stdout is data (clang's AST dump, nm's symbol list) and whose stderr is
    /// diagnostics, so the two are captured separately; no shell, no timeout, no log file.
    /// </summary>
    public static CapturedProcess Capture(string file, IEnumerable<string> args, string? workDir = null,
        IDictionary<string, string>? env = null, string? stdin = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            WorkingDirectory = workDir ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Tools must not translate their diagnostics: tests and parsers read them.
        psi.Environment["LC_ALL"] = "C";
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var process = Start(psi, file);
        // Read both pipes concurrently so a chatty tool cannot dead-lock on a full pipe.
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        var stderrTask = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        process.WaitForExit();
        return new CapturedProcess(process.ExitCode, stdoutTask.Result, stderrTask.Result);
    }

    /// <summary>The path of a tool on PATH, or a failure saying what it is needed for.</summary>
    public static string Require(string tool, string why) => Which(tool) ?? throw new ToolkitException(
        ExitCodes.MissingDependency, $"{tool} not found on PATH; it is needed to {why} (run scripts/install-deps)");

    static Process Start(ProcessStartInfo psi, string file)
    {
        try
        {
            return Process.Start(psi)
                ?? throw new ToolkitException(ExitCodes.MissingDependency, $"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ToolkitException(
                ExitCodes.MissingDependency, $"{file} is not installed or not runnable ({e.Message})");
        }
    }
}
