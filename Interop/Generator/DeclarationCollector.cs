namespace IoUring.Interop.Generator;

/// <summary>
/// Decides what a unit binds: the declarations of its primary files, the selected functions, and
/// every record and enum those reach through fields and signatures (the closure).
/// </summary>
sealed class DeclarationCollector
{
    readonly UnitSpec _spec;
    readonly UnitModel _model;
    readonly AstSymbolTable _symbols;
    readonly TypeResolver _types;
    readonly Dictionary<string, EnumDef> _enums = [];               // by C# name
    readonly Dictionary<string, string> _enumeratorLocations = [];  // enumerator → "file:line"
    readonly Queue<(string Name, AstNode Node)> _pending = new();    // records whose fields are not yet required

    public DeclarationCollector(UnitSpec spec, UnitModel model, AstSymbolTable symbols, TypeResolver types)
    {
        _spec = spec;
        _model = model;
        _symbols = symbols;
        _types = types;
        Records = new BoundRecords(model);
        Functions = new FunctionCollector(spec, model, symbols, types,
            (t, where) => RequireType(t, where, byValue: true));
    }

    public BoundRecords Records { get; }
    public FunctionCollector Functions { get; }
    public IReadOnlyDictionary<string, EnumDef> Enums => _enums;
    public IReadOnlyDictionary<string, string> EnumeratorLocations => _enumeratorLocations;

    /// <summary>Declarations of the primary files, in declaration order.</summary>
    public void CollectPrimaryDeclarations(List<AstNode> ast)
    {
        foreach (var node in ast)
            if (_spec.IsPrimaryFile(node.File)) Collect(node);
    }

    void Collect(AstNode node)
    {
        var tagKey = AstSymbolTable.TagOf(node) + " " + node.Name;
        switch (node.Kind)
        {
            case "RecordDecl" when node.Name.Length > 0 && node.Flag("completeDefinition"):
                RequireRecord(tagKey, node.Name, node);
                break;
            case "EnumDecl":
                CollectEnum(node);
                break;
            case "FunctionDecl" when !node.Flag("isImplicit"): // implicit = compiler builtins declared on first use
                Functions.Collect(node);
                break;
            case "FunctionDecl":
                break;
            case "RecordDecl" when node.Name.Length > 0:
                // A forward declaration: bound (as an opaque struct) only if a signature uses it.
                if (!_symbols.HasDefinition(tagKey))
                    Skip(tagKey, node, "forward declaration only; opaque struct if a bound signature uses it");
                break;
            case "RecordDecl":
                break; // unnamed: reached through its typedef or the field that uses it
            case "TypedefDecl" when _symbols.UnnamedRecordTypedefdAs(node.Name) is { } owner:
                RequireRecord(AstSymbolTable.TagOf(owner) + " " + node.Name, node.Name, owner);
                break;
            case "TypedefDecl":
                Skip(node.Name, node, $"typedef of {node.QualType}: C# uses the target type");
                break;
            default:
                Skip(node.Name.Length > 0 ? node.Name : node.Kind, node,
                    $"{node.Kind} is not a kind of declaration the generator binds");
                break;
        }
    }

    void Skip(string name, AstNode node, string why)
        => _model.Skipped.Add(new SkippedDecl(name, _symbols.Loc(node), why));

    /// <summary>Functions the spec selects from non-primary files (the libc selection), in name order.</summary>
    public void CollectSelectedFunctions(List<AstNode> ast)
    {
        foreach (var name in _spec.FunctionSelection.Order(StringComparer.Ordinal))
        {
            var decl = ast.FirstOrDefault(n => n.Kind == "FunctionDecl" && n.Name == name)
                ?? throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{_spec.Name}: selected function {name} is not declared by the headers");
            if (!_spec.IsPrimaryFile(decl.File)) Functions.Collect(decl);
        }
    }

    /// <summary>
    /// Records pulled in by fields need their own field types too: required until nothing new appears.
    /// </summary>
    public void ResolveClosure()
    {
        var done = new HashSet<string>();
        while (_pending.Count > 0)
        {
            var (name, node) = _pending.Dequeue();
            if (!done.Add(name)) continue;
            foreach (var field in _symbols.AllFields(node))
            {
                var where = $"{_symbols.Loc(field)}: field {name}.{field.Name}";
                var t = _types.CanonicalOf(field, where, _symbols.Loc(field));
                if (t is CTagged { AnonKey: not null })
                {
                    foreach (var inner in _symbols.AllFields(_symbols.AnonymousRecordOf(field)))
                        RequireType(_types.CanonicalOf(inner, _symbols.Loc(inner)),
                            $"{_symbols.Loc(inner)}: field {inner.Name}", byValue: true);
                    continue;
                }
                RequireType(t, where, byValue: true);
            }
        }
    }

