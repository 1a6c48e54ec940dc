using System.Text.RegularExpressions;
using Toolkit.Infra;

namespace Toolkit.Review;

/// <summary>What a UAPI header defines, as the compiler sees it: record layouts, macro definitions, enumerator
/// values.</summary>
public sealed record UapiSnapshot(
    IReadOnlyDictionary<string, RecordLayout> Records,
    IReadOnlyDictionary<string, string> Macros,
    IReadOnlyDictionary<string, long> Enumerators,
    string? Error)
{
    public static readonly UapiSnapshot Empty = new(new Dictionary<string, RecordLayout>(), new Dictionary<string,
        string>(), new Dictionary<string, long>(), null);
}

/// <summary>A struct/union as clang lays it out: size and every member path with its offset.</summary>
public sealed record RecordLayout(string Name, long Size,
    IReadOnlyList<(string Path, string Member, long Offset)> Members);

/// <summary>
/// UAPI review: a header under include/uapi is compiled before and after a patch, from the tree's
/// own `make headers` output (the form userspace gets), and the two snapshots are compared. An
/// existing member that moves, a record that changes size, an existing constant or enumerator whose
/// value changes or that disappears is a failure; additions and renames are flagged for review.
/// </summary>
public static partial class Uapi
{
    [GeneratedRegex(@"\b(struct|union)\s+([A-Za-z_]\w*)\s*\{")]
    private static partial Regex RecordDef();
    [GeneratedRegex(@"\benum\s*[A-Za-z_]*\w*\s*\{([^}]*)\}")]
    private static partial Regex EnumBody();
    [GeneratedRegex(@"^\s*#\s*define\s+(?>([A-Za-z_]\w*))(?!\()\s*(.*)$",
        RegexOptions.Multiline)] // atomic: no backtracking into a function-like name
    private static partial Regex ObjectMacro();
    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex BlockComment();
    [GeneratedRegex(@"^\s*(\d+)(?::[\d-]+)?\s*\|(\s*)(.*)$")]
    private static partial Regex LayoutLine();
    [GeneratedRegex(@"\((?:anonymous|unnamed) at [^)]*\)")]
    private static partial Regex AnonymousAt();

    /// <summary>"linux/io_uring.h" for include/uapi/linux/io_uring.h; null for headers userspace on x86 never
    /// sees.</summary>
    public static string? IncludeName(string repoPath) =>
        repoPath.StartsWith("include/uapi/", StringComparison.Ordinal) ? repoPath["include/uapi/".Length..]
        : repoPath.StartsWith("arch/x86/include/uapi/",
            StringComparison.Ordinal) ? repoPath["arch/x86/include/uapi/".Length..]
        : null;

    public static bool IsUapi(string repoPath) => repoPath.StartsWith("include/uapi/", StringComparison.Ordinal) ||
        (repoPath.StartsWith("arch/", StringComparison.Ordinal) && repoPath.Contains("/include/uapi/",
            StringComparison.Ordinal));

