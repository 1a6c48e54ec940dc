using System.Text.Json;

namespace IoUring.Interop.Generator;

/// <summary>
/// The functions a unit binds: signatures from the AST, which inline helpers never leave user space
/// (leaf helpers), and a check that every bound function is exported by its library.
/// </summary>
sealed class FunctionCollector(UnitSpec spec, UnitModel model, AstSymbolTable symbols, TypeResolver types,
    Action<CType, string> requireByValue)
{
    readonly Dictionary<string, HashSet<string>> _callees = []; // inline helper with a body → functions it refers to

    public void Collect(AstNode node)
    {
        if (model.Functions.Any(f => f.Name == node.Name)) return;
        var where = $"{symbols.Loc(node)}: function {node.Name}";
        var ret = types.Canonical(types.Parse(ReturnSpelling(node.QualType ?? "", where), where), where);
        var parameters = new List<ParamDef>();
        var index = 0;
        foreach (var p in node.Inner.Where(c => c.Kind == "ParmVarDecl"))
        {
            parameters.Add(new ParamDef(p.Name.Length > 0 ? p.Name : $"arg{index}", types.CanonicalOf(p, where)));
            index++;
        }
        string? note = null;
        if (node.Flag("variadic"))
        {
            if (!spec.VariadicOverrides.TryGetValue(node.Name, out var ov))
                throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{where}: variadic functions cannot be bound with [LibraryImport]");
            for (var i = 1; i <= ov.ExtraLongParameters; i++)
                parameters.Add(new ParamDef($"arg{i}", new CBuiltin("long")));
            note = ov.Why;
        }
        requireByValue(ret, where);
        foreach (var p in parameters) requireByValue(p.Type, where);
        var inline = node.Str("storageClass") == "static" && node.Flag("inline");
        var draft = new FunctionDef(node.Name, ret, parameters, inline, "", symbols.Loc(node), note);
        model.Functions.Add(draft with { Library = spec.LibraryFor(draft) });
        if (inline && node.Inner.Any(c => c.Kind == "CompoundStmt")) _callees[node.Name] = Callees(node.Json);
    }

    static string ReturnSpelling(string functionType, string where)
    {
        var depth = 0;
        for (var i = functionType.Length - 1; i >= 0; i--)
        {
            if (functionType[i] == ')') depth++;
            else if (functionType[i] == '(' && --depth == 0) return functionType[..i].Trim();
        }
        throw new ToolkitException(ExitCodes.GeneratorError,
            $"{where}: unexpected function type '{functionType}'");
    }

    /// <summary>
    /// Names of every function a body refers to (calls or takes the address of), from clang's referencedDecl entries.
    /// </summary>
    static HashSet<string> Callees(JsonElement element)
    {
        var names = new HashSet<string>();
        void Walk(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    if (e.TryGetProperty("referencedDecl", out var r) && r.TryGetProperty("kind", out var k)
                        && k.GetString() == "FunctionDecl" && r.TryGetProperty("name", out var n))
                        names.Add(n.GetString() ?? "");
                    foreach (var p in e.EnumerateObject()) Walk(p.Value);
                    break;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray()) Walk(item);
                    break;
            }
        }
        Walk(element);
        return names;
    }

    /// <summary>
    /// Marks inline helpers that reach only builtins and other leaf helpers (fixed point over the call graph).
    /// </summary>
    public void MarkLeafFunctions()
    {
        static bool IsBuiltin(string name) => name.StartsWith("__builtin_", StringComparison.Ordinal)
            || name.StartsWith("__c11_atomic_", StringComparison.Ordinal)
            || name.StartsWith("__atomic_", StringComparison.Ordinal);
        var leaf = _callees.Keys.ToHashSet();
        bool changed;
        do
        {
            changed = false;
            foreach (var name in leaf.ToList())
                if (!_callees[name].All(c => c == name || IsBuiltin(c) || leaf.Contains(c)))
                {
                    leaf.Remove(name);
                    changed = true;
                }
        } while (changed);
        for (var i = 0; i < model.Functions.Count; i++)
            if (leaf.Contains(model.Functions[i].Name)) model.Functions[i] = model.Functions[i] with { IsLeaf = true };
    }

    /// <summary>
    /// Every bound function must be exported by the library it is bound to; inline helpers that liburing-ffi does not
    /// export are listed as skipped.
    /// </summary>
    public void VerifyExports()
    {
        if (spec.SharedObjects.Count == 0) return;
        var exports = spec.SharedObjects.ToDictionary(kv => kv.Key, kv => ExportedSymbols(kv.Value));
        foreach (var f in model.Functions.ToList())
        {
            if (!exports.TryGetValue(f.Library, out var set)) continue;
            if (set.Contains(f.Name)) continue;
            if (!f.IsInline)
                throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{f.Location}: {f.Name} is declared but not exported by "
                    + Path.GetFileName(spec.SharedObjects[f.Library]));
            model.Functions.Remove(f);
            model.Skipped.Add(new SkippedDecl(f.Name, f.Location, $"static inline helper not exported by {f.Library}"));
        }
    }

    static HashSet<string> ExportedSymbols(string path)
    {
        if (!File.Exists(path))
            throw new ToolkitException(ExitCodes.Usage,
                $"{path} does not exist (build liburing first: toolkit liburing build)");
        var nmPath = Proc.Require("nm", "list the symbols liburing exports");
        var nm = Proc.Capture(nmPath, ["-D", "--defined-only", path]);
        if (!nm.Succeeded) throw new ToolkitException(ExitCodes.GeneratorError, $"nm -D {path} failed: {nm.StdErr}");
        return nm.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last().Split('@')[0]).ToHashSet();
    }
}