    void RequireRecord(string tagKey, string csName, AstNode? node)
    {
        if (Records.Contains(csName) || _spec.ProvidedRecords.Contains(csName)) return;
        if (node is null && !_symbols.TryGetDefinition(tagKey, out node))
        {
            if (!_symbols.IsDeclared(tagKey) && !_symbols.IsTypedef(csName))
                throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{_spec.Name}: {tagKey} is referenced but never declared");
            // Only forward-declared: usable behind pointers; by-value use is rejected in RequireTaggedRecord.
            Records.Add(new RecordDef
            {
                Name = csName,
                CSpelling = null,
                Opaque = true,
                Location = "(incomplete type)",
                Unit = _spec.Name,
            });
            return;
        }
        var spelling = node.Name.Length > 0 ? tagKey : csName;
        Records.Add(new RecordDef
        {
            Name = csName,
            CSpelling = spelling,
            IsUnion = AstSymbolTable.TagOf(node) == "union",
            Location = _symbols.Loc(node),
            Unit = _spec.Name,
        });
        _pending.Enqueue((csName, node));
    }

    void RequireType(CType t, string where, bool byValue)
    {
        switch (t)
        {
            case CPointer p: RequireType(p.Pointee, where, byValue: false); break;
            case CArray a: RequireType(a.Element, where, byValue); break;
            case CFunctionPointer f:
                if (f.Variadic) throw new ToolkitException(ExitCodes.GeneratorError,
                        $"{where}: pointer to a variadic function");
                RequireType(f.Return, where, false);
                foreach (var p in f.Parameters) RequireType(p, where, false);
                break;
            case CTagged { Tag: "enum" } e: RequireEnum(e, where); break;
            case CTagged { AnonKey: not null } anon:
                // A named field of unnamed record type: bound in the layout pass, where the owner's name is known.
                if (_symbols.TryGetUnnamedRecordAt(anon.AnonKey, out var ar))
                    foreach (var f in _symbols.AllFields(ar))
                    {
                        var fieldWhere = $"{_symbols.Loc(f)}: field {f.Name}";
                        RequireType(_types.CanonicalOf(f, fieldWhere, _symbols.Loc(f)), fieldWhere, true);
                    }
                break;
            case CTagged r: RequireTaggedRecord(r, where, byValue); break;
        }
    }

    void RequireEnum(CTagged e, string where)
    {
        if (e.AnonKey is not null) throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: use of an unnamed enum type");
        if (_spec.ProvidedEnums.Contains(e.Name) || _enums.ContainsKey(e.Name)) return;
        if (!_symbols.TryGetEnum(e.Name, out var en))
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: enum {e.Name} has no definition");
        CollectEnum(en, e.Name);
    }

    void RequireTaggedRecord(CTagged r, string where, bool byValue)
    {
        var key = r.Tag + " " + r.Name;
        if (_symbols.HasDefinition(key) || _symbols.IsDeclared(key)) RequireRecord(key, r.Name, null);
        else if (_symbols.UnnamedRecordTypedefdAs(r.Name) is { } owner) RequireRecord(key, r.Name, owner);
        else throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: {key} is not declared");
        if (byValue && Records.TryGet(r.Name, out var d) && d.Opaque)
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: incomplete type {key} used by value");
    }

    void CollectEnum(AstNode node, string? typedefName = null)
    {
        foreach (var c in node.Inner.Where(c => c.Kind == "EnumConstantDecl"))
            _enumeratorLocations[c.Name] = _symbols.Loc(c);
        var name = node.Name.Length > 0 ? node.Name : typedefName;
        if (name is null || _enums.ContainsKey(name) || _spec.ProvidedEnums.Contains(name)) return;
        var def = new EnumDef
        {
            Name = name,
            CSpelling = node.Name.Length > 0 ? "enum " + name : name,
            Location = _symbols.Loc(node),
        };
        def.MemberNames.AddRange(node.Inner.Where(c => c.Kind == "EnumConstantDecl").Select(c => c.Name));
        _enums[name] = def;
        _model.Enums.Add(def);
    }
}
