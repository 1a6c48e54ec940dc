using Toolkit.Vm;

namespace Toolkit.Suites;

/// <summary>
/// The host's side of a run of the guest harness, shared by `vm test`, `liburing-suite` and `reliability`:
/// following the console markers as they arrive, reading the results the guest wrote, and blaming a crash
/// on the test that was running.
/// </summary>
public static class GuestRun
{
    /// <summary>The results of <paramref name="files"/> in order, and one line per file that was cut short.</summary>
    public static (List<TestCaseResult> Results, List<string> Problems) Read(params string[] files)
    {
        var all = new List<TestCaseResult>();
        var problems = new List<string>();
        foreach (var f in files)
        {
            Ktap.Results r;
            try { r = Ktap.ReadResults(f); }
            catch (FormatException e)
            {
                throw new ToolkitException(ExitCodes.Usage, $"the guest's results are unreadable: {e.Message}");
            }
            all.AddRange(r.Tests);
            if (r.Problem(f) is { } p) problems.Add(p);
        }
        return (all, problems);
    }

    /// <summary>
    /// Echoes the console markers as progress: a "run" marker as a detail line (through
    /// <paramref name="onRun"/>, given "SUITE/NAME"), every other marker as a step unless its first word is
    /// one of <paramref name="quiet"/> (e.g. "pass").
    /// </summary>
    internal static LineFilter Echo(Action<string> onRun, Action<string> onOther, params string[] quiet) => new(line =>
    {
        if (ConsoleMarkers.RunTarget(line) is { } target) onRun(target);
        else if (ConsoleMarkers.Body(line) is { } body && !quiet.Any(q => ConsoleMarkers.Is(line, q))) onOther(body);
    });

    /// <summary>
    /// When the VM died mid-test, the last test announced on the console without a result is the culprit.
    /// </summary>
    internal static void AttributeInterruptedTest(List<TestCaseResult> all, VmResult vm)
    {
        if (vm.ExitCode is not (ExitCodes.KernelPanic or ExitCodes.CommandTimeout or ExitCodes.VmFailure)) return;
        var last = File.ReadLines(vm.ConsoleLog).Select(ConsoleMarkers.ParseRun).LastOrDefault(m => m != null);
        if (last is not var (suite, name)) return;
        if (all.Any(r => r.Suite == suite && r.Name == name)) return;
        var outcome = vm.ExitCode == ExitCodes.CommandTimeout ? Outcome.Timeout : Outcome.Crash;
        var splat = vm.Panic != null ? $"kernel panic: {vm.Panic}" : vm.Outcome;
        all.Add(new TestCaseResult(suite, name, outcome, 0,
            splat + "\n" + string.Join('\n', vm.Splats.SelectMany(s => s.Text).Take(30))));
    }

    /// <summary>
    /// A TextWriter that hands each completed line to a callback (the VM runner echoes console lines to it).
    /// </summary>
    internal sealed class LineFilter(Action<string> onLine) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void WriteLine(string? value) => onLine(value ?? "");
    }
}
