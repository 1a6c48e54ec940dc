using System.Text;

namespace Toolkit.Contract;

/// <summary>
/// Appends results to a KTAP file as they happen, for the guest: each test is one write of its lines
/// (flushed), so a kernel crash loses at most the test that was running, and the file always reads back
/// with <see cref="Ktap.ReadResults"/>. A change of suite closes the open subtest and opens the next; the
/// writer's plans are left out (not known in advance). A new writer on an existing file (the Validation
/// runner restarted after a timeout) carries on where the last one stopped, in the same open suite.
/// </summary>
public sealed class KtapStream
{
    readonly string path;
    readonly List<TestCaseResult> open = [];
    string? openSuite;
    int suites;

    public KtapStream(string path)
    {
        this.path = path;
        if (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            File.WriteAllText(path, Ktap.VersionLineText + "\n");
            return;
        }
        var text = File.ReadAllText(path);
        // A torn tail (a writer killed mid-line) would sit in the middle once more is appended: cut it.
        var end = text.LastIndexOf('\n');
        if (end < text.Length - 1) File.WriteAllText(path, text[..(end + 1)]);
        var root = Ktap.Parse(text[..(end + 1)]);
        suites = root.Children.Count;
        if (root.Children.Count > 0 && !root.Children[^1].Complete)
        {
            var last = root.Children[^1];
            openSuite = last.Name;
            open.AddRange(Ktap.ToResults(root with { Children = [last] }));
            suites--;
        }
    }

    public void Add(TestCaseResult r)
    {
        var sb = new StringBuilder();
        if (openSuite != r.Suite)
        {
            sb.Append(CloseText());
            sb.Append(Ktap.SuiteStart(r.Suite, null));
            openSuite = r.Suite;
        }
        open.Add(r);
        sb.Append(Ktap.TestLines(r, open.Count));
        Append(sb.ToString());
    }

    /// <summary>Closes the open suite (its result line); the file is then a complete KTAP document.</summary>
    public void Close() => Append(CloseText());

    string CloseText()
    {
        if (openSuite == null) return "";
        var text = Ktap.SuiteEnd(new SuiteResult(openSuite, [.. open]), ++suites);
        openSuite = null;
        open.Clear();
        return text;
    }

    void Append(string text)
    {
        if (text.Length == 0) return;
        using var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        var bytes = Encoding.UTF8.GetBytes(text);
        f.Write(bytes);
        f.Flush(flushToDisk: true);
    }
}
