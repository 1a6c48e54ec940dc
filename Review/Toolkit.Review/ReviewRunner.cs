using System.Diagnostics;
using System.Text.RegularExpressions;
using Toolkit.Infra;
using Toolkit.Kernel;

namespace Toolkit.Review;

public sealed class ReviewOptions
{
    /// <summary>Series folder, mbox or folder of .patch files; null for the base's kernel-patches/BASE/.</summary>
    public string? Series { get; init; }
    /// <summary>The kernel base the series is reviewed against.</summary>
    public KernelBase Base { get; init; } = KernelBase.Default;
    public int Jobs { get; init; } = Environment.ProcessorCount;
    /// <summary>Checks to run (names from <see cref="ReviewRunner.AllChecks"/>); null for all.</summary>
    public IReadOnlySet<string>? Only { get; init; }
    /// <summary>How many objects that include a touched header get the W=1 / sparse treatment.</summary>
    public int HeaderObjects { get; init; } = 4;
    public required string RunDir { get; init; }

    public bool Runs(string check) => Only == null || Only.Contains(check);
}

/// <summary>
/// `toolkit review`: NIPA-style per-patch checks of a kernel patch series against a base's Debian source.
/// Patches are applied one by one with git am to review's own work tree of the unpacked source
/// (cache/review/src/...), and built after each in review's own build directory, configured like the
/// baseline flavour. Before and after each patch the objects it touches are compiled with W=1 and run
/// through sparse, its files through kernel-doc, and its UAPI headers through a layout probe; only
/// what the patch adds is reported.
/// </summary>
public static partial class ReviewRunner
{
    public static readonly string[] AllChecks =
        ["cover_letter", "numbering", "signoff", "subject", "checkpatch", "apply", "apply_6.1", "build", "build_w1",
            "sparse", "kdoc", "uapi"];
    static readonly string[] TreeChecks = ["apply", "build", "build_w1", "sparse", "kdoc", "uapi"];
    static readonly string[] BuildChecks = ["build", "build_w1", "sparse", "uapi"];
    /// <summary>The older stable the informational apply_6.1 check tries (for every base).</summary>
    const string OldSeries = "6.1";

    /// <summary>Review's private cache: never the flavours' trees, which other toolkit processes build from.</summary>
    public static string Root => Path.Combine(Paths.CacheRoot, "review");
    // The build dir sits inside the tree under the baseline flavour's name (KernelBase.BuildDir) and is configured
    // identically (down to LOCALVERSION): ccache then serves review's builds from the objects the flavour builds
    // already compiled.
    public static string TreeOf(KernelBase b) => Path.Combine(Root, "src", $"linux-source-{b.Name}");
    public static string OutDirOf(KernelBase b) => Path.Combine(TreeOf(b), KernelBase.BuildDirName(Flavour.Baseline));
    /// <summary>The base of the review running in this process (one per process: `review` runs one series, and
    /// review's tree lock serialises reviews across processes).</summary>
    static KernelBase reviewing = KernelBase.Default;
    static string Tree => TreeOf(reviewing);
    static string OutDir => OutDirOf(reviewing);
    const string CC = "CC=ccache gcc"; // always the same, or kbuild sees a changed command line and recompiles

    [GeneratedRegex(@"patch failed: (\S+):(\d+)")]
    private static partial Regex PatchFailed();

    public static ReviewReport Run(ReviewOptions o)
    {
        var sw = Stopwatch.StartNew();
        reviewing = o.Base;
        var series = ReviewSeries.Load(o.Series, o.Base, Path.Combine(o.RunDir, "patches"));
        var results = new List<CheckResult>();
        Progress.Step($"reviewing {series.Patches.Count} patch(es) from {series.Source}");

        results.AddRange(MetaCheckResults(o, series));
        var src = KernelSource.Locate(o.Base);
        src.EnsureUnpackedLocked();
        if (o.Runs("apply_6.1")) results.AddRange(ApplyOld(series));
        if (o.Runs("checkpatch") || TreeChecks.Any(o.Runs)) ReviewOnTree(o, series, src, results);

        return new ReviewReport(series.Source, Tree, $"{src.PackageName} {src.PackageVersion}",
            series.Patches.Select(p => p.Name).ToList(), Order(results), sw.Elapsed.TotalSeconds)
        { Base = o.Base.Name };
    }

