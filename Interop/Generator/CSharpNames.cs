namespace IoUring.Interop.Generator;

/// <summary>Maps C types and names to C# for the x86-64 LP64 ABI the bindings target.</summary>
public sealed class CSharpTypeMapper(IReadOnlyDictionary<string, RecordDef> records, IReadOnlyDictionary<string,
    EnumDef> enums)
{
    static readonly HashSet<string> Keywords =
    [
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
            "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false",
            "finally",
        "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is",
            "lock",
        "long", "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected",
        "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string",
        "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort",
        "using", "virtual", "void", "volatile", "while",
    ];

    /// <summary>Fixed-size array types needed by the emitted records: name → (element C# type, length).</summary>
    public SortedDictionary<string, (string Element, long Length)> FixedArrays { get; } = new(StringComparer.Ordinal);

    public static string Identifier(string name) => Keywords.Contains(name) ? "@" + name : name;

    public static string Builtin(string c) => c switch
    {
        "void" => "void",
        "char" or "signed char" => "sbyte",
        "unsigned char" => "byte",
        // C99 _Bool is one byte holding 0 or 1; with DisableRuntimeMarshalling C# bool is exactly that.
        "_Bool" => "bool",
        "short" => "short",
        "unsigned short" => "ushort",
        "int" => "int",
        "unsigned int" => "uint",
        "long" or "long long" => "long",
        "unsigned long" or "unsigned long long" => "ulong",
        "float" => "float",
        "double" => "double",
        "__int128" => "Int128",
        "unsigned __int128" => "UInt128",
        _ => throw new ToolkitException(ExitCodes.GeneratorError, $"builtin type {c} has no C# equivalent"),
    };

    public static string IntegerType(int size, bool signed) => (size, signed) switch
    {
        (1, true) => "sbyte",
        (1, false) => "byte",
        (2, true) => "short",
        (2, false) => "ushort",
        (4, true) => "int",
        (4, false) => "uint",
        (8, true) => "long",
        (8, false) => "ulong",
        _ => throw new ToolkitException(ExitCodes.GeneratorError, $"no C# integer type of {size} bytes"),
    };

    /// <summary>The C# spelling of a (canonical) C type used as a field, parameter or return type.</summary>
    public string Map(CType t, string where) => t switch
    {
        CBuiltin b => Builtin(b.Name),
        CTypedefName { Name: "size_t" } => "nuint",
        CTypedefName { Name: "ssize_t" } => "nint",
        CPointer { Pointee: CFunctionPointer f } => Map(f, where) + "*",
        CPointer p => Map(p.Pointee, where) + "*",
        CFunctionPointer f => $"delegate* unmanaged<{string.Join(", ", f.Parameters.Select(p => Map(p, where)).Append(Map(f.Return, where)))}>",
        CTagged { Tag: "enum" } e when enums.ContainsKey(e.Name) => e.Name,
        CTagged r when records.ContainsKey(r.Name) => r.Name,
        CArray { Length: > 0 } a => FixedArray(a, where),
        _ => throw new ToolkitException(ExitCodes.GeneratorError, $"{where}: type {t} has no C# mapping"),
    };

    string FixedArray(CArray a, string where)
    {
        var element = Map(a.Element, where);
        var token = element.Replace("*", "Ptr").Replace("<", "_").Replace(">", "_").Replace(", ", "_").Replace(" ",
            "_");
        var name = $"FixedArray{a.Length}_{token}";
        FixedArrays[name] = (element, a.Length!.Value);
        return name;
    }
}
