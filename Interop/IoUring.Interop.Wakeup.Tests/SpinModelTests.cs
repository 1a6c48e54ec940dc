using System.Text.RegularExpressions;
using Toolkit.Infra;

namespace IoUring.Interop.Wakeup.Tests;

/// <summary>
/// Runs spin over docs/models/cq-word-wakeup.pml: the protocol as implemented must verify with no errors
/// (no lost wakeup, no invalid end state), and every deliberately broken variant must yield a counterexample,
/// which shows the model can see the bug each fence, the re-check and the split word encoding prevent.
/// </summary>
// `slow`: each model check compiles and searches a state space for 8-20 s, out of the fast filter.
[Category("slow"), NonParallelizable]
public sealed partial class SpinModelTests
{
    static string Model
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "docs", "models", "cq-word-wakeup.pml");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException("docs/models/cq-word-wakeup.pml not found above "
                + AppContext.BaseDirectory);
        }
    }

    sealed record PanResult(int Errors, long States, string Output);

    /// <summary>A tool's exit code and its stdout followed by its stderr (spin and pan print to both).</summary>
    static (int Code, string Output) Exec(string file, string workDir, params string[] args)
    {
        var r = Proc.Capture(file, args, workDir);
        return (r.ExitCode, r.StdOut + r.StdErr);
    }

    static PanResult Verify(string? define)
    {
        foreach (var tool in new[] { "spin", "gcc" })
            if (!Proc.OnPath(tool))
                Assert.Ignore($"{tool} is not installed (Debian: apt-get install spin gcc)");
        var work = Directory.CreateTempSubdirectory("cqword-spin-").FullName;
        try
        {
            var spinArgs = define == null ? new[] { "-a", Model } : new[] { $"-D{define}", "-a", Model };
            var spin = Exec("spin", work, spinArgs);
            Assert.That(spin.Code, Is.Zero, "spin -a failed:\n" + spin.Output);
            // -DSAFETY: assertions and invalid end states only (the properties are safety properties).
            var gcc = Exec("gcc", work, "-O2", "-w", "-DSAFETY", "-o", "pan", "pan.c");
            Assert.That(gcc.Code, Is.Zero, "gcc pan.c failed:\n" + gcc.Output);
            var pan = Exec(Path.Combine(work, "pan"), work, "-m100000");
            var errors = ErrorsLine().Match(pan.Output);
            Assert.That(errors.Success, Is.True, "no 'errors:' line in pan's output:\n" + pan.Output);
            var states = StatesLine().Match(pan.Output);
            TestContext.Out.WriteLine($"variant {define ?? "as implemented"}:\n{pan.Output}");
            return new PanResult(int.Parse(errors.Groups[1].Value),
                states.Success ? long.Parse(states.Groups[1].Value) : -1, pan.Output);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    [GeneratedRegex(@"errors: (\d+)")]
    private static partial Regex ErrorsLine();

    [GeneratedRegex(@"(\d+) states, stored")]
    private static partial Regex StatesLine();

    [Test]
    public void ProtocolAsImplementedHasNoLostWakeup()
    {
        var r = Verify(null);
        Assert.That(r.Errors, Is.Zero, "spin found a counterexample in the protocol as implemented:\n" + r.Output);
        Assert.That(r.States, Is.GreaterThan(10_000),
            "suspiciously small state space: is the model still exercising anything?");
        Assert.That(r.Output, Does.Not.Contain("max search depth too small"), "search was truncated");
    }

    [TestCase("BROKEN_NO_RECHECK")]
    [TestCase("BROKEN_NO_WAITER_FENCE")]
    [TestCase("BROKEN_NO_NOTIFIER_FENCE")]
    [TestCase("BROKEN_CLOBBER")]
    public void BrokenVariantIsCaught(string variant)
    {
        var r = Verify(variant);
        Assert.That(r.Errors, Is.GreaterThan(0), $"spin did not catch {variant}:\n{r.Output}");
        Assert.That(r.Output, Does.Contain("assertion violated").Or.Contain("invalid end state"),
            "the counterexample must be a lost wakeup or a deadlock");
    }
}
