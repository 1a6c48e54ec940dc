namespace IoUring.Interop.Generator;

/// <summary>
/// The declarations of one translation unit's AST, indexed the ways the extractor looks them up:
/// records by tag, id and (unnamed ones) location, enums, typedefs, and which unnamed record a
/// field or a typedef names. Filled once from the top-level nodes; read-only afterwards.
/// </summary>
sealed class AstSymbolTable
{
    readonly UnitSpec _spec;
    readonly Dictionary<string, AstNode> _recordsByTag = [];      // "struct io_uring_sqe" → complete definition
    readonly HashSet<string> _declaredTags = [];                   // tags seen at all (possibly incomplete)
    readonly Dictionary<string, AstNode> _recordsByLocation = [];  // unnamed records by "file:line:col"
    readonly Dictionary<string, AstNode> _recordsById = [];
    readonly Dictionary<string, AstNode> _unnamedRecordOfField = [];  // field id → its unnamed record type
    readonly Dictionary<string, AstNode> _enumsByName = [];
    readonly Dictionary<string, AstNode> _anonymousEnumsById = [];
    readonly Dictionary<string, AstNode> _typedefNodes = [];
    readonly Dictionary<string, string> _typedefOfAnonymousRecord = []; // record id → typedef name
    readonly Dictionary<string, string> _anonymousRecordOfTypedef = []; // typedef name → first record id naming it

    public AstSymbolTable(UnitSpec spec, List<AstNode> ast)
    {
        _spec = spec;
        foreach (var n in ast)
        {
            switch (n.Kind)
            {
                case "RecordDecl": AddRecord(n); break;
                case "EnumDecl" when n.Name.Length > 0: _enumsByName.TryAdd(n.Name, n); break;
                case "EnumDecl": _anonymousEnumsById[n.Id] = n; break;
                case "TypedefDecl": AddTypedef(n); break;
            }
        }
    }

    /// <summary>"struct" or "union" (or "enum"): how the declaration was introduced.</summary>
    public static string TagOf(AstNode record) => record.Str("tagUsed") ?? "struct";

    public string Loc(AstNode n) => $"{_spec.DisplayPath(n.File)}:{n.Line}";

    public bool TryGetDefinition(string tagKey, out AstNode node) => _recordsByTag.TryGetValue(tagKey, out node!);

    public AstNode Definition(string tagKey) => _recordsByTag[tagKey];

    public bool HasDefinition(string tagKey) => _recordsByTag.ContainsKey(tagKey);

    public bool IsDeclared(string tagKey) => _declaredTags.Contains(tagKey);

    public bool IsTypedef(string name) => _typedefNodes.ContainsKey(name);

    public bool TryGetTypedef(string name, out AstNode node) => _typedefNodes.TryGetValue(name, out node!);

    public bool TryGetEnum(string name, out AstNode node) => _enumsByName.TryGetValue(name, out node!);

    public bool TryGetUnnamedRecordAt(string locationKey, out AstNode node)
        => _recordsByLocation.TryGetValue(locationKey, out node!);

    /// <summary>The unnamed record a <c>typedef struct { ... } name;</c> names, or null.</summary>
    public AstNode? UnnamedRecordTypedefdAs(string typedefName)
        => _anonymousRecordOfTypedef.TryGetValue(typedefName, out var id) ? _recordsById[id] : null;

    /// <summary>The typedef name of the unnamed record declared at "file:line:col", or null.</summary>
    public string? TypedefNameOfUnnamedRecordAt(string locationKey)
        => _recordsByLocation.TryGetValue(locationKey, out var r)
           && _typedefOfAnonymousRecord.TryGetValue(r.Id, out var td) ? td : null;

    /// <summary>Fields of a record including those of anonymous members (reached through the record node).</summary>
    public IEnumerable<AstNode> AllFields(AstNode record)
    {
        foreach (var c in record.Inner)
        {
            if (c.Kind != "FieldDecl") continue;
            if (c.Name.Length == 0 && c.Flag("isBitfield")) continue; // unnamed bitfield: padding only
            if (c.Name.Length == 0)
            {
                var anon = AnonymousRecordOf(c);
                foreach (var f in AllFields(anon)) yield return f;
            }
            else yield return c;
        }
    }

    public AstNode AnonymousRecordOf(AstNode field)
    {
        if (_unnamedRecordOfField.TryGetValue(field.Id, out var r)) return r;
        throw new ToolkitException(ExitCodes.GeneratorError,
            $"{Loc(field)}: cannot find the unnamed record of '{field.QualType}'");
    }

    void AddRecord(AstNode n)
    {
        _recordsById[n.Id] = n;
        if (n.Name.Length > 0)
        {
            var key = TagOf(n) + " " + n.Name;
            _declaredTags.Add(key);
            if (n.Flag("completeDefinition")) _recordsByTag.TryAdd(key, n);
        }
        else _recordsByLocation[n.LocationKey] = n;
        // An unnamed record is always emitted right before the field that uses it. Matching by
        // position is exact; matching by location is not (one macro can expand to several).
        AstNode? lastRecord = null;
        foreach (var c in n.Inner)
        {
            if (c.Kind == "RecordDecl") { AddRecord(c); lastRecord = c; }
            else if (c.Kind == "FieldDecl" && lastRecord is not null && lastRecord.Name.Length == 0
                     && (c.QualType ?? "").Contains(" at ", StringComparison.Ordinal))
                _unnamedRecordOfField[c.Id] = lastRecord;
        }
    }

    void AddTypedef(AstNode n)
    {
        _typedefNodes.TryAdd(n.Name, n);
        if (!n.Json.TryGetProperty("inner", out var inner)) return;
        foreach (var t in inner.EnumerateArray())
        {
            if (!t.TryGetProperty("ownedTagDecl", out var owned)) continue;
            var kind = owned.GetProperty("kind").GetString();
            if (kind == "RecordDecl" && owned.TryGetProperty("name", out var on) && on.GetString() == "")
            {
                var id = owned.GetProperty("id").GetString()!;
                if (_typedefOfAnonymousRecord.TryAdd(id, n.Name)) _anonymousRecordOfTypedef.TryAdd(n.Name, id);
            }
            else if (kind == "EnumDecl"
                     && _anonymousEnumsById.TryGetValue(owned.GetProperty("id").GetString()!, out var e))
                _enumsByName.TryAdd(n.Name, e); // typedef enum { ... } idtype_t: the typedef names the enum.
        }
    }
}
