using System.Globalization;
using System.Xml.Linq;

namespace Toolkit.Reports;

/// <summary>JUnit XML, the format CI dashboards read: a testsuite per suite, a testcase per test.</summary>
public static class JUnit
{
    public static string Write(IReadOnlyList<SuiteResult> suites, IReadOnlyDictionary<string,
        string>? properties = null)
    {
        static string S(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
        var root = new XElement("testsuites",
            new XAttribute("tests", suites.Sum(s => s.Tests.Count)),
            new XAttribute("failures", suites.Sum(s => s.Failed)),
            new XAttribute("skipped", suites.Sum(s => s.Skipped)),
            new XAttribute("time", S(suites.Sum(s => s.Seconds))));
        foreach (var s in suites)
        {
            var suite = new XElement("testsuite",
                new XAttribute("name", s.Name), new XAttribute("tests", s.Tests.Count),
                new XAttribute("failures", s.Failed), new XAttribute("errors", 0),
                new XAttribute("skipped", s.Skipped), new XAttribute("time", S(s.Seconds)));
            if (properties is { Count: > 0 })
                suite.Add(new XElement("properties", properties.OrderBy(p => p.Key, StringComparer.Ordinal)
                    .Select(p => new XElement("property", new XAttribute("name", p.Key), new XAttribute("value",
                        p.Value)))));
            foreach (var t in s.Tests)
            {
                var tc = new XElement("testcase", new XAttribute("classname", s.Name), new XAttribute("name", t.Name),
                    new XAttribute("time", S(t.Seconds)));
                if (t.Outcome == Outcome.Skip) tc.Add(new XElement("skipped", new XAttribute("message",
                    XmlSafe(t.Message ?? ""))));
                else if (t.Failed)
                    tc.Add(new XElement("failure", new XAttribute("type", t.Outcome.ToString().ToLowerInvariant()),
                        new XAttribute("message", XmlSafe(FirstLine(t.Message ?? t.Outcome.ToString()))),
                            XmlSafe(t.Message ?? "")));
                if (!string.IsNullOrEmpty(t.Output)) tc.Add(new XElement("system-out", XmlSafe(t.Output)));
                suite.Add(tc);
            }
            root.Add(suite);
        }
        return new XDocument(new XDeclaration("1.0", "utf-8", null), root).ToString() + "\n";
    }

    static string FirstLine(string s) => s.Split('\n')[0];

    /// <summary>Test output can hold control characters XML 1.0 cannot carry.</summary>
    static string XmlSafe(string s) => new(s.Select(c => c is '\t' or '\n' or '\r' || c >= ' ' ? c : '?').ToArray());
}
