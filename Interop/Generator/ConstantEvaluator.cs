using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace IoUring.Interop.Generator;

/// <summary>
/// Finds the macros a unit defines (clang -E -dD with line markers), lets clang decide which are
/// integer constant expressions, and evaluates those and the enumerators with a compiled probe that
/// also measures each enum's size and signedness.
/// </summary>
sealed partial class ConstantEvaluator(ClangDriver clang, UnitSpec spec, UnitModel model, AstSymbolTable symbols)
{
    // Probe lines are numbered from here so a diagnostic's line maps back to a candidate's index.
    const int FirstProbeLine = 100000;

    sealed record MacroSeen(string Name, string Body, bool FunctionLike, string File, int Line);

    readonly record struct ProbedValue(int Size, bool Signed, ulong Raw);

    /// <summary>Adds the unit's constants, fills enum members and sizes, and corrects enum field sizes.</summary>
    public void Evaluate(List<AstNode> ast, IReadOnlyDictionary<string, string> enumeratorLocations,
        IReadOnlyDictionary<string, EnumDef> enums)
    {
        var integer = IntegerConstants(Candidates(DefinedMacros()));
        var enumerators = Enumerators(ast, enumeratorLocations);
        var values = Probe(integer, enumerators, enums);
        foreach (var m in integer)
        {
            var v = values[m.Name];
            model.Constants.Add(new ConstantDef(m.Name, v.Size, v.Signed, v.Raw, Where(m), false));
        }
        foreach (var (name, location) in enumerators)
        {
            var v = values[name];
            model.Constants.Add(new ConstantDef(name, v.Size, v.Signed, v.Raw, location, true));
        }
        foreach (var e in model.Enums)
            foreach (var m in e.MemberNames)
                e.Members.Add(new EnumMember(m, Truncate(values[m], e.Size, e.Signed)));
        ResizeEnumFields(enums);
    }

    string Where(MacroSeen m) => $"{spec.DisplayPath(m.File)}:{m.Line}";

    /// <summary>
    /// The object-like and function-like macros of the primary files and the selection, in definition order.
    /// </summary>
    List<MacroSeen> DefinedMacros()
    {
        var pre = clang.RunOnSource(spec.Prelude, spec.IncludeDirs, ["-E", "-dD"]);
        if (!pre.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"clang -E could not preprocess the {spec.Name} headers:\n{ClangDriver.Diagnostics(pre.StdErr)}");
        var macros = new Dictionary<string, MacroSeen>();
        var order = new List<string>();
        string file = "";
        var line = 0;
        foreach (var raw in pre.StdOut.Split('\n'))
        {
            var marker = LineMarkerRegex().Match(raw);
            if (marker.Success)
            {
                file = marker.Groups["file"].Value;
                line = int.Parse(marker.Groups["line"].Value);
                continue;
            }
            var def = DefineRegex().Match(raw);
            if (def.Success)
            {
                var name = def.Groups["name"].Value;
                if (spec.IsPrimaryFile(file) || spec.MacroSelection.Contains(name))
                {
                    if (!macros.ContainsKey(name)) order.Add(name);
                    var body = def.Groups["body"].Value.Trim();
                    macros[name] = new MacroSeen(name, body, def.Groups["fn"].Success, file, line);
                }
            }
            else if (UndefRegex().Match(raw) is { Success: true } undef
                     && macros.Remove(undef.Groups["name"].Value, out var gone))
            {
                order.Remove(gone.Name);
                var again = $"#undef'd again at {spec.DisplayPath(file)}:{line}";
                model.Skipped.Add(new SkippedDecl(gone.Name, Where(gone), again));
            }
            line++;
        }
        foreach (var wanted in spec.MacroSelection)
            if (!macros.ContainsKey(wanted))
                throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{spec.Name}: selected macro {wanted} is not defined by the headers");
        return order.Select(name => macros[name]).ToList();
    }

    /// <summary>Macros that could be constants; function-like and empty ones are listed as skipped.</summary>
    List<MacroSeen> Candidates(List<MacroSeen> macros)
    {
        var candidates = new List<MacroSeen>();
        foreach (var m in macros)
        {
            if (m.FunctionLike) model.Skipped.Add(new SkippedDecl(m.Name, Where(m), "function-like macro"));
            else if (m.Body.Length == 0)
                model.Skipped.Add(new SkippedDecl(m.Name, Where(m),
                    "empty definition (include guard or feature flag)"));
            else candidates.Add(m);
        }
        return candidates;
    }