    /// <summary>The checks of the mails alone: the series' (cover letter, numbering), then each patch's.</summary>
    static List<CheckResult> MetaCheckResults(ReviewOptions o, ReviewSeries series)
    {
        var results = MetaChecks.Series(series).Where(r => o.Runs(r.Check)).ToList();
        foreach (var p in series.Patches)
        {
            if (o.Runs("signoff")) results.Add(MetaChecks.SignedOff(p));
            if (o.Runs("subject")) results.Add(MetaChecks.Subject(p));
        }
        return results;
    }

    /// <summary>
    /// What every tree check of one run needs: the options, the base source, review.log, the build env.
    /// </summary>
    sealed record TreeSession(ReviewOptions Options, KernelSource Src, string Log, Dictionary<string, string?> Env,
        bool Build)
    {
        public bool Runs(string check) => Options.Runs(check);
    }

    /// <summary>
    /// The checks that need review's kernel tree: checkpatch (its script), then the per-patch tree checks.
    /// </summary>
    static void ReviewOnTree(ReviewOptions o, ReviewSeries series, KernelSource src, List<CheckResult> results)
    {
        using var treeLock = FileLock.Acquire(Path.Combine(Root, ".tree.lock"), "review's kernel tree");
        var log = Path.Combine(o.RunDir, "review.log");
        PrepareTree(src, log);

        if (o.Runs("checkpatch"))
            foreach (var p in series.Patches) results.Add(Checkpatch(p, o.RunDir));
        if (!TreeChecks.Any(o.Runs)) return;

        var session = new TreeSession(o, src, log, KernelBuild.BuildEnv(), BuildChecks.Any(o.Runs));
        if (session.Build) BuildBase(session);
        var brokenAt = new List<string>();
        for (var i = 0; i < series.Patches.Count; i++)
        {
            var p = series.Patches[i];
            Progress.Step($"[{i + 1}/{series.Patches.Count}] {p.Summary}");
            if (ReviewPatch(session, i, p, brokenAt, results)) continue;
            foreach (var later in series.Patches.Skip(i + 1))
                foreach (var c in TreeChecks.Where(o.Runs))
                    results.Add(CheckResult.Of(c, later.Name, Verdict.Skip, "an earlier patch did not apply"));
            break;
        }
    }

