using System.Globalization;
using System.Text;

namespace IoUring.Interop.Generator;

/// <summary>The records a unit binds, by C# name, in the order they are added to the unit model.</summary>
sealed class BoundRecords(UnitModel model)
{
    readonly Dictionary<string, RecordDef> _byName = [];

    public bool Contains(string name) => _byName.ContainsKey(name);

    public bool TryGet(string name, out RecordDef def) => _byName.TryGetValue(name, out def!);

    public void Add(RecordDef def)
    {
        _byName[def.Name] = def;
        model.Records.Add(def);
    }
}

/// <summary>
/// Gives bound records clang's layout: one -fdump-record-layouts run for the whole unit, then sizes,
/// alignments and field offsets, flattening anonymous members and naming nested unnamed types.
/// </summary>
sealed class RecordLayouter(ClangDriver clang, UnitSpec spec, UnitModel model, AstSymbolTable symbols,
    TypeResolver types, BoundRecords records, IReadOnlyDictionary<string, EnumDef> enums)
{
    Dictionary<string, RecordLayout> _layouts = [];

    /// <summary>Dumps the layouts of every record and enum bound so far, all at once.</summary>
    public void DumpLayouts()
    {
        var probe = new StringBuilder(spec.Prelude).Append('\n');
        var i = 0;
        var spellings = model.Records.Where(r => !r.Opaque).Select(r => r.CSpelling)
            .Concat(model.Enums.Select(e => e.CSpelling));
        foreach (var spelling in spellings)
            probe.Append(CultureInfo.InvariantCulture,
                $"unsigned long __uring_layout_probe_{i++} = sizeof({spelling});\n");
        var result = clang.RunOnSource(probe.ToString(), spec.IncludeDirs,
            ["-fsyntax-only", "-Xclang", "-fdump-record-layouts"]);
        if (!result.Succeeded)
            throw new ToolkitException(ExitCodes.BuildFailed,
                $"clang could not lay out the {spec.Name} records:\n{ClangDriver.Diagnostics(result.StdErr)}");
        try
        {
            _layouts = LayoutDumpParser.Parse(result.StdOut);
        }
        catch (FormatException e)
        {
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{spec.Name}: cannot read clang's record layout dump: {e.Message}");
        }
    }

    /// <summary>Lays out every complete top-level record; nested ones are laid out with their owner.</summary>
    public void FillLayouts()
    {
        // A snapshot: laying out an owner adds its nested records to the model.
        foreach (var record in model.Records.ToList())
            if (!record.Opaque && !record.IsNested) FillLayout(record);
    }

    void FillLayout(RecordDef record)
    {
        var layout = LayoutOf(record);
        record.Size = layout.Size;
        record.Align = layout.Align;
        var node = record.CSpelling!.Contains(' ')
            ? symbols.Definition(record.CSpelling)
            : symbols.UnnamedRecordTypedefdAs(record.Name)
                ?? throw new InvalidOperationException($"no unnamed record is typedef'd as {record.Name}");
        AddFields(record, node, layout.Root, viaAnonymous: false);
    }

    RecordLayout LayoutOf(RecordDef record)
    {
        if (record.CSpelling is not null && _layouts.TryGetValue(record.CSpelling, out var l)) return l;
        throw new ToolkitException(ExitCodes.GeneratorError,
            $"{record.Location}: clang printed no layout for {record.CSpelling}");
    }

    /// <summary>
    /// Adds the fields of <paramref name="node"/>, pairing each AST field with its entry in clang's dump.
    /// </summary>
    void AddFields(RecordDef record, AstNode node, LayoutEntry entry, bool viaAnonymous)
    {
        var fields = node.Inner.Where(c => c.Kind == "FieldDecl").ToList();
        if (fields.Count != entry.Children.Count)
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{symbols.Loc(node)}: {record.Name} has {fields.Count} fields in the AST but "
                + $"{entry.Children.Count} in clang's layout dump");
        for (var i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            var d = entry.Children[i];
            var where = $"{symbols.Loc(f)}: field {record.Name}.{(f.Name.Length > 0 ? f.Name : "(anonymous)")}";
            if (d.Bits is not null || f.Flag("isBitfield"))
            {
                AddBitfield(record, f, d, where, viaAnonymous);
                continue;
            }
            if (f.Name.Length == 0)
            {
                // Anonymous struct/union member: its fields become fields of the owner (C allows record.x directly).
                AddFields(record, symbols.AnonymousRecordOf(f), d, viaAnonymous: true);
                continue;
            }
            var type = types.CanonicalOf(f, where);
            if (type is CTagged { AnonKey: { } anonKey } && symbols.TypedefNameOfUnnamedRecordAt(anonKey) is null)
            {
                AddFieldOfUnnamedType(record, f, d, (CTagged)type, where, viaAnonymous);
                continue;
            }
            var kind = type is CArray { Length: null or 0 } ? FieldKind.Trailing : FieldKind.Plain;
            var size = kind == FieldKind.Trailing ? 0 : SizeOf(type, where);
            record.Fields.Add(new FieldDef(f.Name, type, d.Offset, size, kind, viaAnonymous));
        }
    }

    /// <summary>
    /// A named field of unnamed struct/union type: the type is bound as owner_field, laid out from its own dump block.
    /// </summary>
    void AddFieldOfUnnamedType(RecordDef record, AstNode f, LayoutEntry d, CTagged type, string where,
        bool viaAnonymous)
    {
        var nestedName = $"{record.Name}_{f.Name}";
        var nestedLayout = NestedLayout(d, where);
        if (nestedLayout.Size == 0)
        {
            // GNU empty struct (e.g. the __empty_bufs placeholder of __DECLARE_FLEX_ARRAY): no storage, no C#
            // equivalent.
            model.Skipped.Add(new SkippedDecl($"{record.Name}.{f.Name}", symbols.Loc(f),
                "zero-sized GNU empty struct member (placeholder of __DECLARE_FLEX_ARRAY); it has no storage"));
            return;
        }
        if (!records.Contains(nestedName))
        {
            var nested = new RecordDef
            {
                // C can still name the type through the owner: __typeof__(((struct owner *)0)->field).
                Name = nestedName,
                CSpelling = $"__typeof__((({record.CSpelling} *)0)->{f.Name})",
                IsNested = true,
                IsUnion = type is { Tag: "union" },
                Location = symbols.Loc(f),
                Unit = spec.Name,
                Size = nestedLayout.Size,
                Align = nestedLayout.Align,
            };
            records.Add(nested);
            // Offsets in the nested dump are relative to the unnamed type itself.
            AddFields(nested, symbols.AnonymousRecordOf(f), nestedLayout.Root, viaAnonymous: false);
        }
        model.AnonymousRecordNames[type.AnonKey!] = nestedName;
        record.Fields.Add(new FieldDef(f.Name, new CTagged(type.Tag, nestedName, null), d.Offset, nestedLayout.Size,
            FieldKind.Plain, viaAnonymous));
    }

    /// <summary>
    /// Bitfields become properties over the bits clang assigned; unnamed ones are padding and only listed.
    /// </summary>
    void AddBitfield(RecordDef record, AstNode f, LayoutEntry d, string where, bool viaAnonymous)
    {
        if (d.Bits is not { } bits || !f.Flag("isBitfield"))
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: the AST and clang's layout dump disagree on whether this is a bitfield");
        if (f.Name.Length == 0)
        {
            model.Skipped.Add(new SkippedDecl($"{record.Name}.(unnamed bitfield)", symbols.Loc(f),
                "unnamed bitfield: padding, no value to access"));
            return;
        }
        var type = types.CanonicalOf(f, where);
        var signed = type switch
        {
            CBuiltin { Name: "char" or "signed char" or "short" or "int" or "long" or "long long" } => true,
            CBuiltin
            {
                Name: "unsigned char" or "unsigned short" or "unsigned int" or "unsigned long"
                or "unsigned long long" or "_Bool"
            } => false,
            CTagged { Tag: "enum" } => false, // refined once the constant probe has measured the enum's signedness
            _ => throw new ToolkitException(ExitCodes.GeneratorError,
                    $"{where}: bitfield of non-integer type {type.Spell()}"),
        };
        var width = bits.Last - bits.First + 1;
        if (width <= 0 || width > 64)
            throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: bitfield width {width} is not supported");
        record.Fields.Add(new FieldDef(f.Name, type, d.Offset, SizeOf(type, where), FieldKind.Bitfield, viaAnonymous)
        {
            BitStart = bits.First,
            BitWidth = width,
            Signed = signed,
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
                if (key.EndsWith(suffix, StringComparison.Ordinal) && layout.Root.Children.Count == d.Children.Count)
                    return layout;
        }
        throw new ToolkitException(ExitCodes.GeneratorError,
            $"{where}: clang printed no layout for its unnamed type {d.TypeText}");
    }

    /// <summary>
    /// Field sizes for the layout tests: records and enums from clang, builtins per the x86-64 LP64 ABI.
    /// </summary>
    long SizeOf(CType t, string where) => t switch
    {
        CPointer or CFunctionPointer => 8,
        CTypedefName { Name: "size_t" or "ssize_t" } => 8,
        CArray a => (a.Length ?? 0) * SizeOf(a.Element, where),
        CBuiltin b => BuiltinSize(b, where),
        // An enum's size is 0 until the constant probe has measured it; C's common default until then.
        CTagged { Tag: "enum" } e => enums.TryGetValue(e.Name, out var ed) && ed.Size > 0 ? ed.Size : 4,
        CTagged r when records.TryGet(r.Name, out var def) && !def.Opaque
            => def.Size == 0 ? LayoutOf(def).Size : def.Size,
        // Records bound by an earlier unit are still laid out in this translation unit.
        CTagged r when _layouts.TryGetValue(r.Tag + " " + r.Name, out var l) || _layouts.TryGetValue(r.Name, out l)
            => l.Size,
        CTagged r => throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: size of {r.Spell()} is unknown"),
        _ => throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: unsupported type {t}"),
    };

    static long BuiltinSize(CBuiltin b, string where) => b.Name switch
    {
        "char" or "signed char" or "unsigned char" or "_Bool" => 1,
        "short" or "unsigned short" => 2,
        "int" or "unsigned int" or "float" => 4,
        "long" or "unsigned long" or "long long" or "unsigned long long" or "double" => 8,
        "__int128" or "unsigned __int128" => 16,
        _ => throw new ToolkitException(ExitCodes.GeneratorError,
                $"{where}: unsupported builtin type {b.Name}"),
    };
}