    /// <summary>
    /// Lets clang decide which bodies are integer constant expressions: one _Static_assert per macro, each on its own
    /// #line.
    /// </summary>
    List<MacroSeen> IntegerConstants(List<MacroSeen> candidates)
    {
        var check = new StringBuilder(spec.Prelude).Append('\n');
        for (var i = 0; i < candidates.Count; i++)
            check.Append(CultureInfo.InvariantCulture, $"#line {FirstProbeLine + i}\n_Static_assert(")
                .Append(CultureInfo.InvariantCulture,
                    $"__builtin_classify_type({candidates[i].Name}) <= 4 && (({candidates[i].Name}) || 1), \"\");\n");
        var checkResult = clang.RunOnSource(check.ToString(), spec.IncludeDirs, ["-fsyntax-only", "-ferror-limit=0"]);
        var rejected = new Dictionary<int, string>();
        foreach (var diag in checkResult.StdErr.Split('\n'))
        {
            var m = ProbeErrorRegex().Match(diag);
            if (m.Success)
                rejected.TryAdd(int.Parse(m.Groups["line"].Value) - FirstProbeLine, m.Groups["msg"].Value.Trim());
        }
        if (!checkResult.Succeeded && rejected.Count == 0)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"clang failed on the {spec.Name} constant probe:\n{ClangDriver.Diagnostics(checkResult.StdErr)}");
        var integer = new List<MacroSeen>();
        for (var i = 0; i < candidates.Count; i++)
        {
            var m = candidates[i];
            if (!rejected.TryGetValue(i, out var why)) { integer.Add(m); continue; }
            if (spec.MacroSelection.Contains(m.Name))
                throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{Where(m)}: selected macro {m.Name} is not an integer constant ({why})");
            model.Skipped.Add(new SkippedDecl(m.Name, Where(m), $"not an integer constant expression (clang: {why})"));
        }
        return integer;
    }

    /// <summary>
    /// Enumerators of the primary files' enums and of every bound enum are constants too (C gives them type int).
    /// </summary>
    List<(string Name, string Location)> Enumerators(List<AstNode> ast, IReadOnlyDictionary<string, string> locations)
    {
        var enumerators = new List<(string Name, string Location)>();
        foreach (var n in ast.Where(n => n.Kind == "EnumDecl" && spec.IsPrimaryFile(n.File)))
            foreach (var c in n.Inner.Where(c => c.Kind == "EnumConstantDecl"))
                enumerators.Add((c.Name, symbols.Loc(c)));
        foreach (var e in model.Enums)
            foreach (var m in e.MemberNames)
                if (!enumerators.Any(x => x.Name == m))
                    enumerators.Add((m, locations.GetValueOrDefault(m, e.Location)));
        return enumerators;
    }

    /// <summary>
    /// Compiles and runs one program printing every constant's value, sizeof and signedness, and every enum's size.
    /// </summary>
    Dictionary<string, ProbedValue> Probe(List<MacroSeen> integer, List<(string Name, string Location)> enumerators,
        IReadOnlyDictionary<string, EnumDef> enums)
    {
        var program = new StringBuilder("#include <stdio.h>\n").Append(spec.Prelude).Append('\n');
        program.Append("#define __URING_PROBE(n) printf(\"C %s %d %d %llu\\n\", #n, (int)sizeof(n), ")
            .Append("(int)(((__typeof__(n))-1) < 0), (unsigned long long)(n));\n");
        program.Append("int main(void) {\n");
        foreach (var m in integer) program.Append(CultureInfo.InvariantCulture, $"__URING_PROBE({m.Name})\n");
        foreach (var (name, _) in enumerators) program.Append(CultureInfo.InvariantCulture, $"__URING_PROBE({name})\n");
        foreach (var e in model.Enums)
            program.Append(CultureInfo.InvariantCulture,
                $"printf(\"E {e.Name} %d %d\\n\", (int)sizeof({e.CSpelling}), (int)((({e.CSpelling})-1) < 0));\n");
        program.Append("return 0; }\n");
        var output = clang.CompileAndRun(program.ToString(), spec.IncludeDirs, $"{spec.Name} constant probe");

        var values = new Dictionary<string, ProbedValue>();
        foreach (var l in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = l.Split(' ');
            if (p[0] == "C") values[p[1]] = new ProbedValue(int.Parse(p[2]), p[3] == "1", ulong.Parse(p[4]));
            else if (p[0] == "E")
            {
                var e = enums[p[1]];
                e.Size = int.Parse(p[2]);
                e.Signed = p[3] == "1";
            }
        }
        return values;
    }

    /// <summary>
    /// Records were sized with the common enum default (4) before the probe; enum fields get the measured size and
    /// signedness.
    /// </summary>
    void ResizeEnumFields(IReadOnlyDictionary<string, EnumDef> enums)
    {
        foreach (var r in model.Records)
            foreach (var f in r.Fields.ToList())
                if (f.Type is CTagged { Tag: "enum" } et && enums.TryGetValue(et.Name, out var ed))
                    r.Fields[r.Fields.IndexOf(f)] = f with
                    {
                        Size = ed.Size,
                        Signed = f.Kind == FieldKind.Bitfield && ed.Signed,
                    };
    }

    static long Truncate(ProbedValue v, int size, bool signedEnum)
        => signedEnum || v.Signed ? unchecked((long)v.Raw) : size <= 4 ? (long)(uint)v.Raw : unchecked((long)v.Raw);

    [GeneratedRegex(@"^#\s*define\s+(?<name>[A-Za-z_]\w*)(?<fn>\()?(?<body>.*)$")]
    private static partial Regex DefineRegex();

    [GeneratedRegex(@"^#\s*undef\s+(?<name>[A-Za-z_]\w*)")]
    private static partial Regex UndefRegex();

    [GeneratedRegex(@"^#\s+(?<line>\d+)\s+""(?<file>[^""]*)""")]
    private static partial Regex LineMarkerRegex();

    [GeneratedRegex(@"probe\.c:(?<line>\d+):\d+: error: (?<msg>.*)$")]
    private static partial Regex ProbeErrorRegex();
}