    /// <summary>Configures and builds the unpatched tree; a base that does not build stops the review.</summary>
    static void BuildBase(TreeSession s)
    {
        Directory.CreateDirectory(OutDir);
        KernelBuild.Configure(s.Src.Base, Tree, OutDir, Flavour.Baseline, s.Log);
        var t0 = Stopwatch.StartNew();
        var baseBuild = MakeImage(s.Env, s.Log, s.Options.Jobs, "base");
        if (baseBuild.ExitCode != 0)
            throw new ToolkitException(Proc.DiskFullOr(ExitCodes.BuildFailed, baseBuild.Output),
                $"the unpatched {s.Src.PackageName} {s.Src.PackageVersion} does not build in {OutDir}; log: {s.Log}\n"
                + Proc.Tail(baseBuild.Output, 15));
        Progress.Step($"base tree built in {t0.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary>
    /// One patch's tree checks: findings before it, git am, the build, findings after it. False when it does
    /// not apply (the later patches are then skipped).
    /// </summary>
    static bool ReviewPatch(TreeSession s, int index, PatchMail p, List<string> brokenAt, List<CheckResult> results)
    {
        var objs = s.Build ? ObjectsFor(p, s.Options.HeaderObjects) : new Objects([], []);
        var uapiHeaders = p.Files.Where(Uapi.IsUapi).ToList();
        var timer = new CheckTimer();
        var before = FindingsBefore(s, p, objs, uapiHeaders, timer);
        if (!Apply(s, index, p, results)) return false;
        var builtOk = !s.Build || Build(s, p, brokenAt, results);

        // sparse before W=1, as before the patch: the objects are then still built with the normal flags.
        if (s.Runs("sparse"))
            results.Add(ObjectCheck("sparse", "sparse warnings", p, objs, builtOk, before.Sparse,
                () => timer.Time("sparse", () => Sparse(objs.Targets, s.Env, s.Log))));
        if (s.Runs("build_w1"))
            results.Add(ObjectCheck("build_w1", "W=1 warnings", p, objs, builtOk, before.W1,
                () => timer.Time("build_w1", () => W1(objs.Targets, s.Env, s.Log))));
        if (s.Runs("kdoc")) results.Add(KdocCheck(s, p, before.Kdoc, timer));
        if (s.Runs("uapi")) results.Add(UapiCheck(s, p, uapiHeaders, builtOk, before.Uapi, timer));
        timer.SetSecondsOf(p.Name, results);
        return true;
    }

    sealed record FindingsBeforePatch(List<Diagnostic> Kdoc, List<Diagnostic> Sparse, List<Diagnostic> W1,
        Dictionary<string, UapiSnapshot>? Uapi);

    /// <summary>Before the patch: what the touched files already produce, so only new findings count.</summary>
    static FindingsBeforePatch FindingsBefore(TreeSession s, PatchMail p, Objects objs, List<string> uapiHeaders,
        CheckTimer timer)
    {
        var compiled = objs.Targets.Count > 0;
        var kdoc = s.Runs("kdoc") ? timer.Time("kdoc", () => KernelDoc(p.Files, s.Log)) : [];
        var sparse = s.Runs("sparse") && compiled ? timer.Time("sparse", () => Sparse(objs.Targets, s.Env, s.Log)) : [];
        var w1 = s.Runs("build_w1") && compiled ? timer.Time("build_w1", () => W1(objs.Targets, s.Env, s.Log)) : [];
        var uapi = s.Runs("uapi") && uapiHeaders.Count > 0
            ? timer.Time("uapi", () => UapiSnapshots(uapiHeaders, s.Env, s.Log, s.Options.RunDir))
            : null;
        return new FindingsBeforePatch(kdoc, sparse, w1, uapi);
    }

    /// <summary>git am of one patch. One that does not apply fails "apply" and skips its other tree checks.</summary>
    static bool Apply(TreeSession s, int index, PatchMail p, List<CheckResult> results)
    {
        var ta = Stopwatch.StartNew();
        if (!KernelSource.GitAm(Tree, p.File, s.Log))
        {
            results.Add(ApplyFailure(p, s.Src, ta.Elapsed.TotalSeconds));
            foreach (var c in TreeChecks.Where(c => c != "apply" && s.Runs(c)))
                results.Add(CheckResult.Of(c, p.Name, Verdict.Skip, "the patch does not apply"));
            return false;
        }
        if (s.Runs("apply"))
            results.Add(CheckResult.Of("apply", p.Name, Verdict.Pass,
                $"git am on {s.Src.PackageName} {s.Src.PackageVersion}"
                + (index > 0 ? $" + {index} earlier patch(es)" : ""),
                seconds: ta.Elapsed.TotalSeconds));
        return true;
    }

    /// <summary>
    /// Builds bzImage after the patch. "build" fails when it does not build (the series is not bisectable)
    /// and says so when a series broken by an earlier patch builds again.
    /// </summary>
    static bool Build(TreeSession s, PatchMail p, List<string> brokenAt, List<CheckResult> results)
    {
        var tb = Stopwatch.StartNew();
        var r = MakeImage(s.Env, s.Log, s.Options.Jobs, p.Name);
        var builtOk = r.ExitCode == 0;
        if (!builtOk && Proc.DiskFullOr(0, r.Output) == ExitCodes.DiskFull)
            throw new ToolkitException(ExitCodes.DiskFull, $"the disk filled up building after {p.Name}; log: {s.Log}");
        if (s.Runs("build"))
        {
            if (builtOk)
                results.Add(CheckResult.Of("build", p.Name, Verdict.Pass,
                    brokenAt.Count == 0 ? "bzImage builds" : $"bzImage builds again (broken since {brokenAt[0]})",
                    seconds: tb.Elapsed.TotalSeconds));
            else
            {
                brokenAt.Add(p.Name);
                var errors = ReviewFindings.Parse(r.Output, Tree, cwd: OutDir).Where(d => d.Kind != "warning")
                    .Select(d => d.ToString()).Distinct().ToList();
                results.Add(CheckResult.Of("build", p.Name, Verdict.Fail,
                    "the kernel does not build after this patch (series not bisectable)",
                    errors.Count > 0 ? errors : [Proc.Tail(r.Output, 10)], tb.Elapsed.TotalSeconds));
            }
        }
        if (builtOk) brokenAt.Clear();
        return builtOk;
    }

    /// <summary>sparse or W=1 on the patch's objects: only findings the patch adds count.</summary>
    static CheckResult ObjectCheck(string check, string what, PatchMail p, Objects objs, bool builtOk,
        List<Diagnostic> before, Func<List<Diagnostic>> after)
        => objs.Targets.Count == 0
            ? CheckResult.Of(check, p.Name, Verdict.Pass, "no compiled object touched" + NotBuilt(objs))
            : !builtOk ? CheckResult.Of(check, p.Name, Verdict.Skip, "the build failed")
            : Compare(check, p.Name, before, after(), what, objs);

    static CheckResult KdocCheck(TreeSession s, PatchMail p, List<Diagnostic> before, CheckTimer timer)
    {
        var files = p.Files.Where(f => f.EndsWith(".c") || f.EndsWith(".h")).ToList();
        return files.Count == 0
            ? CheckResult.Of("kdoc", p.Name, Verdict.Pass, "no C file touched")
            : Compare("kdoc", p.Name, before, timer.Time("kdoc", () => KernelDoc(p.Files, s.Log)),
                "kernel-doc warnings", null);
    }

    static CheckResult UapiCheck(TreeSession s, PatchMail p, List<string> headers, bool builtOk,
        Dictionary<string, UapiSnapshot>? before, CheckTimer timer)
        => headers.Count == 0 ? CheckResult.Of("uapi", p.Name, Verdict.Pass, "no UAPI header touched")
            : !builtOk ? CheckResult.Of("uapi", p.Name, Verdict.Skip, "the build failed")
            : UapiResult(p.Name, headers, before!,
                timer.Time("uapi", () => UapiSnapshots(headers, s.Env, s.Log, s.Options.RunDir)));

    /// <summary>
    /// Time spent per check, before and after the patch together: the report says where a review's time goes.
    /// </summary>
    sealed class CheckTimer
    {
        readonly Dictionary<string, double> _spent = [];

        public T Time<T>(string check, Func<T> f)
        {
            var t = Stopwatch.StartNew();
            try { return f(); }
            finally { _spent[check] = _spent.GetValueOrDefault(check) + t.Elapsed.TotalSeconds; }
        }

        /// <summary>The patch's timed results report the time measured here instead of their own.</summary>
        public void SetSecondsOf(string patch, List<CheckResult> results)
        {
            for (var j = 0; j < results.Count; j++)
                if (results[j].Target == patch && _spent.TryGetValue(results[j].Check, out var secs))
                    results[j] = results[j] with { Seconds = Math.Round(secs, 2) };
        }
    }

    /// <summary>Series results first, then patches in order, checks in <see cref="AllChecks"/> order.</summary>
    static List<CheckResult> Order(List<CheckResult> results)
    {
        var targets = results.Select(r => r.Target).Distinct().OrderBy(t =>
            t == ReviewReport.SeriesTarget ? 0 : 1).ToList();
        return results.OrderBy(r => targets.IndexOf(r.Target)).ThenBy(r => Array.IndexOf(AllChecks, r.Check)).ToList();
    }

    /// <summary>Review's own detached work tree of the base repository, reset to the pristine source.</summary>
    static void PrepareTree(KernelSource src, string log)
    {
        // A tree whose repository was re-unpacked (new Debian version) no longer resolves `base`: made anew.
        if (!File.Exists(Path.Combine(Tree, ".git")) || Proc.Run("git", ["-C", Tree, "rev-parse", "-q", "--verify",
            "base^{commit}"]).ExitCode != 0)
        {
            if (Directory.Exists(Tree)) Directory.Delete(Tree, true);
            Proc.Run("git", ["-C", src.BaseTree, "worktree", "prune"], logFile: log);
            Progress.Step($"creating review's work tree {Tree}");
            Directory.CreateDirectory(Path.GetDirectoryName(Tree)!);
            KernelSource.Git(src.BaseTree, log, "worktree", "add", "-q", "-f", "--detach", Tree, "base");
            return;
        }
        Proc.Run("git", ["-C", Tree, "am", "--abort"], logFile: log);
        // checkout rewrites only the files that differ, so the next build stays incremental.
        KernelSource.Git(Tree, log, "checkout", "-q", "-f", "--detach", "base");
        KernelSource.Git(Tree, log, "clean", "-q", "-f", "-d");
    }

    static ProcResult MakeImage(Dictionary<string, string?> env, string log, int jobs, string what)
    {
        var files = 0;
        return Proc.Run("make", ["-C", Tree, $"O={OutDir}", $"-j{jobs}", CC, "bzImage"], logFile: log, env: env,
            onLine: line =>
        {
            var t = line.TrimStart();
            if (t.StartsWith("CC ", StringComparison.Ordinal) || t.StartsWith("LD ", StringComparison.Ordinal))
                Progress.Detail($"  {what} [{++files}] {t}");
        });
    }

    /// <summary>Objects to check for a patch: its .c files' objects, plus a few objects that include its
    /// headers.</summary>
    public sealed record Objects(IReadOnlyList<string> Targets, IReadOnlyList<string> NotBuilt);

    static Objects ObjectsFor(PatchMail p, int headerObjects)
    {
        var targets = new List<string>();
        var notBuilt = new List<string>();
        foreach (var f in p.Files.Where(f => f.EndsWith(".c", StringComparison.Ordinal)))
        {
            var obj = f[..^2] + ".o";
            // A .c file added by this patch has no object yet: take it if its directory is built at all.
            if (File.Exists(Path.Combine(OutDir, obj)) || (!File.Exists(Path.Combine(Tree,
                f)) && Directory.Exists(Path.Combine(OutDir, Path.GetDirectoryName(f)!))))
                targets.Add(obj);
            else notBuilt.Add(f);
        }
        var headers = p.Files.Where(f => f.EndsWith(".h", StringComparison.Ordinal)).ToList();
        if (headers.Count > 0 && headerObjects > 0)
        {
            var dirs = p.Files.Select(f => Path.GetDirectoryName(f) ?? "").ToHashSet();
            var dependents = new List<string>();
            foreach (var cmd in Directory.EnumerateFiles(OutDir, "*.o.cmd", SearchOption.AllDirectories))
            {
                var text = File.ReadAllText(cmd);
                if (!headers.Any(h => text.Contains("/" + h + " ",
                    StringComparison.Ordinal) || text.Contains("/" + h + "\n", StringComparison.Ordinal))) continue;
                var rel = Path.GetRelativePath(OutDir, cmd);
                var obj = Path.Combine(Path.GetDirectoryName(rel)!,
                    Path.GetFileName(rel)[1..^4]); // ".x.o.cmd" -> "x.o"
                if (File.Exists(Path.Combine(Tree, obj[..^2] + ".c"))) dependents.Add(obj);
            }
            // Prefer objects in the directories the patch works in; then by name, for a stable choice.
            targets.AddRange(dependents.Except(targets).OrderBy(d => dirs.Contains(Path.GetDirectoryName(d)
                ?? "") ? 0 : 1)
                .ThenBy(d => d, StringComparer.Ordinal).Take(headerObjects));
        }
        return new Objects(targets, notBuilt);
    }

    static string NotBuilt(Objects o) =>
        o.NotBuilt.Count == 0 ? "" : $" ({string.Join(", ", o.NotBuilt)} not built in this config)";

    /// <summary>Objects whose source is in the tree now: a .c file the patch adds has no "before".</summary>
    static string[] Present(IReadOnlyList<string> objs) => objs.Where(o => File.Exists(Path.Combine(Tree,
        o[..^2] + ".c"))).ToArray();

    static List<Diagnostic> W1(IReadOnlyList<string> objs, Dictionary<string, string?> env, string log)
    {
        var present = Present(objs);
        if (present.Length == 0) return [];
        // W=1 changes the objects' command lines: kbuild recompiles exactly them (ccache makes repeats cheap).
        // -k: one object that fails must not hide the others' warnings.
        var r = Proc.Run("make", ["-C", Tree, $"O={OutDir}", CC, "-k", "W=1", .. present], logFile: log, env: env);
        return ReviewFindings.Parse(r.Output, Tree, withColumnOnly: true, cwd: OutDir);
    }

    static List<Diagnostic> Sparse(IReadOnlyList<string> objs, Dictionary<string, string?> env, string log)
    {
        var present = Present(objs);
        if (present.Length == 0) return [];
        // C=2 runs sparse on the named objects' sources whether or not they need recompiling; an object last
        // built with W=1 would be recompiled in the same run, and gcc's stderr and make's stdout interleave
        // unpredictably. So the objects are first brought back to the normal flags (ccache hits), and gcc's
        // own messages, which always end in their [-Wflag], are left out of what remains.
        Proc.Run("make", ["-C", Tree, $"O={OutDir}", CC, "-k", .. present], logFile: log, env: env);
        var r = Proc.Run("make", ["-C", Tree, $"O={OutDir}", CC, "-k", "C=2", .. present], logFile: log, env: env);
        return SparseFindings(r.Output);
    }

    /// <summary>The sparse diagnostics in a `make C=2` run's output: gcc's (ending in "[-Wflag]") are not
    /// sparse's.</summary>
    public static List<Diagnostic> SparseFindings(string makeOutput) =>
        ReviewFindings.Parse(makeOutput, Tree, cwd: OutDir).Where(d => !GccFlag().IsMatch(d.Text)).ToList();

    [GeneratedRegex(@"\[-W[^\]]*\]$")]
    private static partial Regex GccFlag();

    static List<Diagnostic> KernelDoc(IReadOnlyList<string> files, string log)
    {
        var present = files.Where(f => (f.EndsWith(".c") || f.EndsWith(".h")) && File.Exists(Path.Combine(Tree,
            f))).ToList();
        if (present.Count == 0) return [];
        var r = Proc.Run("perl", [Path.Combine(Tree, "scripts", "kernel-doc"), "-none", "-Wall", .. present],
            workDir: Tree, logFile: log);
        return ReviewFindings.Parse(r.Output, Tree, cwd: Tree);
    }

    static CheckResult Compare(string check, string patch, List<Diagnostic> before, List<Diagnostic> after,
        string what, Objects? objs)
    {
        var added = ReviewFindings.Added(before, after);
        var scope = objs == null ? "" : $" in {string.Join(", ", objs.Targets)}";
        if (added.Count == 0) return CheckResult.Of(check, patch,
            Verdict.Pass, $"no new {what}{scope} (before: {before.Count}, after: {after.Count})");
        var errors = added.Any(d => d.Kind.Contains("error"));
        return CheckResult.Of(check, patch, errors ? Verdict.Fail : Verdict.Warn, $"{added.Count} new {what}{scope}",
            added.Select(d => d.ToString()));
    }

    static CheckResult Checkpatch(PatchMail p, string runDir)
    {
        // From a directory outside any git repository and with an absolute path: checkpatch treats a path
        // that `git ls-files` knows as a source file, not a patch. --root points it at the kernel tree.
        var scratch = Path.Combine(Root, "scratch");
        Directory.CreateDirectory(scratch);
        var sw = Stopwatch.StartNew();
        var r = Proc.Run("perl", [Path.Combine(Tree, "scripts", "checkpatch.pl"), "--strict", "--no-color",
            "--showfile",
            $"--root={Tree}", Path.GetFullPath(p.File)], workDir: scratch, logFile: Path.Combine(runDir,
                "checkpatch.log"),
            env: new Dictionary<string, string?> { ["GIT_DIR"] = null });
        return MetaChecks.Checkpatch(p.Name, r.Output, r.ExitCode, sw.Elapsed.TotalSeconds);
    }

    static CheckResult ApplyFailure(PatchMail p, KernelSource src, double seconds)
    {
        var detail = Proc.Run("git", ["-C", Tree, "apply", "--check", "-v", p.File]).Output;
        var lines = detail.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        var hunk = FailedHunk(p, detail);
        return CheckResult.Of("apply", p.Name,
            Verdict.Fail, $"does not apply to {src.PackageName} {src.PackageVersion}" + (hunk != null
                ? $": {hunk}" : ""),
            lines.Count > 0 ? lines : [Proc.Tail(detail, 10)], seconds);
    }

    /// <summary>"io_uring/nop.c @@ -20,7 +20,8 @@" for git apply's "patch failed: io_uring/nop.c:20".</summary>
    public static string? FailedHunk(PatchMail p, string applyOutput)
    {
        var m = PatchFailed().Match(applyOutput);
        if (!m.Success) return null;
        var file = m.Groups[1].Value;
        var line = m.Groups[2].Value;
        string? current = null;
        foreach (var l in p.Diff.Split('\n'))
        {
            if (l.StartsWith("diff --git ", StringComparison.Ordinal)) current = l.Split(" b/").Last();
            else if (current == file && l.StartsWith($"@@ -{line},",
                StringComparison.Ordinal) || current == file && l.StartsWith($"@@ -{line} ", StringComparison.Ordinal))
                return $"{file} hunk {l.Split(" @@")[0]} @@";
        }
        return $"{file}:{line}";
    }

    /// <summary>
    /// Informational: whether the series would also apply to Debian's linux-source-6.1 (the previous
    /// stable, for backports). Applied cumulatively into a temporary index: no work tree is checked out.
    /// </summary>
    static List<CheckResult> ApplyOld(ReviewSeries series)
    {
        KernelSource old;
        try { old = KernelSource.Locate(KernelBase.InstalledOnly(OldSeries)); }
        catch (ToolkitException e) when (e.ExitCode == ExitCodes.MissingDependency)
        {
            return series.Patches.Select(p => CheckResult.Of("apply_6.1", p.Name,
                Verdict.Skip, $"linux-source-{OldSeries} is not installed (scripts/install-deps)")).ToList();
        }
        old.EnsureUnpackedLocked();
        var index = Path.Combine(Root, $"index-{OldSeries}-{Environment.ProcessId}");
        Directory.CreateDirectory(Root);
        var env = new Dictionary<string, string?> { ["GIT_INDEX_FILE"] = index };
        var results = new List<CheckResult>();
        try
        {
            Proc.Check("git", ["-C", old.BaseTree, "read-tree", "base"], ExitCodes.MissingDependency,
                "git read-tree (6.1)", env: env);
            var ok = true;
            foreach (var p in series.Patches)
            {
                if (!ok)
                {
                    results.Add(CheckResult.Of("apply_6.1", p.Name, Verdict.Info,
                    "not tried: an earlier patch does not apply to 6.1")); continue;
                }
                var r = Proc.Run("git", ["-C", old.BaseTree, "apply", "--cached", "-v", Path.GetFullPath(p.File)],
                    env: env);
                ok = r.ExitCode == 0;
                var hunk = ok ? null : FailedHunk(p, r.Output);
                results.Add(CheckResult.Of("apply_6.1", p.Name, Verdict.Info,
                    ok ? $"applies to {old.PackageName} {old.PackageVersion}" : $"does not apply to {old.PackageName} {old.PackageVersion}" + (hunk != null ? $": {hunk}" : ""),
                    ok ? null : r.Output.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal))));
            }
        }
        finally { File.Delete(index); }
        return results;
    }

