using System.Text;
using System.Text.RegularExpressions;
using Toolkit.Kernel;

namespace Toolkit.Review;

/// <summary>
/// One mail of a series as `git format-patch` / `git send-email` writes it: headers (unfolded,
/// RFC 2047 decoded), the commit message, and the diff. A cover letter is a mail without a diff
/// whose subject is numbered 0/N (or that is named *cover-letter*).
/// </summary>
public sealed partial record PatchMail
{
    /// <summary>Where the mail is on disk (for mbox input: the file review split it into).</summary>
    public required string File { get; init; }
    /// <summary>Short name for tables and JUnit: the file name without ".patch".</summary>
    public required string Name { get; init; }
    public required string Subject { get; init; }
    public required string FromName { get; init; }
    public required string FromEmail { get; init; }
    /// <summary>The commit message (between the headers and the "---" line).</summary>
    public required string Message { get; init; }
    public required string Diff { get; init; }
    /// <summary>Files the diff touches (new paths; deleted files by their old path).</summary>
    public required IReadOnlyList<string> Files { get; init; }
    /// <summary>i and N of "[PATCH i/N]", or null when the subject is not numbered.</summary>
    public (int Index, int Total)? Number { get; init; }
    public bool IsCover { get; init; }

    /// <summary>The subject without the "[PATCH ...]" tag: what becomes the commit's summary line.</summary>
    public string Summary => Tag().Replace(Subject, "").Trim();

    /// <summary>Every "Signed-off-by:" of the commit message, as (name, email).</summary>
    public IReadOnlyList<(string Name, string Email)> SignedOffBy =>
        Message.Split('\n').Select(l => SobLine().Match(l)).Where(m => m.Success)
            .Select(m => (m.Groups[1].Value.Trim(), m.Groups[2].Value.Trim())).ToList();

