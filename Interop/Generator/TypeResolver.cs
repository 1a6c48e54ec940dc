namespace IoUring.Interop.Generator;

/// <summary>
/// Parses clang's type spellings for one unit and strips typedefs down to what the emitter maps:
/// builtins, tags, pointers, arrays. Resolved typedefs are recorded in the unit model.
/// </summary>
sealed class TypeResolver(UnitModel model, AstSymbolTable symbols)
{
    /// <summary>
    /// Parses a spelling; only <c>aligned</c> attributes are allowed (layout comes from clang anyway).
    /// </summary>
    public CType Parse(string spelling, string where)
    {
        try
        {
            var attributes = new List<string>();
            var t = CTypeParser.Parse(spelling, attributes);
            foreach (var a in attributes)
                if (!a.StartsWith("aligned", StringComparison.Ordinal))
                    throw new ToolkitException(ExitCodes.GeneratorError,
                        $"{where}: unsupported attribute __attribute__(({a})) in type '{spelling}'");
            return t;
        }
        catch (FormatException e)
        {
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: unsupported type '{spelling}': {e.Message}");
        }
    }

    /// <summary>
    /// The canonical type of a declaration's spelling. Errors name <paramref name="where"/>, typedef lookups
    /// <paramref name="canonicalWhere"/> (default: the same).
    /// </summary>
    public CType CanonicalOf(AstNode declaration, string where, string? canonicalWhere = null)
        => Canonical(Parse(declaration.QualType ?? "", where), canonicalWhere ?? where);

    /// <summary>Strips typedefs at every level so the emitter sees builtins, tags, pointers, arrays.</summary>
    public CType Canonical(CType type, string where) => type switch
    {
        CTypedefName t when t.Name is "size_t" or "ssize_t" => t, // kept: mapped to nuint/nint
        CTypedefName t => Canonical(ResolveTypedef(t.Name, where), where),
        CPointer p => new CPointer(Canonical(p.Pointee, where)),
        CArray a => new CArray(Canonical(a.Element, where), a.Length),
        CFunctionPointer f => new CFunctionPointer(
            Canonical(f.Return, where), f.Parameters.Select(p => Canonical(p, where)).ToList(), f.Variadic),
        CTagged { AnonKey: not null } a when symbols.TypedefNameOfUnnamedRecordAt(a.AnonKey) is { } td
            => new CTagged(a.Tag, td, null),
        _ => type,
    };

    /// <summary>
    /// Resolves a typedef name to the type it names, recursively; unnamed typedef'd records keep the typedef as their
    /// name.
    /// </summary>
    CType ResolveTypedef(string name, string where)
    {
        if (model.Typedefs.TryGetValue(name, out var known)) return known;
        if (!symbols.TryGetTypedef(name, out var node))
            throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: typedef {name} not found in the AST");
        var target = symbols.UnnamedRecordTypedefdAs(name) is { } owned
            ? new CTagged(AstSymbolTable.TagOf(owned), name, null)
            : Parse(node.QualType ?? "", $"typedef {name} ({symbols.Loc(node)})");
        model.Typedefs[name] = target;
        return target;
    }
}