    /// <summary>Names the header itself declares (so types pulled in from other headers are left out).</summary>
    public static (List<string> Records, List<string> Enumerators, List<string> Macros) Declared(string headerText)
    {
        var text = BlockComment().Replace(headerText, " ");
        var records = RecordDef().Matches(text).Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}").Distinct()
            .ToList();
        var enumerators = EnumBody().Matches(text).SelectMany(m => m.Groups[1].Value.Split(','))
            .Select(e => Regex.Match(e,
                @"^\s*([A-Za-z_]\w*)")).Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct().ToList();
        var macros = ObjectMacro().Matches(text).Select(m => m.Groups[1].Value)
            .Where(n => !n.StartsWith("_UAPI", StringComparison.Ordinal) && !n.EndsWith("_H",
                StringComparison.Ordinal)).Distinct().ToList();
        return (records, enumerators, macros);
    }

    /// <summary>
    /// Compiles a probe against the installed headers in <paramref name="usrInclude"/> (the build's usr/include).
    /// </summary>
    public static UapiSnapshot Probe(string usrInclude, string includeName, string workDir, string log)
    {
        var header = Path.Combine(usrInclude, includeName);
        if (!File.Exists(header)) return UapiSnapshot.Empty;
        Directory.CreateDirectory(workDir);
        var (records, enumerators, macros) = Declared(File.ReadAllText(header));
        var probe = Path.Combine(workDir, "uapi-probe.c");
        var lines = new List<string> { $"#include <{includeName}>", "#include <stdio.h>", "int main(void)", "{" };
        // sizeof makes clang lay every record out, so -fdump-record-layouts prints it.
        lines.AddRange(records.Select(r => $"\tprintf(\"S {r} %zu\\n\", sizeof({r}));"));
        lines.AddRange(enumerators.Select(e => $"\tprintf(\"E {e} %lld\\n\", (long long)({e}));"));
        lines.AddRange(["\treturn 0;", "}"]);
        File.WriteAllLines(probe, lines);

        var layouts = new Dictionary<string, RecordLayout>();
        // Code generation, not -fsyntax-only: clang 14 dumps only the layouts sema needed unless it emits code.
        var dump = Proc.Run("clang", ["-c", "-o", "/dev/null", "-w", "-Xclang", "-fdump-record-layouts", "-I",
            usrInclude, probe], logFile: log);
        if (dump.ExitCode != 0) return UapiSnapshot.Empty with
        {
            Error = "clang could not compile the UAPI probe: "
            + Proc.Tail(dump.Output, 5)
        };
        foreach (var l in ParseLayouts(dump.Output).Where(l => records.Contains(l.Name))) layouts[l.Name] = l;

        var values = new Dictionary<string, long>();
        var exe = Path.Combine(workDir, "uapi-probe");
        var cc = Proc.Run("gcc", ["-w", "-I", usrInclude, probe, "-o", exe], logFile: log);
        if (cc.ExitCode != 0) return new UapiSnapshot(layouts, new Dictionary<string, string>(), values,
            "gcc could not build the UAPI probe: " + Proc.Tail(cc.Output, 5));
        var run = Proc.Run(exe, [], logFile: log);
        foreach (var line in run.Output.Split('\n'))
        {
            var p = line.Split(' ');
            if (p.Length == 3 && p[0] == "E" && long.TryParse(p[2], out var v)) values[p[1]] = v;
        }

        var defs = new Dictionary<string, string>();
        var dm = Proc.Run("gcc", ["-E", "-dM", "-I", usrInclude, "-include", includeName, "-x", "c", "/dev/null"],
            logFile: log);
        foreach (Match m in ObjectMacro().Matches(dm.Output))
            if (macros.Contains(m.Groups[1].Value))
                defs[m.Groups[1].Value] = Regex.Replace(m.Groups[2].Value.Trim(), @"\s+", " ");
        return new UapiSnapshot(layouts, defs, values, null);
    }

    /// <summary>Parses clang's -fdump-record-layouts output. Member paths name their enclosing members; anonymous ones
    /// by position.</summary>
    public static List<RecordLayout> ParseLayouts(string dump)
    {
        var result = new List<RecordLayout>();
        foreach (var block in dump.Split("*** Dumping AST Record Layout").Skip(1))
        {
            string? name = null;
            long size = -1;
            var members = new List<(string, string, long)>();
            var stack = new List<(int Indent, string Name)>();
            var seen = new Dictionary<string, int>();
            foreach (var raw in block.Split('\n'))
            {
                var sz = Regex.Match(raw, @"\[sizeof=(\d+)");
                if (sz.Success && size < 0) { size = long.Parse(sz.Groups[1].Value); continue; }
                var m = LayoutLine().Match(raw);
                if (!m.Success) continue;
                var indent = m.Groups[2].Value.Length;
                var text = AnonymousAt().Replace(m.Groups[3].Value.Trim(), "(anonymous)");
                if (name == null) { name = text; continue; }
                while (stack.Count > 0 && stack[^1].Indent >= indent) stack.RemoveAt(stack.Count - 1);
                // "union x::(anonymous)" has no member name; "union x::(anonymous) u" is member u.
                var member = text.EndsWith("(anonymous)",
                    StringComparison.Ordinal) ? "(anonymous)" : text.Split(' ')[^1];
                var path = string.Join('.', stack.Select(s => s.Name).Append(member));
                // Several anonymous unions at one level: told apart by their order.
                var n = seen[path] = seen.GetValueOrDefault(path) + 1;
                if (n > 1) path += $"#{n}";
                members.Add((path, text, long.Parse(m.Groups[1].Value)));
                stack.Add((indent, path.Split('.')[^1]));
            }
            if (name != null) result.Add(new RecordLayout(name, size, members));
        }
        return result;
    }

    /// <summary>Breaking changes (Fail) and changes to flag for review (Warn), as readable lines.</summary>
    public static (List<string> Breaking, List<string> Changes) Compare(UapiSnapshot before, UapiSnapshot after,
        string header)
    {
        var breaking = new List<string>();
        var changes = new List<string>();
        foreach (var (name, b) in before.Records)
        {
            if (!after.Records.TryGetValue(name, out var a)) { breaking.Add($"{header}: {name} removed"); continue; }
            if (a.Size != b.Size) breaking.Add($"{header}: sizeof({name}) changed from {b.Size} to {a.Size}");
            var afterByPath = a.Members.ToDictionary(x => x.Path);
            var beforePaths = b.Members.Select(x => x.Path).ToHashSet();
            foreach (var m in b.Members)
            {
                if (afterByPath.TryGetValue(m.Path, out var am))
                {
                    if (am.Offset != m.Offset) breaking.Add($"{header}: {name}.{m.Path} moved from offset {m.Offset} to {am.Offset}");
                    else if (am.Member != m.Member) changes.Add($"{header}: {name}.{m.Path} changed type: '{m.Member}' -> '{am.Member}'");
                    continue;
                }
                var renamed = a.Members.FirstOrDefault(x => x.Offset == m.Offset && !beforePaths.Contains(x.Path)
                    && Type(x.Member) == Type(m.Member));
                if (renamed.Path != null) changes.Add($"{header}: {name}.{m.Path} (offset {m.Offset}) renamed to {renamed.Path}: source-incompatible for users of the old name");
                else breaking.Add($"{header}: {name}.{m.Path} (offset {m.Offset}) removed");
            }
            foreach (var am in a.Members.Where(x => !beforePaths.Contains(x.Path) &&
                         !b.Members.Any(m => m.Offset == x.Offset && !afterByPath.ContainsKey(m.Path)
                             && Type(m.Member) == Type(x.Member))))
                changes.Add($"{header}: {name}.{am.Path} added at offset {am.Offset}");
        }
        foreach (var name in after.Records.Keys.Except(
            before.Records.Keys)) changes.Add($"{header}: new {name} (size {after.Records[name].Size})");
        foreach (var (n, v) in before.Macros)
        {
            if (!after.Macros.TryGetValue(n, out var av)) breaking.Add($"{header}: #define {n} removed");
            else if (av != v) breaking.Add($"{header}: #define {n} changed from '{v}' to '{av}'");
        }
        foreach (var n in after.Macros.Keys.Except(
            before.Macros.Keys)) changes.Add($"{header}: new #define {n} {after.Macros[n]}");
        foreach (var (n, v) in before.Enumerators)
        {
            if (!after.Enumerators.TryGetValue(n, out var av)) breaking.Add($"{header}: enumerator {n} removed");
            else if (av != v) breaking.Add($"{header}: enumerator {n} changed value from {v} to {av}");
        }
        foreach (var n in after.Enumerators.Keys.Except(
            before.Enumerators.Keys)) changes.Add($"{header}: new enumerator {n} = {after.Enumerators[n]}");
        return (breaking, changes);
    }

    static string Type(string member)
    {
        var i = member.LastIndexOf(' ');
        return i < 0 ? member : member[..i];
    }
}