    [GeneratedRegex(@"^\s*\[[^\]]*\]\s*")]
    private static partial Regex Tag();
    [GeneratedRegex(@"^Signed-off-by:\s*(.*?)\s*<([^>]+)>\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex SobLine();
    [GeneratedRegex(@"\[[^\]]*?(\d+)/(\d+)\s*\]")]
    private static partial Regex NumberTag();
    [GeneratedRegex(@"^diff --git a/(\S+) b/(\S+)", RegexOptions.Multiline)]
    private static partial Regex DiffGit();
    [GeneratedRegex(@"=\?([^?]+)\?([QqBb])\?([^?]*)\?=")]
    private static partial Regex EncodedWord();
    [GeneratedRegex(@"^From [0-9a-f]{40} ", RegexOptions.Multiline)]
    private static partial Regex FormatPatchSeparator();

    public static PatchMail Parse(string text, string file)
    {
        text = text.Replace("\r\n", "\n");
        var headerEnd = text.IndexOf("\n\n", StringComparison.Ordinal);
        var headerText = headerEnd < 0 ? text : text[..headerEnd];
        var body = headerEnd < 0 ? "" : text[(headerEnd + 2)..];
        var headers = ParseHeaders(headerText);
        var subject = headers.GetValueOrDefault("subject", "");
        var (fromName, fromEmail) = ParseAddress(headers.GetValueOrDefault("from", ""));
        // The commit message ends at the first "---" line (git am's rule); the diff starts at "diff --git".
        var lines = body.Split('\n');
        var sep = Array.FindIndex(lines, l => l == "---" || l.StartsWith("diff --git ", StringComparison.Ordinal));
        var message = sep < 0 ? body : string.Join('\n', lines[..sep]);
        var diffStart = body.IndexOf("\ndiff --git ", StringComparison.Ordinal);
        var diff = body.StartsWith("diff --git ",
            StringComparison.Ordinal) ? body : diffStart < 0 ? "" : body[(diffStart + 1)..];
        var files = DiffGit().Matches(diff).Select(m => m.Groups[2].Value).Distinct().ToList();
        var num = NumberTag().Match(subject);
        (int, int)? number = num.Success ? (int.Parse(num.Groups[1].Value), int.Parse(num.Groups[2].Value)) : null;
        var name = Path.GetFileName(file);
        if (name.EndsWith(".patch", StringComparison.Ordinal)) name = name[..^6];
        return new PatchMail
        {
            File = file,
            Name = name,
            Subject = subject,
            FromName = fromName,
            FromEmail = fromEmail,
            Message = message,
            Diff = diff,
            Files = files,
            Number = number,
            IsCover = diff.Length == 0 && (number is (0, _) || name.Contains("cover-letter", StringComparison.Ordinal)),
        };
    }

    /// <summary>Unfolds continuation lines and decodes encoded words; keys are lower case.</summary>
    static Dictionary<string, string> ParseHeaders(string headerText)
    {
        var result = new Dictionary<string, string>();
        string? key = null;
        foreach (var line in headerText.Split('\n'))
        {
            if (line.StartsWith("From ",
                StringComparison.Ordinal) && key == null) continue; // mbox "From <sha> <date>" line
            if ((line.StartsWith(' ') || line.StartsWith('\t')) && key != null)
            {
                result[key] += " " + line.Trim();
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon <= 0) continue;
            key = line[..colon].Trim().ToLowerInvariant();
            result[key] = line[(colon + 1)..].Trim();
        }
        foreach (var k in result.Keys.ToList()) result[k] = DecodeWords(result[k]);
        return result;
    }

    /// <summary>RFC 2047 "=?UTF-8?q?...?=" words, as git format-patch writes non-ASCII names and subjects.</summary>
    public static string DecodeWords(string value)
    {
        // Whitespace between two adjacent encoded words is not part of the text.
        value = Regex.Replace(value, @"\?=\s+=\?", "?==?");
        return EncodedWord().Replace(value, m =>
        {
            Encoding enc;
            try { enc = Encoding.GetEncoding(m.Groups[1].Value); } catch (ArgumentException) { return m.Value; }
            var data = m.Groups[3].Value;
            if (m.Groups[2].Value is "B" or "b")
            {
                try
                {
                    return enc.GetString(Convert.FromBase64String(data));
                }
                catch (FormatException) { return m.Value; }
            }
            var bytes = new List<byte>();
            for (var i = 0; i < data.Length; i++)
            {
                if (data[i] == '_') bytes.Add((byte)' ');
                else if (data[i] == '=' && i + 2 < data.Length && byte.TryParse(data.AsSpan(i + 1, 2),
                    System.Globalization.NumberStyles.HexNumber, null, out var b))
                {
                    bytes.Add(b);
                    i += 2;
                }
                else bytes.Add((byte)data[i]);
            }
            return enc.GetString(bytes.ToArray());
        });
    }

    public static (string Name, string Email) ParseAddress(string value)
    {
        var lt = value.LastIndexOf('<');
        var gt = value.LastIndexOf('>');
        if (lt >= 0 && gt > lt) return (value[..lt].Trim().Trim('"'), value[(lt + 1)..gt].Trim());
        return ("", value.Trim());
    }

    /// <summary>Splits an mbox (several format-patch mails in one file) into the mails' texts.</summary>
    public static List<string> SplitMbox(string text)
    {
        text = text.Replace("\r\n", "\n");
        var starts = FormatPatchSeparator().Matches(text).Select(m => m.Index).ToList();
        if (starts.Count == 0)
        {
            // A generic mbox: messages start at "From " lines preceded by a blank line (or at the top).
            starts = Regex.Matches(text, @"(?:^|\n\n)(From \S+ )").Select(m => m.Groups[1].Index).ToList();
        }
        if (starts.Count == 0) return [text];
        return starts.Select((s, i) => text[s..(i + 1 < starts.Count ? starts[i + 1] : text.Length)]).ToList();
    }
}

/// <summary>
/// The series under review: its patches in order and its cover letter(s). Loaded from the base's
/// kernel-patches/BASE/ (the `series` file plus the cover letters next to the listed patches), from a
/// folder of .patch files (in name order), or from an mbox. A folder that declares another base (its `base`
/// file or its name) stops with exit 239.
/// </summary>
public sealed class ReviewSeries
{
    public required string Source { get; init; }
    public required IReadOnlyList<PatchMail> Patches { get; init; }
    public required IReadOnlyList<PatchMail> Covers { get; init; }

    public static ReviewSeries Load(string? path, KernelBase b, string splitDir)
    {
        path ??= b.SeriesDir;
        path = Path.GetFullPath(path);
        if (Directory.Exists(path))
        {
            PatchSeries.CheckBase(path, b);
            if (File.Exists(Path.Combine(path, "series")))
            {
                var series = PatchSeries.LoadFor(b, path);
                var mails = series.Patches.Select(Read).ToList();
                // Cover letters are not in `series` (git am must not see them): take those beside the listed patches.
                var covers = series.Patches.Select(Path.GetDirectoryName).Distinct()
                    .SelectMany(d => Directory.GetFiles(d!, "*.patch").Order(StringComparer.Ordinal))
                    .Where(f => !series.Patches.Contains(f)).Select(Read).Where(m => m.IsCover).ToList();
                return new ReviewSeries { Source = path, Patches = mails, Covers = covers };
            }
            var files = Directory.GetFiles(path, "*.patch").Concat(Directory.GetFiles(path,
                "*.diff")).Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new ToolkitException(
                ExitCodes.Usage, $"{path}: no series file and no *.patch files");
            return FromMails(path, files.Select(Read));
        }
        if (!File.Exists(path)) throw new ToolkitException(
            ExitCodes.Usage, $"{path}: no such series folder or mbox file");
        // git am needs one file per patch: an mbox is split into the run directory.
        Directory.CreateDirectory(splitDir);
        var texts = PatchMail.SplitMbox(File.ReadAllText(path));
        var split = new List<PatchMail>();
        for (var i = 0; i < texts.Count; i++)
        {
            var probe = PatchMail.Parse(texts[i], "x");
            var slug = new string(probe.Summary.Select(c =>
                char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
            var file = Path.Combine(splitDir, $"{i:D4}-{(slug.Length > 40 ? slug[..40] : slug)}.patch");
            File.WriteAllText(file, texts[i]);
            split.Add(PatchMail.Parse(texts[i], file));
        }
        return FromMails(path, split);
    }

    static ReviewSeries FromMails(string source, IEnumerable<PatchMail> mails)
    {
        var all = mails.ToList();
        var patches = all.Where(m => !m.IsCover).ToList();
        if (patches.Count == 0) throw new ToolkitException(
            ExitCodes.Usage, $"{source}: holds no patch (only cover letters)");
        return new ReviewSeries { Source = source, Patches = patches, Covers = all.Where(m => m.IsCover).ToList() };
    }

    static PatchMail Read(string file) => PatchMail.Parse(File.ReadAllText(file), file);
}
