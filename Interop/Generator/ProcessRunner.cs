using System.Diagnostics;

namespace IoUring.Interop.Generator;

/// <summary>Result of one child process: exit status and the full captured output.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>Runs external tools (clang, gcc, make, apt-get) with captured output and no shell.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        IDictionary<string, string>? environment = null, string? stdin = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        // Tools must not translate their diagnostics: tests and parsers read them.
        psi.Environment["LC_ALL"] = "C";
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InteropException(InteropFailure.ToolMissing, $"could not start {fileName}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InteropException(InteropFailure.ToolMissing, $"{fileName} is not installed or not runnable ({e.Message})");
        }
        using (process)
        {
            // Read both pipes concurrently so a chatty tool cannot dead-lock on a full pipe.
            var stdoutTask = process.StandardOutput.ReadToEndAsync();
            var stderrTask = process.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                process.StandardInput.Write(stdin);
                process.StandardInput.Close();
            }
            process.WaitForExit();
            return new ProcessResult(process.ExitCode, stdoutTask.Result, stderrTask.Result);
        }
    }

    /// <summary>Finds an executable on PATH; null when absent.</summary>
    public static string? FindOnPath(string name)
    {
        if (name.Contains('/')) return File.Exists(name) ? name : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            if (dir.Length == 0) continue;
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static string Require(string name, string why)
        => FindOnPath(name) ?? throw new InteropException(InteropFailure.ToolMissing,
            $"{name} not found on PATH; it is needed to {why} (run scripts/install-deps)");
}
