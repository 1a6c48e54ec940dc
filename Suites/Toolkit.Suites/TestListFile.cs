namespace Toolkit.Suites;

/// <summary>
/// The reviewed list files of the liburing suite (liburing-tests/upstream-subset.txt and
/// liburing-tests/upstream-flaky.txt): one test per line, its name first and then, after white
/// space, why it is on the list. A reason is mandatory: an entry nobody can justify must not hide
/// a test from CI or excuse its failure. Blank lines and lines starting with '#' are comments.
/// </summary>
public static class TestListFile
{
    /// <param name="Suite">Suite of the test: "liburing" for a bare name, or the part before '/'
    /// ("liburing-tests/cq-user-word").</param>
    /// <param name="Name">Test name as reported (liburing's binary name without ".t").</param>
    /// <param name="Reason">Why it is listed (subset: what it covers; flaky: the failure and its evidence).</param>
    /// <param name="Line">1-based line number, for messages.</param>
    public sealed record Entry(string Suite, string Name, string Reason, int Line)
    {
        public string Key => $"{Suite}/{Name}";
    }

    public static IReadOnlyList<Entry> Load(string path)
    {
        if (!File.Exists(path)) throw new ToolkitException(ExitCodes.Usage, $"list file {path} does not exist");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses the text of a list file; any malformed line is a usage error (exit 2) naming file and
    /// line.</summary>
    public static IReadOnlyList<Entry> Parse(string text, string fileName)
    {
        var entries = new List<Entry>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var cut = line.IndexOfAny([' ', '\t']);
            var token = cut < 0 ? line : line[..cut];
            var reason = cut < 0 ? "" : line[cut..].Trim();
            if (reason.Length == 0)
                throw new ToolkitException(
                    ExitCodes.Usage, $"{fileName}:{i + 1}: '{token}' has no reason; every entry says why it is listed");
            if (token.EndsWith(".t", StringComparison.Ordinal)) token = token[..^2];
            var slash = token.IndexOf('/');
            var (suite, name) = slash < 0 ? (LiburingSuite.Suite, token) : (token[..slash], token[(slash + 1)..]);
            if (suite.Length == 0 || name.Length == 0 || name.Contains('/') || name.IndexOfAny([':', '#']) >= 0)
                throw new ToolkitException(
                    ExitCodes.Usage, $"{fileName}:{i + 1}: '{token}' is not a test name (NAME or SUITE/NAME)");
            var entry = new Entry(suite, name, reason, i + 1);
            if (seen.TryGetValue(entry.Key, out var first))
                throw new ToolkitException(
                    ExitCodes.Usage, $"{fileName}:{i + 1}: '{token}' is listed twice (first on line {first})");
            seen[entry.Key] = i + 1;
            entries.Add(entry);
        }
        return entries;
    }
}
