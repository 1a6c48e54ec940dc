using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace IoUring.Interop.Generator;

/// <summary>
/// Turns one translation unit into a <see cref="UnitModel"/> using only clang: the JSON AST for
/// declarations and types, the record layout dump for sizes and offsets, the preprocessor's
/// -dD output for macros, and a compiled probe for constant values and their C types.
/// </summary>
public sealed partial class UnitExtractor(ClangDriver clang, UnitSpec spec)
{
    readonly UnitModel _model = new() { Spec = spec };
    readonly Dictionary<string, AstNode> _recordsByTag = [];      // "struct io_uring_sqe" → complete definition
    readonly HashSet<string> _declaredTags = [];                   // tags seen at all (possibly incomplete)
    readonly Dictionary<string, AstNode> _recordsByLocation = [];  // unnamed records by "file:line:col"
    readonly Dictionary<string, AstNode> _recordsById = [];
    readonly Dictionary<string, AstNode> _unnamedRecordOfField = [];  // field id → its unnamed record type
    readonly Dictionary<string, AstNode> _enumsByName = [];
    readonly Dictionary<string, AstNode> _anonymousEnumsById = [];
    readonly Dictionary<string, AstNode> _typedefNodes = [];
    readonly Dictionary<string, string> _typedefOfAnonymousRecord = []; // record id → typedef name
    readonly Dictionary<string, RecordDef> _emitted = [];          // by C# name
    readonly Dictionary<string, EnumDef> _enums = [];
    readonly Dictionary<string, int> _enumSizes = [];
    readonly Queue<(string Name, AstNode Node, string? CSpelling)> _pending = new();
    Dictionary<string, RecordLayout> _layouts = [];

    public UnitModel Extract()
    {
        var ast = AstReader.ReadTopLevel(clang.SyntaxOnly(spec.Prelude, spec.IncludeDirs, $"the {spec.Name} headers", "-Xclang", "-ast-dump=json"));
        Index(ast);

        // Declarations of the primary files, in declaration order.
        foreach (var node in ast)
        {
            if (!spec.IsPrimaryFile(node.File)) continue;
            switch (node.Kind)
            {
                case "RecordDecl" when node.Name.Length > 0 && node.Flag("completeDefinition"):
                    RequireRecord(TagOf(node) + " " + node.Name, node.Name, node);
                    break;
                case "EnumDecl":
                    CollectEnum(node);
                    break;
                case "FunctionDecl" when !node.Flag("isImplicit"): // implicit = compiler builtins declared on first use
                    CollectFunction(node);
                    break;
                case "FunctionDecl":
                    break;
                case "RecordDecl" when node.Name.Length > 0:
                    // A forward declaration: bound (as an opaque struct) only if a signature uses it.
                    if (!_recordsByTag.ContainsKey(TagOf(node) + " " + node.Name))
                        _model.Skipped.Add(new SkippedDecl($"{TagOf(node)} {node.Name}", Loc(node), "forward declaration only; opaque struct if a bound signature uses it"));
                    break;
                case "RecordDecl":
                    break; // unnamed: reached through its typedef or the field that uses it
                case "TypedefDecl" when _typedefOfAnonymousRecord.ContainsValue(node.Name):
                    var owner = _typedefOfAnonymousRecord.First(kv => kv.Value == node.Name).Key;
                    RequireRecord(TagOf(_recordsById[owner]) + " " + node.Name, node.Name, _recordsById[owner]);
                    break;
                case "TypedefDecl":
                    _model.Skipped.Add(new SkippedDecl(node.Name, Loc(node), $"typedef of {node.QualType}: C# uses the target type"));
                    break;
                default:
                    _model.Skipped.Add(new SkippedDecl(node.Name.Length > 0 ? node.Name : node.Kind, Loc(node), $"{node.Kind} is not a kind of declaration the generator binds"));
                    break;
            }
        }
        if (spec.FunctionSelection.Count > 0)
        {
            foreach (var name in spec.FunctionSelection.Order(StringComparer.Ordinal))
            {
                var decl = ast.FirstOrDefault(n => n.Kind == "FunctionDecl" && n.Name == name)
                    ?? throw new ToolkitException(ExitCodes.GeneratorError, $"{spec.Name}: selected function {name} is not declared by the headers");
                if (!spec.IsPrimaryFile(decl.File)) CollectFunction(decl);
            }
        }

        // Records pulled in by fields and signatures need layouts too: resolve the closure, then dump all layouts at once.
        ResolveClosure();
        DumpLayouts();
        foreach (var record in _model.Records.ToList()) if (!record.Opaque && !record.IsNested) FillLayout(record);
        EvaluateConstants(ast);
        MarkLeafFunctions();
        VerifyExports();
        return _model;
    }

