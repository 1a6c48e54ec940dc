using System.Reflection;
using NUnit.Framework.Api;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;
using Toolkit.Contract;
using TestCaseResult = Toolkit.Contract.TestCaseResult;

namespace IoUring.Validation;

/// <summary>
/// Runs this assembly's tests in-process with NUnit's own runner (what NUnitLite wraps), for the guest:
/// each finished test appended to the KTAP results file --results and announced with the console markers
/// (both from Toolkit.Contract, shared with the toolkit's harness), and a watchdog per test. A test that
/// overruns its budget is recorded as a timeout and the process exits 124, so the caller can restart the
/// run without the tests already recorded (--exclude-from); the restarted run carries on in the same file.
/// With --expect-features, a skipped test of a listed feature ([Category("feature:NAME")]) fails.
/// </summary>
public static class Program
{
    public const int TimedOutExit = 124;

    public static int Main(string[] args)
    {
        string? results = null, excludeFrom = null, where = null;
        IReadOnlyList<string> expected = [];
        var timeout = 120.0;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--results": results = Next(); break;
                case "--test-timeout":
                    timeout = double.Parse(Next(),
                    System.Globalization.CultureInfo.InvariantCulture); break;
                case "--exclude-from": excludeFrom = Next(); break;
                case "--where": where = Next(); break;
                case "--expect-features":
                    try { expected = Features.Parse(Next()); }
                    catch (ArgumentException e)
                    {
                        Console.Error.WriteLine($"IoUring.Validation: --expect-features: {e.Message}");
                        return 2;
                    }
                    break;
                default:
                    Console.Error.WriteLine("usage: IoUring.Validation [--results FILE] [--test-timeout S] " +
                        "[--exclude-from FILE] [--where NAME-PREFIX] [--expect-features F,...]; " +
                        $"unknown '{args[i]}'");
                    return 2;
            }
        }
        var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
        runner.Load(Assembly.GetExecutingAssembly(), new Dictionary<string, object>());
        var filter = BuildFilter(excludeFrom, where);
        using var listener = new Listener(results, TimeSpan.FromSeconds(timeout), expected);
        var top = runner.Run(listener, filter);
        listener.Finish();
        Console.WriteLine($"validation: {top.PassCount} passed, {top.FailCount + listener.FeatureFailures} failed, " +
            $"{top.SkipCount + top.InconclusiveCount - listener.FeatureFailures} skipped");
        return top.FailCount + listener.FeatureFailures > 0 ? 1 : 0;
    }

    static ITestFilter BuildFilter(string? excludeFrom, string? where)
    {
        var clauses = new List<string>();
        if (where != null) clauses.Add($"<test re=\"1\">^{Xml(System.Text.RegularExpressions.Regex.Escape(where))}</test>");
        if (excludeFrom != null && File.Exists(excludeFrom))
        {
            var done = File.ReadAllLines(excludeFrom).Where(l => l.Length > 0).ToList();
            if (done.Count > 0) clauses.Add("<not><or>" + string.Concat(done.Select(n => $"<test>{Xml(n)}</test>"))
                + "</or></not>");
        }
        if (clauses.Count == 0) return TestFilter.Empty;
        return TestFilter.FromXml("<filter><and>" + string.Concat(clauses) + "</and></filter>");
    }

    static string Xml(string s) => System.Security.SecurityElement.Escape(s);

    /// <summary>Records each finished test case (KTAP results, console marker) and guards its duration.</summary>
    sealed class Listener(string? resultsPath, TimeSpan budget, IReadOnlyList<string> expected)
        : ITestListener, IDisposable
    {
        const string Suite = "validation";
        readonly KtapStream? results = resultsPath == null ? null : new KtapStream(resultsPath);
        readonly object gate = new();
        Timer? watchdog;

        /// <summary>Skips turned into failures because their feature was expected.</summary>
        public int FeatureFailures { get; private set; }

        public void TestStarted(ITest test)
        {
            if (test.IsSuite) return;
            Console.WriteLine(ConsoleMarkers.Run(Suite, test.FullName));
            var limit = test.Properties.ContainsKey("TimeoutSeconds")
                ? TimeSpan.FromSeconds(Convert.ToDouble(test.Properties.Get("TimeoutSeconds"),
                    System.Globalization.CultureInfo.InvariantCulture))
                : budget;
            var started = DateTime.UtcNow;
            lock (gate)
            {
                watchdog?.Dispose();
                watchdog = new Timer(_ =>
                {
                    var ran = Seconds((DateTime.UtcNow - started).TotalSeconds);
                    Record(new TestCaseResult(Suite, test.FullName, Outcome.Timeout, ran,
                        $"timed out after {limit.TotalSeconds:F0} s"));
                    Environment.Exit(TimedOutExit);
                }, null, limit, Timeout.InfiniteTimeSpan);
            }
        }

        public void TestFinished(ITestResult result)
        {
            if (result.Test.IsSuite)
            {
                // A fixture whose one-time setup failed reports its children only through the suite.
                if (result.ResultState.Status == TestStatus.Failed
                    && result.ResultState.Site is FailureSite.SetUp or FailureSite.TearDown)
                    Record(new TestCaseResult(Suite, result.FullName, Outcome.Fail, Seconds(result.Duration),
                        Message(result.Message, result.StackTrace)));
                return;
            }
            lock (gate) { watchdog?.Dispose(); watchdog = null; }
            var outcome = result.ResultState.Status switch
            {
                TestStatus.Passed => Outcome.Pass,
                TestStatus.Skipped or TestStatus.Inconclusive => Outcome.Skip,
                _ => Outcome.Fail,
            };
            var r = new TestCaseResult(Suite, result.FullName, outcome, Seconds(result.Duration),
                Message(result.Message, outcome == Outcome.Fail ? result.StackTrace : null),
                string.IsNullOrEmpty(result.Output) ? null : result.Output);
            var enforced = Features.Enforce(r, FeatureOf(result.Test), expected);
            if (enforced.Outcome != r.Outcome) FeatureFailures++;
            Record(enforced);
        }

        /// <summary>The feature a test belongs to: a "feature:NAME" category on it or on a fixture around it.</summary>
        static string? FeatureOf(ITest? test)
        {
            for (; test != null; test = test.Parent)
                if (Features.OfCategories(test.Properties[PropertyNames.Category].OfType<string>()) is { } f) return f;
            return null;
        }

        static double Seconds(double s) => Math.Round(s, 3);

        static string? Message(string? message, string? stack)
        {
            var msg = string.Join("\n", new[] { message, stack }.Where(s => !string.IsNullOrWhiteSpace(s)));
            return msg.Length > 0 ? msg : null;
        }

        void Record(TestCaseResult r)
        {
            lock (gate) results?.Add(r);
            Console.WriteLine(ConsoleMarkers.Finished(r));
        }

        /// <summary>The run ended normally: close the suite in the results file.</summary>
        public void Finish() { lock (gate) results?.Close(); }

        public void TestOutput(TestOutput output) { }
        public void SendMessage(TestMessage message) { }
        public void Dispose() { lock (gate) { watchdog?.Dispose(); } }
    }
}
