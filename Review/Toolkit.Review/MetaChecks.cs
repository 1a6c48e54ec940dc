using System.Text.RegularExpressions;

namespace Toolkit.Review;

/// <summary>
/// The checks that read only the mails: Signed-off-by, subject prefix, cover letter. Pure functions,
/// so they are unit-tested without a kernel tree.
/// </summary>
public static partial class MetaChecks
{
    // io_uring: ... or io_uring/net: ... (NIPA-style subsystem prefix, lower case, no spaces).
    [GeneratedRegex(@"^io_uring(/[A-Za-z0-9_./-]+)?: \S")]
    private static partial Regex IoUringPrefix();

    /// <summary>
    /// Fail without a Signed-off-by, or when none matches the author (From): the DCO needs the author's own.
    /// A match is by e-mail address (case-insensitive); a matching address under another name is a warning.
    /// </summary>
    public static CheckResult SignedOff(PatchMail p)
    {
        var sobs = p.SignedOffBy;
        if (sobs.Count == 0)
            return CheckResult.Of("signoff", p.Name, Verdict.Fail, "no Signed-off-by: line");
        var byEmail = sobs.Where(s => string.Equals(s.Email, p.FromEmail, StringComparison.OrdinalIgnoreCase)).ToList();
        if (byEmail.Count == 0)
            return CheckResult.Of("signoff", p.Name,
                Verdict.Fail, $"no Signed-off-by from the author {p.FromName} <{p.FromEmail}>",
                sobs.Select(s => $"Signed-off-by: {s.Name} <{s.Email}>"));
        if (!byEmail.Any(s => string.Equals(Norm(s.Name), Norm(p.FromName), StringComparison.OrdinalIgnoreCase)))
            return CheckResult.Of("signoff", p.Name,
                Verdict.Warn, $"the author's Signed-off-by has another name than From ({byEmail[0].Name} vs {p.FromName})");
        return CheckResult.Of("signoff", p.Name, Verdict.Pass, $"signed off by the author <{p.FromEmail}>");
    }

    static string Norm(string s) => Regex.Replace(s, @"\s+", " ").Trim().Trim('"');

    /// <summary>Warn unless the summary starts with "io_uring:" or "io_uring/<area>:" (maintainers fix it up, but ask
    /// for it).</summary>
    public static CheckResult Subject(PatchMail p)
    {
        var s = p.Summary;
        if (IoUringPrefix().IsMatch(s)) return CheckResult.Of("subject", p.Name, Verdict.Pass, s);
        return CheckResult.Of("subject", p.Name,
            Verdict.Warn, $"subject does not start with 'io_uring:' or 'io_uring/<area>:': '{s}'");
    }

    /// <summary>
    /// Series checks: a series of more than one patch needs a cover letter (fail, as NIPA's cover_letter test);
    /// numbered subjects must count 1..N with the same N as there are patches (warn).
    /// </summary>
    public static List<CheckResult> Series(ReviewSeries s)
    {
        // A folder like kernel-patches/6.12/ may hold several series, one per subfolder, each with its own cover
        // letter and numbering (git format-patch output): check each on its own, report the worst per check.
        var groups = s.Patches.GroupBy(p => Path.GetDirectoryName(p.File) ?? "").ToList();
        if (groups.Count <= 1) return SeriesOf(s.Patches, s.Covers);
        var perGroup = groups.Select(g => (Name: Path.GetFileName(g.Key),
            Results: SeriesOf(g.ToList(),
                s.Covers.Where(c => Path.GetDirectoryName(c.File) == g.Key).ToList()))).ToList();
        return perGroup[0].Results.Select(first => CheckResult.Of(first.Check, ReviewReport.SeriesTarget,
            perGroup.Max(g => g.Results.Single(r => r.Check == first.Check).Verdict),
            string.Join("; ",
                perGroup.Select(g => $"{g.Name}: {g.Results.Single(r => r.Check == first.Check).Summary}")),
            perGroup.SelectMany(g => g.Results.Single(r =>
                r.Check == first.Check).Details.Select(d => $"{g.Name}: {d}")))).ToList();
    }

