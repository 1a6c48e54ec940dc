namespace Toolkit.Tests;

/// <summary>
/// The line-length rule of .editorconfig, which `dotnet format` does not enforce: at most 2% of the
/// hand-written C# lines (generated *.g.cs files excluded) may be longer than 120 characters.
/// </summary>
public class CodeStyleTests
{
    const int MaxLength = 120;
    const double MaxShareOver = 0.02;

    [Test]
    public void FewHandWrittenLinesPassTheLineLength()
    {
        var files = HandWrittenCSharp().ToList();
        Assert.That(files, Is.Not.Empty, "no C# files found under the repository");
        var lines = files.SelectMany(f => File.ReadLines(f).Select((text, i) => (f, i + 1, text))).ToList();
        var over = lines.Where(l => l.text.Length > MaxLength).ToList();
        var share = (double)over.Count / lines.Count;
        var worst = over.OrderByDescending(l => l.text.Length).Take(10)
            .Select(l => $"{Path.GetRelativePath(TestPaths.Repo, l.f)}:{l.Item2} ({l.text.Length})");
        TestContext.Out.WriteLine($"{over.Count} of {lines.Count} lines over {MaxLength} ({share:P2})");
        Assert.That(share, Is.LessThanOrEqualTo(MaxShareOver),
            $"{over.Count} of {lines.Count} hand-written C# lines are over {MaxLength} characters; longest:\n" +
            string.Join('\n', worst));
    }

    /// <summary>Tracked-looking sources: everything but build output, artifacts and generated bindings.</summary>
    static IEnumerable<string> HandWrittenCSharp() =>
        Directory.EnumerateFiles(TestPaths.Repo, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".g.cs", StringComparison.Ordinal))
            .Where(f => !Path.GetRelativePath(TestPaths.Repo, f).Split('/')
                .Any(part => part is "bin" or "obj" or "artifacts" or ".git"));
}