    string Loc(AstNode n) => $"{spec.DisplayPath(n.File)}:{n.Line}";

    static string TagOf(AstNode record) => record.Str("tagUsed") ?? "struct";

    void Index(List<AstNode> ast)
    {
        void VisitRecord(AstNode n)
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
                if (c.Kind == "RecordDecl") { VisitRecord(c); lastRecord = c; }
                else if (c.Kind == "FieldDecl" && lastRecord is not null && lastRecord.Name.Length == 0
                         && (c.QualType ?? "").Contains(" at ", StringComparison.Ordinal))
                    _unnamedRecordOfField[c.Id] = lastRecord;
            }
        }
        foreach (var n in ast)
        {
            switch (n.Kind)
            {
                case "RecordDecl": VisitRecord(n); break;
                case "EnumDecl" when n.Name.Length > 0: _enumsByName.TryAdd(n.Name, n); break;
                case "EnumDecl": _anonymousEnumsById[n.Id] = n; break;
                case "TypedefDecl":
                    _typedefNodes.TryAdd(n.Name, n);
                    if (n.Json.TryGetProperty("inner", out var inner))
                        foreach (var t in inner.EnumerateArray())
                            if (t.TryGetProperty("ownedTagDecl", out var owned) && owned.GetProperty("kind").GetString() == "RecordDecl"
                                && owned.TryGetProperty("name", out var on) && on.GetString() == "")
                                _typedefOfAnonymousRecord.TryAdd(owned.GetProperty("id").GetString()!, n.Name);
                            else if (t.TryGetProperty("ownedTagDecl", out var ownedEnum) && ownedEnum.GetProperty("kind").GetString() == "EnumDecl"
                                && _anonymousEnumsById.TryGetValue(ownedEnum.GetProperty("id").GetString()!, out var anonEnum))
                                // typedef enum { ... } idtype_t: the typedef names the enum.
                                _enumsByName.TryAdd(n.Name, anonEnum);
                    break;
            }
        }
    }

    /// <summary>Resolves a typedef name to the type it names, recursively; unnamed typedef'd records keep the typedef as their name.</summary>
    CType ResolveTypedef(string name, string where)
    {
        if (_model.Typedefs.TryGetValue(name, out var known)) return known;
        if (!_typedefNodes.TryGetValue(name, out var node))
            throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: typedef {name} not found in the AST");
        CType target;
        var owned = _typedefOfAnonymousRecord.FirstOrDefault(kv => kv.Value == name);
        if (owned.Key is not null)
            target = new CTagged(TagOf(_recordsById[owned.Key]), name, null);
        else
            target = ParseType(node.QualType ?? "", $"typedef {name} ({Loc(node)})");
        _model.Typedefs[name] = target;
        return target;
    }

    CType ParseType(string spelling, string where)
    {
        try
        {
            var attributes = new List<string>();
            var t = CTypeParser.Parse(spelling, attributes);
            foreach (var a in attributes)
                if (!a.StartsWith("aligned", StringComparison.Ordinal))
                    throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: unsupported attribute __attribute__(({a})) in type '{spelling}'");
            return t;
        }
        catch (FormatException e)
        {
            throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: unsupported type '{spelling}': {e.Message}");
        }
    }

    /// <summary>Strips typedefs at every level so the emitter sees builtins, tags, pointers, arrays.</summary>
    public CType Canonical(CType type, string where) => type switch
    {
        CTypedefName t when t.Name is "size_t" or "ssize_t" => t, // kept: mapped to nuint/nint
        CTypedefName t => Canonical(ResolveTypedef(t.Name, where), where),
        CPointer p => new CPointer(Canonical(p.Pointee, where)),
        CArray a => new CArray(Canonical(a.Element, where), a.Length),
        CFunctionPointer f => new CFunctionPointer(Canonical(f.Return, where), f.Parameters.Select(p => Canonical(p, where)).ToList(), f.Variadic),
        CTagged { AnonKey: not null } a when _recordsByLocation.TryGetValue(a.AnonKey, out var r) && _typedefOfAnonymousRecord.TryGetValue(r.Id, out var td)
            => new CTagged(a.Tag, td, null),
        _ => type,
    };

    void RequireRecord(string tagKey, string csName, AstNode? node)
    {
        if (_emitted.ContainsKey(csName) || spec.ProvidedRecords.Contains(csName)) return;
        if (node is null && !_recordsByTag.TryGetValue(tagKey, out node))
        {
            if (!_declaredTags.Contains(tagKey) && !_typedefNodes.ContainsKey(csName))
                throw new ToolkitException(ExitCodes.GeneratorError, $"{spec.Name}: {tagKey} is referenced but never declared");
            // Only forward-declared: usable behind pointers; by-value use is rejected in FillLayout's callers.
            var opaque = new RecordDef { Name = csName, CSpelling = null, Opaque = true, Location = "(incomplete type)", Unit = spec.Name };
            _emitted[csName] = opaque;
            _model.Records.Add(opaque);
            return;
        }
        var spelling = node.Name.Length > 0 ? tagKey : csName;
        var def = new RecordDef { Name = csName, CSpelling = spelling, IsUnion = TagOf(node) == "union", Location = Loc(node), Unit = spec.Name };
        _emitted[csName] = def;
        _model.Records.Add(def);
        _pending.Enqueue((csName, node, spelling));
    }

    void ResolveClosure()
    {
        var done = new HashSet<string>();
        while (_pending.Count > 0)
        {
            var (name, node, _) = _pending.Dequeue();
            if (!done.Add(name)) continue;
            foreach (var field in AllFields(node))
            {
                var t = Canonical(ParseType(field.QualType ?? "", $"{Loc(field)}: field {name}.{field.Name}"), Loc(field));
                if (t is CTagged { AnonKey: not null })
                {
                    foreach (var inner in AllFields(AnonymousRecordOf(field)))
                        RequireType(Canonical(ParseType(inner.QualType ?? "", Loc(inner)), Loc(inner)), $"{Loc(inner)}: field {inner.Name}", byValue: true);
                    continue;
                }
                RequireType(t, $"{Loc(field)}: field {name}.{field.Name}", byValue: true);
            }
        }
    }

    /// <summary>Fields of a record including those of anonymous members (whose own fields are reached through the record node).</summary>
    IEnumerable<AstNode> AllFields(AstNode record)
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

    AstNode AnonymousRecordOf(AstNode field)
    {
        if (_unnamedRecordOfField.TryGetValue(field.Id, out var r)) return r;
        throw new ToolkitException(ExitCodes.GeneratorError, $"{Loc(field)}: cannot find the unnamed record of '{field.QualType}'");
    }

    void RequireType(CType t, string where, bool byValue)
    {
        switch (t)
        {
            case CPointer p: RequireType(p.Pointee, where, byValue: false); break;
            case CArray a: RequireType(a.Element, where, byValue); break;
            case CFunctionPointer f:
                if (f.Variadic) throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: pointer to a variadic function");
                RequireType(f.Return, where, false);
                foreach (var p in f.Parameters) RequireType(p, where, false);
                break;
            case CTagged { Tag: "enum" } e:
                if (e.AnonKey is not null) throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: use of an unnamed enum type");
                if (!spec.ProvidedEnums.Contains(e.Name) && !_enums.ContainsKey(e.Name))
                {
                    if (!_enumsByName.TryGetValue(e.Name, out var en))
                        throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: enum {e.Name} has no definition");
                    CollectEnum(en, e.Name);
                }
                break;
            case CTagged { AnonKey: not null } anon:
                // A named field of unnamed record type: handled in FillLayout, where the owner's name is known.
                if (_recordsByLocation.TryGetValue(anon.AnonKey, out var ar))
                    foreach (var f in AllFields(ar))
                        RequireType(Canonical(ParseType(f.QualType ?? "", $"{Loc(f)}: field {f.Name}"), Loc(f)), $"{Loc(f)}: field {f.Name}", true);
                break;
            case CTagged r:
                var key = r.Tag + " " + r.Name;
                if (_recordsByTag.ContainsKey(key) || _declaredTags.Contains(key)) RequireRecord(key, r.Name, null);
                else if (_typedefOfAnonymousRecord.ContainsValue(r.Name))
                    RequireRecord(key, r.Name, _recordsById[_typedefOfAnonymousRecord.First(kv => kv.Value == r.Name).Key]);
                else throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: {key} is not declared");
                if (byValue && _emitted.TryGetValue(r.Name, out var d) && d.Opaque)
                    throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: incomplete type {key} used by value");
                break;
        }
    }

    void CollectEnum(AstNode node, string? typedefName = null)
    {
        foreach (var c in node.Inner.Where(c => c.Kind == "EnumConstantDecl"))
            _enumeratorLocations[c.Name] = Loc(c);
        var name = node.Name.Length > 0 ? node.Name : typedefName;
        if (name is null || _enums.ContainsKey(name) || spec.ProvidedEnums.Contains(name)) return;
        var def = new EnumDef { Name = name, CSpelling = node.Name.Length > 0 ? "enum " + name : name, Location = Loc(node) };
        def.MemberNames.AddRange(node.Inner.Where(c => c.Kind == "EnumConstantDecl").Select(c => c.Name));
        _enums[name] = def;
        _model.Enums.Add(def);
    }

    readonly Dictionary<string, string> _enumeratorLocations = [];
    readonly Dictionary<string, HashSet<string>> _callees = [];

    /// <summary>Names of every function a body refers to (calls or takes the address of), from clang's referencedDecl entries.</summary>
    static HashSet<string> Callees(System.Text.Json.JsonElement element)
    {
        var names = new HashSet<string>();
        void Walk(System.Text.Json.JsonElement e)
        {
            switch (e.ValueKind)
            {
                case System.Text.Json.JsonValueKind.Object:
                    if (e.TryGetProperty("referencedDecl", out var r) && r.TryGetProperty("kind", out var k) && k.GetString() == "FunctionDecl"
                        && r.TryGetProperty("name", out var n))
                        names.Add(n.GetString() ?? "");
                    foreach (var p in e.EnumerateObject()) Walk(p.Value);
                    break;
                case System.Text.Json.JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray()) Walk(item);
                    break;
            }
        }
        Walk(element);
        return names;
    }

    /// <summary>Marks inline helpers that reach only builtins and other leaf helpers (fixed point over the call graph).</summary>
    void MarkLeafFunctions()
    {
        static bool IsBuiltin(string name) => name.StartsWith("__builtin_", StringComparison.Ordinal)
            || name.StartsWith("__c11_atomic_", StringComparison.Ordinal) || name.StartsWith("__atomic_", StringComparison.Ordinal);
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
        for (var i = 0; i < _model.Functions.Count; i++)
            if (leaf.Contains(_model.Functions[i].Name)) _model.Functions[i] = _model.Functions[i] with { IsLeaf = true };
    }

    void CollectFunction(AstNode node)
    {
        if (_model.Functions.Any(f => f.Name == node.Name)) return;
        var where = $"{Loc(node)}: function {node.Name}";
        var type = node.QualType ?? "";
        var ret = Canonical(ParseType(ReturnSpelling(type, where), where), where);
        var parameters = new List<ParamDef>();
        var index = 0;
        foreach (var p in node.Inner.Where(c => c.Kind == "ParmVarDecl"))
        {
            var pt = Canonical(ParseType(p.QualType ?? "", where), where);
            parameters.Add(new ParamDef(p.Name.Length > 0 ? p.Name : $"arg{index}", pt));
            index++;
        }
        string? note = null;
        if (node.Flag("variadic"))
        {
            if (!spec.VariadicOverrides.TryGetValue(node.Name, out var ov))
                throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: variadic functions cannot be bound with [LibraryImport]");
            for (var i = 1; i <= ov.ExtraLongParameters; i++) parameters.Add(new ParamDef($"arg{i}", new CBuiltin("long")));
            note = ov.Why;
        }
        RequireType(ret, where, byValue: true);
        foreach (var p in parameters) RequireType(p.Type, where, byValue: true);
        var inline = node.Str("storageClass") == "static" && node.Flag("inline");
        var draft = new FunctionDef(node.Name, ret, parameters, inline, "", Loc(node), note);
        _model.Functions.Add(draft with { Library = spec.LibraryFor(draft) });
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
        throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: unexpected function type '{functionType}'");
    }

    void DumpLayouts()
    {
        var probe = new StringBuilder(spec.Prelude).Append('\n');
        var i = 0;
        foreach (var r in _model.Records.Where(r => !r.Opaque))
            probe.Append(CultureInfo.InvariantCulture, $"unsigned long __uring_layout_probe_{i++} = sizeof({r.CSpelling});\n");
        foreach (var e in _model.Enums)
            probe.Append(CultureInfo.InvariantCulture, $"unsigned long __uring_layout_probe_{i++} = sizeof({e.CSpelling});\n");
        var result = clang.RunOnSource(probe.ToString(), spec.IncludeDirs, ["-fsyntax-only", "-Xclang", "-fdump-record-layouts"]);
        if (!result.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed, $"clang could not lay out the {spec.Name} records:\n{ClangDriver.Diagnostics(result.StdErr)}");
        try
        {
            _layouts = LayoutDumpParser.Parse(result.StdOut);
        }
        catch (FormatException e)
        {
            throw new ToolkitException(ExitCodes.GeneratorError, $"{spec.Name}: cannot read clang's record layout dump: {e.Message}");
        }
    }

    RecordLayout LayoutOf(RecordDef record)
    {
        if (record.CSpelling is not null && _layouts.TryGetValue(record.CSpelling, out var l)) return l;
        throw new ToolkitException(ExitCodes.GeneratorError, $"{record.Location}: clang printed no layout for {record.CSpelling}");
    }

    void FillLayout(RecordDef record)
    {
        var layout = LayoutOf(record);
        record.Size = layout.Size;
        record.Align = layout.Align;
        var node = record.CSpelling!.Contains(' ') ? _recordsByTag[record.CSpelling] : _recordsById[_typedefOfAnonymousRecord.First(kv => kv.Value == record.Name).Key];
        AddFields(record, node, layout.Root, viaAnonymous: false);
    }

    void AddFields(RecordDef record, AstNode node, LayoutEntry entry, bool viaAnonymous)
    {
        var fields = node.Inner.Where(c => c.Kind == "FieldDecl").ToList();
        if (fields.Count != entry.Children.Count)
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{Loc(node)}: {record.Name} has {fields.Count} fields in the AST but {entry.Children.Count} in clang's layout dump");
        for (var i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            var d = entry.Children[i];
            var where = $"{Loc(f)}: field {record.Name}.{(f.Name.Length > 0 ? f.Name : "(anonymous)")}";
            if (d.Bits is not null || f.Flag("isBitfield"))
            {
                AddBitfield(record, f, d, where, viaAnonymous);
                continue;
            }
            if (f.Name.Length == 0)
            {
                // Anonymous struct/union member: its fields become fields of the owner (C allows record.x directly).
                AddFields(record, AnonymousRecordOf(f), d, viaAnonymous: true);
                continue;
            }
            var type = Canonical(ParseType(f.QualType ?? "", where), where);
            if (type is CTagged { AnonKey: { } anonKey } && !_typedefOfAnonymousRecordByKey(anonKey))
            {
                var nestedName = $"{record.Name}_{f.Name}";
                var nestedLayout = NestedLayout(d, where);
                if (nestedLayout.Size == 0)
                {
                    // GNU empty struct (e.g. the __empty_bufs placeholder of __DECLARE_FLEX_ARRAY): no storage, no C# equivalent.
                    _model.Skipped.Add(new SkippedDecl($"{record.Name}.{f.Name}", Loc(f), "zero-sized GNU empty struct member (placeholder of __DECLARE_FLEX_ARRAY); it has no storage"));
                    continue;
                }
                if (!_emitted.ContainsKey(nestedName))
                {
                    var nested = new RecordDef
                    {
                        // C can still name the type through the owner: __typeof__(((struct owner *)0)->field).
                        Name = nestedName, CSpelling = $"__typeof__((({record.CSpelling} *)0)->{f.Name})", IsNested = true, IsUnion = type is CTagged { Tag: "union" }, Location = Loc(f), Unit = spec.Name,
                        Size = nestedLayout.Size, Align = nestedLayout.Align,
                    };
                    _emitted[nestedName] = nested;
                    _model.Records.Add(nested);
                    // Offsets in the nested dump are relative to the unnamed type itself.
                    AddFields(nested, AnonymousRecordOf(f), nestedLayout.Root, viaAnonymous: false);
                }
                _model.AnonymousRecordNames[anonKey] = nestedName;
                record.Fields.Add(new FieldDef(f.Name, new CTagged(((CTagged)type).Tag, nestedName, null), d.Offset, nestedLayout.Size, FieldKind.Plain, viaAnonymous));
                continue;
            }
            var kind = type is CArray { Length: null or 0 } ? FieldKind.Trailing : FieldKind.Plain;
            record.Fields.Add(new FieldDef(f.Name, type, d.Offset, kind == FieldKind.Trailing ? 0 : SizeOf(type, where), kind, viaAnonymous));
        }
    }

    /// <summary>Bitfields become properties over the bits clang assigned; unnamed ones are padding and only listed.</summary>
    void AddBitfield(RecordDef record, AstNode f, LayoutEntry d, string where, bool viaAnonymous)
    {
        if (d.Bits is not { } bits || !f.Flag("isBitfield"))
            throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: the AST and clang's layout dump disagree on whether this is a bitfield");
        if (f.Name.Length == 0)
        {
            _model.Skipped.Add(new SkippedDecl($"{record.Name}.(unnamed bitfield)", Loc(f), "unnamed bitfield: padding, no value to access"));
            return;
        }
        var type = Canonical(ParseType(f.QualType ?? "", where), where);
        var signed = type switch
        {
            CBuiltin { Name: "char" or "signed char" or "short" or "int" or "long" or "long long" } => true,
            CBuiltin { Name: "unsigned char" or "unsigned short" or "unsigned int" or "unsigned long" or "unsigned long long" or "_Bool" } => false,
            CTagged { Tag: "enum" } => false, // refined below once the enum's signedness is probed
            _ => throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: bitfield of non-integer type {type.Spell()}"),
        };
        var width = bits.Last - bits.First + 1;
        if (width <= 0 || width > 64)
            throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: bitfield width {width} is not supported");
        record.Fields.Add(new FieldDef(f.Name, type, d.Offset, SizeOf(type, where), FieldKind.Bitfield, viaAnonymous)
        {
            BitStart = bits.First, BitWidth = width, Signed = signed,
        });
    }

    /// <summary>
    /// The separate dump block of a named field's unnamed type. Clang spells the owner differently
    /// in the block header for deeper nesting, so fall back to the "(unnamed at file:line:col)" part.
    /// </summary>
    RecordLayout NestedLayout(LayoutEntry d, string where)
    {
        if (_layouts.TryGetValue(d.TypeText, out var l)) return l;
        var paren = d.TypeText.LastIndexOf('(');
        if (paren >= 0)
        {
            var suffix = d.TypeText[paren..];
            foreach (var (key, layout) in _layouts)
                if (key.EndsWith(suffix, StringComparison.Ordinal) && layout.Root.Children.Count == d.Children.Count) return layout;
        }
        throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: clang printed no layout for its unnamed type {d.TypeText}");
    }

    bool _typedefOfAnonymousRecordByKey(string key)
        => _recordsByLocation.TryGetValue(key, out var r) && _typedefOfAnonymousRecord.ContainsKey(r.Id);

    /// <summary>Field sizes for the layout tests: records and enums from clang, builtins per the x86-64 LP64 ABI.</summary>
    public long SizeOf(CType t, string where) => t switch
    {
        CPointer or CFunctionPointer => 8,
        CTypedefName { Name: "size_t" or "ssize_t" } => 8,
        CArray a => (a.Length ?? 0) * SizeOf(a.Element, where),
        CBuiltin b => b.Name switch
        {
            "char" or "signed char" or "unsigned char" or "_Bool" => 1,
            "short" or "unsigned short" => 2,
            "int" or "unsigned int" or "float" => 4,
            "long" or "unsigned long" or "long long" or "unsigned long long" or "double" => 8,
            "__int128" or "unsigned __int128" => 16,
            _ => throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: unsupported builtin type {b.Name}"),
        },
        CTagged { Tag: "enum" } e => _enumSizes.TryGetValue(e.Name, out var s) ? s : 4,
        CTagged r when _emitted.TryGetValue(r.Name, out var def) && !def.Opaque => def.Size == 0 ? LayoutOf(def).Size : def.Size,
        // Records bound by an earlier unit are still laid out in this translation unit.
        CTagged r when _layouts.TryGetValue(r.Tag + " " + r.Name, out var l) || _layouts.TryGetValue(r.Name, out l) => l.Size,
        CTagged r => throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: size of {r.Spell()} is unknown"),
        _ => throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: unsupported type {t}"),
    };

    [GeneratedRegex(@"^#\s*define\s+(?<name>[A-Za-z_]\w*)(?<fn>\()?(?<body>.*)$")]
    private static partial Regex DefineRegex();

    [GeneratedRegex(@"^#\s*undef\s+(?<name>[A-Za-z_]\w*)")]
    private static partial Regex UndefRegex();

    [GeneratedRegex(@"^#\s+(?<line>\d+)\s+""(?<file>[^""]*)""")]
    private static partial Regex LineMarkerRegex();

    sealed record MacroSeen(string Name, string Body, bool FunctionLike, string File, int Line);

    /// <summary>Finds the macros defined by the inputs (from -E -dD with line markers), classifies them with clang and evaluates the integer ones.</summary>
    void EvaluateConstants(List<AstNode> ast)
    {
        var pre = clang.RunOnSource(spec.Prelude, spec.IncludeDirs, ["-E", "-dD"]);
        if (!pre.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed, $"clang -E could not preprocess the {spec.Name} headers:\n{ClangDriver.Diagnostics(pre.StdErr)}");
        var macros = new Dictionary<string, MacroSeen>();
        var order = new List<string>();
        string file = "";
        var line = 0;
        foreach (var raw in pre.StdOut.Split('\n'))
        {
            var marker = LineMarkerRegex().Match(raw);
            if (marker.Success) { file = marker.Groups["file"].Value; line = int.Parse(marker.Groups["line"].Value); continue; }
            var def = DefineRegex().Match(raw);
            if (def.Success)
            {
                var name = def.Groups["name"].Value;
                if (spec.IsPrimaryFile(file) || spec.MacroSelection.Contains(name))
                {
                    if (!macros.ContainsKey(name)) order.Add(name);
                    macros[name] = new MacroSeen(name, def.Groups["body"].Value.Trim(), def.Groups["fn"].Success, file, line);
                }
            }
            else if (UndefRegex().Match(raw) is { Success: true } undef && macros.Remove(undef.Groups["name"].Value, out var gone))
            {
                order.Remove(gone.Name);
                _model.Skipped.Add(new SkippedDecl(gone.Name, $"{spec.DisplayPath(gone.File)}:{gone.Line}", $"#undef'd again at {spec.DisplayPath(file)}:{line}"));
            }
            line++;
        }
        foreach (var wanted in spec.MacroSelection)
            if (!macros.ContainsKey(wanted))
                throw new ToolkitException(ExitCodes.GeneratorError, $"{spec.Name}: selected macro {wanted} is not defined by the headers");

        var candidates = new List<MacroSeen>();
        foreach (var name in order)
        {
            var m = macros[name];
            var where = $"{spec.DisplayPath(m.File)}:{m.Line}";
            if (m.FunctionLike) _model.Skipped.Add(new SkippedDecl(name, where, "function-like macro"));
            else if (m.Body.Length == 0) _model.Skipped.Add(new SkippedDecl(name, where, "empty definition (include guard or feature flag)"));
            else candidates.Add(m);
        }

        // Let clang decide which bodies are integer constant expressions: one _Static_assert per macro, each on its own #line.
        var check = new StringBuilder(spec.Prelude).Append('\n');
        for (var i = 0; i < candidates.Count; i++)
            check.Append(CultureInfo.InvariantCulture, $"#line {100000 + i}\n_Static_assert(__builtin_classify_type({candidates[i].Name}) <= 4 && (({candidates[i].Name}) || 1), \"\");\n");
        var checkResult = clang.RunOnSource(check.ToString(), spec.IncludeDirs, ["-fsyntax-only", "-ferror-limit=0"]);
        var rejected = new Dictionary<int, string>();
        foreach (var diag in checkResult.StdErr.Split('\n'))
        {
            var m = ProbeErrorRegex().Match(diag);
            if (m.Success) rejected.TryAdd(int.Parse(m.Groups["line"].Value) - 100000, m.Groups["msg"].Value.Trim());
        }
        if (!checkResult.Succeeded && rejected.Count == 0)
            throw new ToolkitException(ExitCodes.BuildFailed, $"clang failed on the {spec.Name} constant probe:\n{ClangDriver.Diagnostics(checkResult.StdErr)}");
        var integer = new List<MacroSeen>();
        for (var i = 0; i < candidates.Count; i++)
        {
            var m = candidates[i];
            if (!rejected.TryGetValue(i, out var why)) { integer.Add(m); continue; }
            if (spec.MacroSelection.Contains(m.Name))
                throw new ToolkitException(ExitCodes.GeneratorError, $"{spec.DisplayPath(m.File)}:{m.Line}: selected macro {m.Name} is not an integer constant ({why})");
            _model.Skipped.Add(new SkippedDecl(m.Name, $"{spec.DisplayPath(m.File)}:{m.Line}", $"not an integer constant expression (clang: {why})"));
        }

        // Enumerators of the primary files' enums are constants too (C gives them type int).
        var enumerators = new List<(string Name, string Location)>();
        foreach (var n in ast.Where(n => n.Kind == "EnumDecl" && spec.IsPrimaryFile(n.File)))
            foreach (var c in n.Inner.Where(c => c.Kind == "EnumConstantDecl"))
                enumerators.Add((c.Name, Loc(c)));
        foreach (var e in _model.Enums)
            foreach (var m in e.MemberNames)
                if (!enumerators.Any(x => x.Name == m)) enumerators.Add((m, _enumeratorLocations.GetValueOrDefault(m, e.Location)));

        var program = new StringBuilder("#include <stdio.h>\n").Append(spec.Prelude).Append('\n');
        program.Append("#define __URING_PROBE(n) printf(\"C %s %d %d %llu\\n\", #n, (int)sizeof(n), (int)(((__typeof__(n))-1) < 0), (unsigned long long)(n));\n");
        program.Append("int main(void) {\n");
        foreach (var m in integer) program.Append(CultureInfo.InvariantCulture, $"__URING_PROBE({m.Name})\n");
        foreach (var (name, _) in enumerators) program.Append(CultureInfo.InvariantCulture, $"__URING_PROBE({name})\n");
        foreach (var e in _model.Enums)
            program.Append(CultureInfo.InvariantCulture, $"printf(\"E {e.Name} %d %d\\n\", (int)sizeof({e.CSpelling}), (int)((({e.CSpelling})-1) < 0));\n");
        program.Append("return 0; }\n");
        var output = clang.CompileAndRun(program.ToString(), spec.IncludeDirs, $"{spec.Name} constant probe");

        var values = new Dictionary<string, (int Size, bool Signed, ulong Raw)>();
        foreach (var l in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = l.Split(' ');
            if (p[0] == "C") values[p[1]] = (int.Parse(p[2]), p[3] == "1", ulong.Parse(p[4]));
            else if (p[0] == "E")
            {
                var e = _enums[p[1]];
                e.Size = int.Parse(p[2]);
                e.Signed = p[3] == "1";
                _enumSizes[e.Name] = e.Size;
            }
        }
        foreach (var m in integer)
        {
            var v = values[m.Name];
            _model.Constants.Add(new ConstantDef(m.Name, v.Size, v.Signed, v.Raw, $"{spec.DisplayPath(m.File)}:{m.Line}", false));
        }
        foreach (var (name, location) in enumerators)
        {
            var v = values[name];
            _model.Constants.Add(new ConstantDef(name, v.Size, v.Signed, v.Raw, location, true));
        }
        foreach (var e in _model.Enums)
            foreach (var m in e.MemberNames)
                e.Members.Add(new EnumMember(m, Truncate(values[m], e.Size, e.Signed)));
        // Enum field sizes (and signedness, for enum bitfields) are now known; records were sized before with the common default, so recheck.
        foreach (var r in _model.Records)
            foreach (var f in r.Fields.ToList())
                if (f.Type is CTagged { Tag: "enum" } et && _enums.TryGetValue(et.Name, out var ed))
                    r.Fields[r.Fields.IndexOf(f)] = f with { Size = ed.Size, Signed = f.Kind == FieldKind.Bitfield && ed.Signed };
    }

    static long Truncate((int Size, bool Signed, ulong Raw) v, int size, bool signedEnum)
        => signedEnum || v.Signed ? unchecked((long)v.Raw) : size <= 4 ? (long)(uint)v.Raw : unchecked((long)v.Raw);

    [GeneratedRegex(@"probe\.c:(?<line>\d+):\d+: error: (?<msg>.*)$")]
    private static partial Regex ProbeErrorRegex();

    /// <summary>Every bound function must be exported by the library it is bound to; inline helpers that liburing-ffi does not export are listed as skipped.</summary>
    void VerifyExports()
    {
        if (spec.SharedObjects.Count == 0) return;
        var exports = new Dictionary<string, HashSet<string>>();
        foreach (var (lib, path) in spec.SharedObjects)
        {
            if (!File.Exists(path)) throw new ToolkitException(ExitCodes.Usage, $"{path} does not exist (build liburing first: toolkit liburing build)");
            var nm = Proc.Capture(Proc.Require("nm", "list the symbols liburing exports"), ["-D", "--defined-only", path]);
            if (!nm.Succeeded) throw new ToolkitException(ExitCodes.GeneratorError, $"nm -D {path} failed: {nm.StdErr}");
            exports[lib] = nm.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last().Split('@')[0]).ToHashSet();
        }
        foreach (var f in _model.Functions.ToList())
        {
            if (!exports.TryGetValue(f.Library, out var set)) continue;
            if (set.Contains(f.Name)) continue;
            if (f.IsInline)
            {
                _model.Functions.Remove(f);
                _model.Skipped.Add(new SkippedDecl(f.Name, f.Location, $"static inline helper not exported by {f.Library}"));
            }
            else throw new ToolkitException(ExitCodes.GeneratorError, $"{f.Location}: {f.Name} is declared but not exported by {Path.GetFileName(spec.SharedObjects[f.Library])}");
        }
    }
}