    static List<CheckResult> SeriesOf(IReadOnlyList<PatchMail> patches, IReadOnlyList<PatchMail> covers)
    {
        var s = (Patches: patches, Covers: covers);
        var results = new List<CheckResult>();
        var n = s.Patches.Count;
        if (n > 1 && s.Covers.Count == 0)
            results.Add(CheckResult.Of("cover_letter", ReviewReport.SeriesTarget,
                Verdict.Fail, $"{n} patches and no cover letter ([PATCH 0/{n}])"));
        else if (s.Covers.Count > 1)
            results.Add(CheckResult.Of("cover_letter", ReviewReport.SeriesTarget,
                Verdict.Warn, $"{s.Covers.Count} cover letters", s.Covers.Select(c => c.File)));
        else
            results.Add(CheckResult.Of("cover_letter", ReviewReport.SeriesTarget, Verdict.Pass,
                s.Covers.Count == 1 ? $"cover letter: {s.Covers[0].Summary}" : "single patch, no cover letter needed"));

        var problems = new List<string>();
        for (var i = 0; i < n; i++)
        {
            var num = s.Patches[i].Number;
            if (n == 1 && num == null) continue;
            if (num is not { } x) problems.Add($"{s.Patches[i].Name}: subject not numbered, expected [PATCH {i + 1}/{n}]");
            else if (x.Index != i + 1
                || x.Total != n) problems.Add($"{s.Patches[i].Name}: numbered {x.Index}/{x.Total}, expected {i + 1}/{n}");
        }
        if (s.Covers.Count == 1 && s.Covers[0].Number is { } c && c.Total != n)
            problems.Add($"cover letter announces {c.Total} patches, the series has {n}");
        results.Add(problems.Count == 0
            ? CheckResult.Of("numbering", ReviewReport.SeriesTarget, Verdict.Pass,
                n == 1 ? "single patch" : $"1/{n}..{n}/{n}")
            : CheckResult.Of("numbering", ReviewReport.SeriesTarget, Verdict.Warn,
                "patch numbering does not match the series", problems));
        return results;
    }

    /// <summary>checkpatch --strict output: errors fail; warnings and checks warn (NIPA's grading).</summary>
    public static CheckResult Checkpatch(string patchName, string output, int exitCode, double seconds)
    {
        var findings = new List<string>();
        string? pending = null;
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd();
            // --showfile: "io_uring/nop.c:35: ERROR: text"; without it "ERROR: text" and then "#12: FILE:
            // io_uring/nop.c:35:".
            var shown = Regex.Match(line, @"^(\S+:\d+): (ERROR|WARNING|CHECK): (.*)$");
            if (shown.Success)
            {
                if (pending != null) findings.Add(pending);
                pending = null;
                findings.Add($"{shown.Groups[2].Value}: {shown.Groups[3].Value} ({shown.Groups[1].Value})");
            }
            else if (Regex.IsMatch(line, @"^(ERROR|WARNING|CHECK):"))
            {
                if (pending != null) findings.Add(pending);
                pending = line;
            }
            else if (pending != null && Regex.Match(line, @"^#\d+: FILE: (\S+)") is { Success: true } m)
            {
                findings.Add($"{pending} ({m.Groups[1].Value.TrimEnd(':')})");
                pending = null;
            }
        }
        if (pending != null) findings.Add(pending);
        var errors = findings.Count(f => f.StartsWith("ERROR", StringComparison.Ordinal));
        var warnings = findings.Count - errors;
        var total = Regex.Match(output, @"total: \d+ errors?, \d+ warnings?, (\d+ checks?, )?\d+ lines checked");
        var summary = total.Success ? total.Value : $"{errors} errors, {warnings} warnings/checks";
        if (errors > 0 || (exitCode != 0 && findings.Count == 0))
            return CheckResult.Of("checkpatch", patchName, Verdict.Fail, summary,
                findings.Count > 0 ? findings : [Infra.Proc.Tail(output, 10)], seconds);
        return CheckResult.Of("checkpatch", patchName, warnings > 0 ? Verdict.Warn : Verdict.Pass, summary, findings,
            seconds);
    }
}
