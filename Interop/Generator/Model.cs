namespace IoUring.Interop.Generator;

/// <summary>How a field is represented in C#.</summary>
public enum FieldKind
{
    /// <summary>Ordinary storage at a clang-given offset.</summary>
    Plain,
    /// <summary>C99 flexible array member (<c>T x[]</c>) or GNU zero-length array (<c>T x[0]</c>): an accessor, no
    /// storage.</summary>
    Trailing,
    /// <summary>A bitfield: a property reading/writing <see cref="FieldDef.BitWidth"/> bits from bit <see
    /// cref="FieldDef.BitStart"/> of byte <see cref="FieldDef.Offset"/>.</summary>
    Bitfield,
}

/// <summary>A field of a record, flattened out of anonymous members; offsets are absolute within the outermost
/// record.</summary>
public sealed record FieldDef(string Name, CType Type, long Offset, long Size, FieldKind Kind, bool ViaAnonymousMember)
{
    /// <summary>First bit, counted from bit 0 of the byte at <see cref="Offset"/> (bitfields only; may exceed
    /// 7).</summary>
    public int BitStart { get; init; }
    public int BitWidth { get; init; }
    public bool Signed { get; init; }
}

/// <summary>A struct or union with clang's layout.</summary>
public sealed class RecordDef
{
    /// <summary>C# type name: the tag, the typedef name of an unnamed typedef'd record, or owner_field for a named
    /// field of unnamed type.</summary>
    public required string Name { get; init; }
    /// <summary>How C code names the type in sizeof/offsetof ("struct io_uring_sqe", "__sigset_t"); null when C cannot
    /// name it.</summary>
    public string? CSpelling { get; init; }
    public bool IsUnion { get; init; }
    public long Size { get; set; }
    public int Align { get; set; }
    public List<FieldDef> Fields { get; } = [];
    /// <summary>Declared without a definition: only usable behind a pointer.</summary>
    public bool Opaque { get; init; }
    public required string Location { get; init; }
    public required string Unit { get; init; }
    /// <summary>A named field's unnamed record type: laid out with its owner, not on its own.</summary>
    public bool IsNested { get; init; }
}

public sealed record EnumMember(string Name, long Value);

/// <summary>A named C enum: a C# enum with clang's underlying size and signedness.</summary>
public sealed class EnumDef
{
    public required string Name { get; init; }
    /// <summary>"enum name", or the typedef name of a typedef'd unnamed enum.</summary>
    public required string CSpelling { get; init; }
    public required string Location { get; init; }
    public List<string> MemberNames { get; } = [];
    public int Size { get; set; }
    public bool Signed { get; set; }
    public List<EnumMember> Members { get; } = [];
}

/// <summary>A macro or enumerator evaluated by a compiled probe: value, sizeof and signedness of its C type.</summary>
public sealed record ConstantDef(string Name, int Size, bool Signed, ulong RawValue, string Location, bool IsEnumerator)
{
    public long SignedValue => unchecked((long)RawValue);
}

public sealed record ParamDef(string Name, CType Type);

/// <summary>A function bound with [LibraryImport]; <see cref="Library"/> is the logical library name the resolver
/// maps.</summary>
public sealed record FunctionDef(string Name, CType Return, IReadOnlyList<ParamDef> Parameters, bool IsInline,
    string Library, string Location, string? Note)
{
    /// <summary>
    /// An inline helper whose body (per clang's AST) calls only other such helpers and compiler builtins:
    /// no syscall, no library call, so it never blocks and can skip the GC transition.
    /// </summary>
    public bool IsLeaf { get; init; }
}

/// <summary>Something present in an input that is deliberately not bound, with the reason (emitted into the output so
/// nothing disappears silently).</summary>
public sealed record SkippedDecl(string Name, string Location, string Reason);

/// <summary>Everything one translation unit contributes.</summary>
public sealed class UnitModel
{
    public required UnitSpec Spec { get; init; }
    public List<RecordDef> Records { get; } = [];
    public List<EnumDef> Enums { get; } = [];
    public List<ConstantDef> Constants { get; } = [];
    public List<FunctionDef> Functions { get; } = [];
    public List<SkippedDecl> Skipped { get; } = [];
    /// <summary>Typedefs resolved to their targets, used when mapping types to C#.</summary>
    public Dictionary<string, CType> Typedefs { get; } = [];
    /// <summary>C# names of unnamed records, keyed by clang's "file:line:col".</summary>
    public Dictionary<string, string> AnonymousRecordNames { get; } = [];
}

/// <summary>Variadic functions need an explicit fixed signature; x86-64 SysV passes integer varargs like fixed
/// arguments.</summary>
public sealed record VariadicOverride(int ExtraLongParameters, string Why);

/// <summary>
/// One translation unit the generator reads: which headers, which files are "ours" (every
/// declaration bound) and, for system headers, the explicit selection.
/// </summary>
public sealed class UnitSpec
{
    public required string Name { get; init; }
    /// <summary>C source that includes the input headers (also the prelude of the layout assert file).</summary>
    public required string Prelude { get; init; }
    public required IReadOnlyList<string> IncludeDirs { get; init; }
    /// <summary>True for files whose every declaration, enum and macro is bound.</summary>
    public required Func<string, bool> IsPrimaryFile { get; init; }
    /// <summary>Maps an absolute header path to the machine-independent name used in output (e.g.
    /// "linux/io_uring.h").</summary>
    public required Func<string, string> DisplayPath { get; init; }
    /// <summary>Functions bound from non-primary files (the libc selection).</summary>
    public IReadOnlySet<string> FunctionSelection { get; init; } = new HashSet<string>();
    /// <summary>Macros bound from non-primary files (the libc selection).</summary>
    public IReadOnlySet<string> MacroSelection { get; init; } = new HashSet<string>();
    public IReadOnlyDictionary<string, VariadicOverride> VariadicOverrides { get; init; } = new Dictionary<string,
        VariadicOverride>();
    /// <summary>Library for a function: "liburing", "liburing-ffi", "libc".</summary>
    public required Func<FunctionDef, string> LibraryFor { get; init; }
    /// <summary>Shared object per logical library, used to verify that every bound function is exported.</summary>
    public IReadOnlyDictionary<string, string> SharedObjects { get; init; } = new Dictionary<string, string>();
    /// <summary>Records whose name is already provided by an earlier unit (e.g. the kernel's io_uring_sqe for
    /// liburing.h).</summary>
    public IReadOnlySet<string> ProvidedRecords { get; set; } = new HashSet<string>();
    public IReadOnlySet<string> ProvidedEnums { get; set; } = new HashSet<string>();
}