    static Dictionary<string, UapiSnapshot> UapiSnapshots(IReadOnlyList<string> headers, Dictionary<string,
        string?> env, string log, string runDir)
    {
        // `make headers` installs the tree's UAPI headers as userspace sees them (incrementally) into O=/usr/include.
        var r = Proc.Run("make", ["-C", Tree, $"O={OutDir}", CC, "headers"], logFile: log, env: env);
        var result = new Dictionary<string, UapiSnapshot>();
        foreach (var h in headers)
        {
            var name = Uapi.IncludeName(h);
            if (name == null)
            {
                result[h] = UapiSnapshot.Empty with
                {
                    Error =
                "not an x86 UAPI header: compare by hand"
                }; continue;
            }
            result[h] = r.ExitCode != 0
                ? UapiSnapshot.Empty with { Error = "make headers failed: " + Proc.Tail(r.Output, 5) }
                : Uapi.Probe(Path.Combine(OutDir, "usr", "include"), name, Path.Combine(runDir, "uapi"), log);
        }
        return result;
    }

    static CheckResult UapiResult(string patch, IReadOnlyList<string> headers, Dictionary<string,
        UapiSnapshot> before, Dictionary<string, UapiSnapshot> after)
    {
        var breaking = new List<string>();
        var changes = new List<string>();
        var errors = new List<string>();
        foreach (var h in headers)
        {
            if (after[h].Error is { } e) { errors.Add($"{h}: {e}"); continue; }
            var (b, c) = Uapi.Compare(before[h], after[h], h);
            breaking.AddRange(b);
            changes.AddRange(c);
        }
        if (breaking.Count > 0)
            return CheckResult.Of("uapi", patch,
                Verdict.Fail, $"UAPI break in {string.Join(", ", headers)}: existing layout or values changed",
                    breaking.Concat(changes).Concat(errors));
        return CheckResult.Of("uapi", patch, Verdict.Warn,
            $"UAPI change in {string.Join(", ", headers)} (flagged for extra review; existing offsets and values " +
                $"unchanged)",
            changes.Concat(errors).DefaultIfEmpty("no change visible to the probe (comments or formatting only)"));
    }
}
