using Toolkit.Bench;

namespace Toolkit.Tests;

/// <summary>`toolkit bench interop` end to end with very short runs: builds both programs, measures every batch size,
/// writes the report.</summary>
[Category("liburing"), NonParallelizable]
public sealed class InteropBenchTests
{
    [Test]
    public void BenchmarkWritesAReportWithEveryBatchSize()
    {
        var report = Path.Combine(Directory.CreateTempSubdirectory("uring-bench-test-").FullName,
            "interop-benchmark.md");
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(TextWriter.Null);
        Console.SetError(TextWriter.Null);
        int exit;
        try
        {
            exit = InteropBench.Run(seconds: 0.05, output: report, repetitions: 1);
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
        try
        {
            Assert.That(exit, Is.Zero);
            var text = File.ReadAllText(report);
            foreach (var batch in InteropBench.BatchSizes)
                // Ratios carry a thousands separator when a loaded host makes one run far faster ("1,382 %").
                Assert.That(text, Does.Match(
                    $@"\n\| {batch} \| \d+\.\d\d \| \d+\.\d\d \| [\d,]+ % \| \d+\.\d\d \| [\d,]+ % \|"),
                    $"row for batch {batch}");
            Assert.That(text, Does.Contain("Target (C# ≥ 95% of C at batch 32)"));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(report)!, true);
        }
    }
}
