using System.Xml.Linq;
using Toolkit.Reports;

namespace Toolkit.Tests;

public class ReportTests
{
    static readonly List<SuiteResult> Suites = SuiteResult.Group(
    [
        new("liburing-tests", "nop", Outcome.Pass, 0.1),
        new("liburing-tests", "cq-user-word", Outcome.Skip, 0.0, "kernel lacks IORING_FEAT_CQ_USER_WORD"),
        new("validation", "Setup.CreatesRing", Outcome.Pass, 0.2),
        new("validation", "MsgRing.Delivers # odd", Outcome.Fail, 1.5, "Expected 1\nBut was 0"),
        new("validation", "Hangs", Outcome.Timeout, 60),
    ]);

    [Test]
    public void KtapIsNestedPerSuiteAndParsesBack()
    {
        var text = Ktap.Write(Suites, ["kernel: 6.12.117-patched"]);
        Assert.That(text,
            Does.StartWith(
                "KTAP version 1\n# kernel: 6.12.117-patched\n1..2\n    KTAP version 1\n    # Subtest: " +
                    "liburing-tests\n    1..2\n"));
        Assert.That(text, Does.Contain("    ok 2 cq-user-word # SKIP kernel lacks IORING_FEAT_CQ_USER_WORD\n"));
        Assert.That(text, Does.Contain("    not ok 2 MsgRing.Delivers _ odd\n"));
        Assert.That(text, Does.Contain("    # Hangs: timed out after 60.0 s\n"));
        var tree = Ktap.Parse(text);
        Assert.That(tree.Plan, Is.EqualTo(2));
        Assert.That(tree.Children.Select(c => (c.Name, c.Ok)), Is.EqualTo(new[] { ("liburing-tests", true),
            ("validation", false) }));
        Assert.That(tree.Children[0].Children[1].Directive, Is.EqualTo("SKIP"));
        Assert.That(tree.Children[1].Children.Select(c => c.Ok), Is.EqualTo(new[] { true, false, false }));
        Assert.That(tree.Children[1].Plan, Is.EqualTo(3));
    }

    [Test]
    public void KtapParserIgnoresInterleavedKernelMessages()
    {
        var tree = Ktap.Parse(
            "[ 1.0] booting\nKTAP version 1\n1..2\n[ 1.1] virtio: hello\nok 1 a\nnot ok 2 - b # TODO later\n");
        Assert.That(tree.Children.Select(c => c.Name), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(tree.Children[1].Directive, Is.EqualTo("TODO"));
    }

    [Test]
    public void KtapParserRejectsBadNumbering() =>
        Assert.Throws<FormatException>(() => Ktap.Parse("KTAP version 1\n1..2\nok 1 a\nok 3 c\n"));

    [Test]
    public void JUnitCountsMatch()
    {
        var doc = XDocument.Parse(JUnit.Write(Suites, new Dictionary<string, string> { ["kernel"] = "6.12" }));
        var root = doc.Root!;
        Assert.That(root.Attribute("tests")!.Value, Is.EqualTo("5"));
        Assert.That(root.Attribute("failures")!.Value, Is.EqualTo("2"));
        Assert.That(root.Attribute("skipped")!.Value, Is.EqualTo("1"));
        var failure = root.Descendants("failure").First();
        Assert.That(failure.Attribute("message")!.Value, Is.EqualTo("Expected 1"));
        Assert.That(root.Descendants("property").Select(p => p.Attribute("value")!.Value), Is.EqualTo(new[] { "6.12",
            "6.12" }));
    }

    [Test]
    public void SummaryListsFailures()
    {
        var s = SummaryTable.Write(Suites);
        Assert.That(s, Does.Contain("validation"));
        Assert.That(s, Does.Contain("FAILED validation/Hangs (timeout)"));
    }

    [Test]
    public void ResultsFileToleratesATornLastLine()
    {
        var f = Path.GetTempFileName();
        new KtapStream(f).Add(new("s", "a", Outcome.Pass, 1));
        File.AppendAllText(f, "    # duration: 2 s\n    ok 2 b-is-torn");
        Assert.That(Ktap.ReadResults(f).Tests.Select(r => r.Name), Is.EqualTo(new[] { "a" }));
        File.Delete(f);
    }
}
