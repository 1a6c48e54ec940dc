using System.Reflection;
using System.Text;
using System.Text.Json;
using NUnit.Framework.Api;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace IoUring.Validation;

/// <summary>
/// Runs this assembly's tests in-process with NUnit's own runner (what NUnitLite wraps), for the guest:
/// one JSON line per finished test in --results, and a watchdog per test. A test that overruns its
/// budget is recorded as a timeout and the process exits 124, so the caller can restart the run
/// without the tests already recorded (--exclude-from).
/// </summary>
public static class Program
{
    public const int TimedOutExit = 124;

    public static int Main(string[] args)
    {
        string? results = null, excludeFrom = null, where = null;
        var timeout = 120.0;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--results": results = Next(); break;
                case "--test-timeout": timeout = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--exclude-from": excludeFrom = Next(); break;
                case "--where": where = Next(); break;
                default:
                    Console.Error.WriteLine($"usage: IoUring.Validation [--results FILE] [--test-timeout S] [--exclude-from FILE] [--where NAME-PREFIX]; unknown '{args[i]}'");
                    return 2;
            }
        }
        var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
        runner.Load(Assembly.GetExecutingAssembly(), new Dictionary<string, object>());
        var filter = BuildFilter(excludeFrom, where);
        using var listener = new Listener(results, TimeSpan.FromSeconds(timeout));
        var top = runner.Run(listener, filter);
        Console.WriteLine($"validation: {top.PassCount} passed, {top.FailCount} failed, {top.SkipCount + top.InconclusiveCount} skipped");
        return top.FailCount > 0 ? 1 : 0;
    }

    static ITestFilter BuildFilter(string? excludeFrom, string? where)
    {
        var clauses = new List<string>();
        if (where != null) clauses.Add($"<test re=\"1\">^{Xml(System.Text.RegularExpressions.Regex.Escape(where))}</test>");
        if (excludeFrom != null && File.Exists(excludeFrom))
        {
            var done = File.ReadAllLines(excludeFrom).Where(l => l.Length > 0).ToList();
            if (done.Count > 0) clauses.Add("<not><or>" + string.Concat(done.Select(n => $"<test>{Xml(n)}</test>")) + "</or></not>");
        }
        if (clauses.Count == 0) return TestFilter.Empty;
        return TestFilter.FromXml("<filter><and>" + string.Concat(clauses) + "</and></filter>");
    }

    static string Xml(string s) => System.Security.SecurityElement.Escape(s);

    /// <summary>Writes each finished test case as a JSON line (the toolkit's results format) and guards its duration.</summary>
    sealed class Listener(string? resultsPath, TimeSpan budget) : ITestListener, IDisposable
    {
        readonly StreamWriter? results = resultsPath == null ? null : new StreamWriter(resultsPath, append: true) { AutoFlush = true };
        readonly object gate = new();
        Timer? watchdog;

        public void TestStarted(ITest test)
        {
            if (test.IsSuite) return;
            Console.WriteLine($"toolkit-suite: run validation/{test.FullName}");
            var limit = test.Properties.ContainsKey("TimeoutSeconds")
                ? TimeSpan.FromSeconds(Convert.ToDouble(test.Properties.Get("TimeoutSeconds"), System.Globalization.CultureInfo.InvariantCulture))
                : budget;
            var started = DateTime.UtcNow;
            lock (gate)
            {
                watchdog?.Dispose();
                watchdog = new Timer(_ =>
                {
                    Write(test.FullName, "Timeout", (DateTime.UtcNow - started).TotalSeconds, $"timed out after {limit.TotalSeconds:F0} s", null);
                    Console.WriteLine($"toolkit-suite: timeout validation/{test.FullName}");
                    Environment.Exit(TimedOutExit);
                }, null, limit, Timeout.InfiniteTimeSpan);
            }
        }

        public void TestFinished(ITestResult result)
        {
            if (result.Test.IsSuite)
            {
                // A fixture whose one-time setup failed reports its children only through the suite.
                if (result.ResultState.Status == TestStatus.Failed && result.ResultState.Site is FailureSite.SetUp or FailureSite.TearDown)
                    Write(result.FullName, "Fail", result.Duration, result.Message, result.StackTrace);
                return;
            }
            lock (gate) { watchdog?.Dispose(); watchdog = null; }
            var outcome = result.ResultState.Status switch
            {
                TestStatus.Passed => "Pass",
                TestStatus.Skipped or TestStatus.Inconclusive => "Skip",
                _ => "Fail",
            };
            Write(result.FullName, outcome, result.Duration, result.Message, outcome == "Fail" ? result.StackTrace : null, result.Output);
            Console.WriteLine($"toolkit-suite: {outcome.ToLowerInvariant()} validation/{result.FullName}" +
                (outcome != "Pass" && !string.IsNullOrEmpty(result.Message) ? $": {result.Message.Split('\n')[0]}" : ""));
        }

        void Write(string name, string outcome, double seconds, string? message, string? stack, string? output = null)
        {
            if (results == null) return;
            var buf = new MemoryStream();
            using (var w = new Utf8JsonWriter(buf))
            {
                w.WriteStartObject();
                w.WriteString("Suite", "validation");
                w.WriteString("Name", name);
                w.WriteString("Outcome", outcome);
                w.WriteNumber("Seconds", Math.Round(seconds, 3));
                var msg = string.Join("\n", new[] { message, stack }.Where(s => !string.IsNullOrWhiteSpace(s)));
                if (msg.Length > 0) w.WriteString("Message", msg);
                if (!string.IsNullOrEmpty(output)) w.WriteString("Output", output);
                w.WriteEndObject();
            }
            lock (gate) results.WriteLine(Encoding.UTF8.GetString(buf.ToArray()));
        }

        public void TestOutput(TestOutput output) { }
        public void SendMessage(TestMessage message) { }
        public void Dispose() { lock (gate) { watchdog?.Dispose(); results?.Dispose(); } }
    }
}
