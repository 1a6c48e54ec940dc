
using Toolkit.Bench;

namespace Toolkit.Tests;

/// <summary>The bench report's arithmetic, on made-up rows (the bench itself needs two kernels and minutes of VM
/// time).</summary>
public class CrossRingBenchReportTests
{
    static Dictionary<string, string> Row(string path, double nsPerOp) =>
        new()
        {
            ["path"] = path,
            ["n"] = "1000",
            ["ns_per_op"] = nsPerOp.ToString(System.Globalization.CultureInfo.InvariantCulture)
        };

    [Test]
    public void CeilingComesFromTheCheapestRelayAndThePlainNop()
    {
        var md = new BenchMarkdown();
        BenchReport.AppendCeiling(md, Row("nop", 300), Row("nop-target", 560),
            [Row("kernel", 700), Row("relay", 1600), Row("eventfd", 660), Row("kernel-defer", 650), Row("relay-defer",
                1500)]);
        var text = md.ToString();
        Assert.That(text, Does.Contain("The best relay (eventfd) costs 660 instructions"),
            "kernel-defer is a kernel path, not a relay");
        Assert.That(text, Does.Contain("at most **2.20x** cheaper"), "660 / 300");
        Assert.That(text, Does.Contain("in 30 instructions"), "660 / 2 - 300");
        Assert.That(text, Does.Contain("costs 260 (a')"), "560 - 300");
    }

    [Test]
    public void CeilingIsLeftOutWithoutARelayAndNamesNoFlagCostWithoutTheFeature()
    {
        var md = new BenchMarkdown();
        BenchReport.AppendCeiling(md, Row("nop", 300), Row("nop-target", 0), [Row("kernel", 700)]);
        Assert.That(md.ToString(), Is.Empty);
        var skipped = new Dictionary<string, string> { ["path"] = "nop-target", ["skipped"] = "no-feature" };
        BenchReport.AppendCeiling(md, Row("nop", 300), skipped, [Row("relay", 1600), Row("eventfd", 900)]);
        Assert.That(md.ToString(), Does.Contain("at most **3.00x**").And.Not.Contain("(a')"));
    }
}
