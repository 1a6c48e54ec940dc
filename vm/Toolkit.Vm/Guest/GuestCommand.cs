using System.CommandLine;

namespace Toolkit.Vm;

/// <summary>
/// `toolkit guest ...`: the in-guest entry of <see cref="GuestHarness"/>, started by the job script of
/// `vm test` and `liburing-suite` (internal; the host writes its command line).
/// </summary>
public static class GuestCommand
{
    public static Command Create()
    {
        var results = new Option<string>("--results")
        {
            Required = true,
            Description = "KTAP results file (on the output share)",
        };
        var validation = new Option<string?>("--validation") { Description = "Validation suite assembly" };
        var cTest = new Option<string[]>("--c-test")
        {
            Description = "SUITE:TIMEOUT:PATH of a C test binary (repeatable)",
        };
        var cTestList = new Option<string?>("--c-test-list")
        {
            Description = "File with one SUITE:TIMEOUT:PATH per line, run after the --c-test ones " +
                          "(long lists, e.g. liburing's own suite)",
        };
        var testTimeout = new Option<int>("--test-timeout") { DefaultValueFactory = _ => 120 };
        var expect = new Option<string?>("--expect-features")
        {
            Description = "Comma-separated features the kernel must bring: their tests fail instead of skipping",
        };
        var cmd = new Command("guest",
            "(internal) Run inside the guest by `vm test`: the C tests, then the Validation suite")
        {
            results, validation, cTest, cTestList, testTimeout, expect,
        };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var tests = (r.GetValue(cTest) ?? []).Select(GuestHarness.CTest.Parse).ToList();
            if (r.GetValue(cTestList) is { } list)
                tests.AddRange(File.ReadAllLines(list).Where(l => l.Trim().Length > 0)
                    .Select(l => GuestHarness.CTest.Parse(l.Trim())));
            return GuestHarness.Run(r.GetValue(results)!, tests, r.GetValue(validation), r.GetValue(testTimeout),
                ParseFeatures(r.GetValue(expect), "--expect-features"));
        }));
        return cmd;
    }

    /// <summary>A feature list from an option; an unknown name is a usage error naming it and the option.</summary>
    public static IReadOnlyList<string> ParseFeatures(string? csv, string option)
    {
        try { return Features.Parse(csv); }
        catch (ArgumentException e) { throw new ToolkitException(ExitCodes.Usage, $"{option}: {e.Message}"); }
    }
}
