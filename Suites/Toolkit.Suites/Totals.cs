using System.CommandLine;
using System.Xml.Linq;

namespace Toolkit.Suites;

/// <summary>
/// Adds up test results from vstest TRX files and JUnit XML files into the one closing line CI reads:
/// "N passed, N failed, N skipped". Used by scripts/test after every suite has run.
/// </summary>
public static class Totals
{
    public sealed record Count(string File, int Passed, int Failed, int Skipped);

    public static Count Read(string file)
    {
        XDocument doc;
        try { doc = XDocument.Load(file); }
        catch (Exception e) when (e is System.Xml.XmlException or IOException)
        {
            throw new ToolkitException(ExitCodes.Usage, $"{file}: not a readable TRX or JUnit XML file: {e.Message}");
        }
        var root = doc.Root!;
        if (root.Name.LocalName == "TestRun")
        {
            var results = root.Descendants().Where(e => e.Name.LocalName == "UnitTestResult").Select(e =>
                (string?)e.Attribute("outcome") ?? "").ToList();
            return new Count(file, results.Count(o => o == "Passed"),
                results.Count(o => o is "Failed" or "Error" or "Timeout" or "Aborted"),
                results.Count(o => o is "NotExecuted" or "Inconclusive" or "Skipped"));
        }
        if (root.Name.LocalName is "testsuites" or "testsuite")
        {
            var cases = root.DescendantsAndSelf("testcase").ToList();
            var failed = cases.Count(c => c.Element("failure") != null || c.Element("error") != null);
            var skipped = cases.Count(c => c.Element("skipped") != null);
            return new Count(file, cases.Count - failed - skipped, failed, skipped);
        }
        throw new ToolkitException(
            ExitCodes.Usage, $"{file}: root element <{root.Name.LocalName}> is neither a TRX TestRun nor JUnit " +
                $"testsuites");
    }

    public static Command Command()
    {
        var files = new Argument<string[]>("files")
        {
            Description = "TRX and JUnit XML files",
            Arity = ArgumentArity.ZeroOrMore
        };
        var failedStep = new Option<string[]>("--failed-step")
        {
            Description =
            "A step that failed before producing results; counted as one failed test"
        };
        var cmd = new Command("totals",
            "Add up TRX and JUnit XML results and print 'N passed, N failed, N skipped' (exit 1 on any failure or " +
                "when no test ran)") { files, failedStep };
        cmd.SetAction(r => Guard.Run(() =>
        {
            var counts = (r.GetValue(files) ?? []).Where(File.Exists).Select(Read).ToList();
            counts.AddRange((r.GetValue(failedStep) ?? []).Select(s => new Count($"step '{s}'", 0, 1, 0)));
            foreach (var c in counts) Console.WriteLine($"  {c.File}: {c.Passed} passed, {c.Failed} failed, {c.Skipped} skipped");
            var (p, f, s) = (counts.Sum(c => c.Passed), counts.Sum(c => c.Failed), counts.Sum(c => c.Skipped));
            Console.WriteLine($"{p} passed, {f} failed, {s} skipped");
            return f > 0 || p + f == 0 ? ExitCodes.Failed : ExitCodes.Ok;
        }));
        return cmd;
    }
}
