using System.Globalization;
using System.Text;

namespace IoUring.Interop.Generator;

/// <summary>
/// Emits the layout checks twice from the same model: C _Static_asserts compiled against the
/// headers, and a C# expectation table the NUnit tests compare against the C# types.
/// </summary>
public static class TestEmitters
{
    /// <summary>One C file per unit; compiling it with gcc or clang fails on any mismatch.</summary>
    public static string CAsserts(GenerationInputs inputs, UnitModel unit)
    {
        var sb = new StringBuilder();
        sb.Append(CSharpEmitter.Header(inputs, "//"));
        sb.Append($"// Layout and constant checks for the {unit.Spec.Name} headers: compile with -fsyntax-only; any " +
            $"failing assert is a binding bug.\n");
        sb.Append("#include <stddef.h>\n").Append(unit.Spec.Prelude.TrimEnd()).Append("\n\n");
        sb.Append("#define URING_CHECK(cond, what) _Static_assert(cond, what)\n\n");
        // glibc defines accessor macros named like fields (si_pid → _sifields._kill.si_pid); they would
        // rewrite the offsetof designators below, so field names are undefined as macros here.
        var constants = unit.Constants.Select(c => c.Name).ToHashSet();
        foreach (var field in unit.Records.SelectMany(r => r.Fields).Select(f =>
            f.Name).Distinct().Order(StringComparer.Ordinal))
            if (!constants.Contains(field)) sb.Append($"#ifdef {field}\n#undef {field}\n#endif\n");
        sb.Append('\n');
        foreach (var r in unit.Records.Where(r => !r.Opaque))
        {
            var t = r.CSpelling!;
            sb.Append(CultureInfo.InvariantCulture, $"URING_CHECK(sizeof({t}) == {r.Size}, \"sizeof {Esc(t)}\");\n");
            sb.Append(
                CultureInfo.InvariantCulture, $"URING_CHECK(_Alignof({t}) == {r.Align}, \"alignof {Esc(t)}\");\n");
            foreach (var f in r.Fields)
            {
                if (f.Kind == FieldKind.Bitfield) continue; // no offsetof for bitfields: checked at run time by uring_check_bitfields()
                sb.Append(
                    CultureInfo.InvariantCulture, $"URING_CHECK(offsetof({t}, {f.Name}) == {f.Offset}, \"offsetof {Esc(t)}.{f.Name}\");\n");
                var size = f.Kind == FieldKind.Trailing
                    ? $"sizeof((({t} *)0)->{f.Name}[0])" : $"sizeof((({t} *)0)->{f.Name})";
                sb.Append(
                    CultureInfo.InvariantCulture, $"URING_CHECK({size} == {FieldCheckSize(unit, f)}, \"size of {Esc(t)}.{f.Name}\");\n");
            }
        }
        var bitfields = unit.Records.Where(r => !r.Opaque).SelectMany(r => r.Fields.Where(f =>
            f.Kind == FieldKind.Bitfield).Select(f => (r, f))).ToList();
        if (bitfields.Count > 0)
        {
            // C cannot take offsetof a bitfield or inspect one in a constant expression, so bitfields are
            // checked by running code: set the field to all ones in a zeroed record, compare the bytes.
            sb.Append(
                "\n#include <string.h>\n/* Returns 0 when every bitfield occupies the bits the bindings use; " +
                    "otherwise the number of the failing check. */\n");
            sb.Append("int uring_check_bitfields(void)\n{\n");
            var n = 0;
            foreach (var (r, f) in bitfields)
            {
                n++;
                var want = string.Join(", ", BitPattern(r.Size,
                    f).Select(b => b.ToString(CultureInfo.InvariantCulture)));
                sb.Append(
                    CultureInfo.InvariantCulture, $"\t{{ /* {r.CSpelling}.{f.Name} */\n\t\t{r.CSpelling} s;\n\t\tstatic const unsigned char want[{r.Size}] = {{ {want} }};\n");
                sb.Append(
                    CultureInfo.InvariantCulture, $"\t\tmemset(&s, 0, sizeof s);\n\t\ts.{f.Name} = ~0ULL;\n\t\tif " +
                        $"(sizeof s != sizeof want || memcmp(&s, want, sizeof want) != 0) return {n};\n\t}}\n");
            }
            sb.Append(
                "\treturn 0;\n}\n#ifdef URING_CHECK_MAIN\nint main(void) { return uring_check_bitfields(); " +
                    "}\n#endif\n\n");
        }
        foreach (var e in unit.Enums)
            sb.Append(
                CultureInfo.InvariantCulture, $"URING_CHECK(sizeof({e.CSpelling}) == {e.Size}, \"sizeof {e.CSpelling}\");\n");
        foreach (var c in unit.Constants)
        {
            sb.Append(
                CultureInfo.InvariantCulture, $"URING_CHECK((unsigned long long)({c.Name}) == {c.RawValue}ULL, \"value of {c.Name}\");\n");
            sb.Append(
                CultureInfo.InvariantCulture, $"URING_CHECK(sizeof({c.Name}) == {c.Size}, \"width of {c.Name}\");\n");
            sb.Append(
                CultureInfo.InvariantCulture, $"URING_CHECK((((__typeof__({c.Name}))-1) < 0) == {(c.Signed ? 1 : 0)}, \"signedness of {c.Name}\");\n");
        }
        return sb.ToString();
    }

    /// <summary>The record's bytes with only the bitfield's bits set (what "field = all ones" must produce).</summary>
    public static byte[] BitPattern(long recordSize, FieldDef f)
    {
        var bytes = new byte[recordSize];
        for (var i = 0; i < f.BitWidth; i++)
        {
            var bit = (f.Offset * 8) + f.BitStart + i;
            bytes[bit / 8] |= (byte)(1 << (int)(bit % 8));
        }
        return bytes;
    }

    /// <summary>Trailing arrays are checked through their element size (the array itself has no size).</summary>
    public static long FieldCheckSize(UnitModel unit, FieldDef f) => f.Kind == FieldKind.Trailing ? ElementSize(unit,
        ((CArray)f.Type).Element) : f.Size;

    static long ElementSize(UnitModel unit, CType t) => t switch
    {
        CBuiltin { Name: "char" or "signed char" or "unsigned char" or "_Bool" } => 1,
        CBuiltin { Name: "short" or "unsigned short" } => 2,
        CBuiltin { Name: "int" or "unsigned int" } => 4,
        CBuiltin { Name: "long" or "unsigned long" or "long long" or "unsigned long long" } => 8,
        CPointer => 8,
        CTagged r => AllRecords.TryGetValue(r.Name,
            out var def) ? def.Size : unit.Records.First(x => x.Name == r.Name).Size,
        CArray a => (a.Length ?? 0) * ElementSize(unit, a.Element),
        _ => throw new ToolkitException(ExitCodes.GeneratorError, $"flexible array of {t}"),
    };

    /// <summary>Records of all units (a trailing array's element type may come from another unit).</summary>
    public static Dictionary<string, RecordDef> AllRecords { get; set; } = [];

    static string Esc(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    /// <summary>The C# expectation table: every record, field, enum and constant with clang's numbers and a probe of
    /// the C# side.</summary>
    public static string CSharpExpectations(GenerationInputs inputs, IReadOnlyList<UnitModel> units,
        IReadOnlyDictionary<string, string> constantClasses, Func<RecordDef, FieldDef, string> csharpTypeOf)
    {
        var sb = new StringBuilder();
        sb.Append(CSharpEmitter.Header(inputs));
        sb.Append(
            "#pragma warning disable CS1591\nusing System.Runtime.CompilerServices;\nusing " +
                "IoUring.Interop;\n\nnamespace IoUring.Interop.Tests;\n\n");
        sb.Append(
            "/// <summary>clang's layout of every bound record, field, enum and constant, next to a probe of the C# " +
                "binding.</summary>\n");
        sb.Append("public static unsafe partial class LayoutExpectations\n{\n");
        sb.Append("    public static readonly RecordExpectation[] Records =\n    [\n");
        foreach (var r in units.SelectMany(u => u.Records).Where(r => !r.Opaque))
            sb.Append(
                CultureInfo.InvariantCulture, $"        new(\"{r.Name}\", {r.Size}, {r.Align}, () => Unsafe.SizeOf<{r.Name}>(), () => LayoutProbe.AlignOf<{r.Name}>()),\n");
        sb.Append("    ];\n\n");
        sb.Append("    public static readonly FieldExpectation[] Fields =\n    [\n");
        foreach (var unit in units)
            foreach (var r in unit.Records.Where(r => !r.Opaque))
                foreach (var f in r.Fields)
                {
                    var name = CSharpEmitter.FieldName(r, f);
                    string offset, size;
                    if (f.Kind == FieldKind.Bitfield)
                    {
                        // Bit position and width, measured by setting the property to all ones in a zeroed record.
                        var set = $"{r.Name} s = default; s.{name} = unchecked(({csharpTypeOf(r, f)})ulong.MaxValue);";
                        offset = $"() => {{ {set} return LayoutProbe.FirstSetBit(&s, sizeof({r.Name})); }}";
                        size = $"() => {{ {set} return LayoutProbe.SetBitCount(&s, sizeof({r.Name})); }}";
                        sb.Append(
                            CultureInfo.InvariantCulture, $"        new(\"{r.Name}\", \"{f.Name} (bits)\", {f.Offset * 8 + f.BitStart}, {f.BitWidth}, {offset}, {size}),\n");
                        continue;
                    }
                    if (f.Kind == FieldKind.Trailing)
                    {
                        offset = $"() => {{ {r.Name} s = default; return (byte*)Unsafe.AsPointer(ref s.{name}(0)) - (byte*)&s; }}";
                        size = $"() => {{ {r.Name} s = default; return (byte*)Unsafe.AsPointer(ref s.{name}(1)) - (byte*)Unsafe.AsPointer(ref s.{name}(0)); }}";
                    }
                    else
                    {
                        offset = $"() => {{ {r.Name} s = default; return (byte*)&s.{name} - (byte*)&s; }}";
                        size = $"() => sizeof({csharpTypeOf(r, f)})";
                    }
                    sb.Append(
                        CultureInfo.InvariantCulture, $"        new(\"{r.Name}\", \"{f.Name}\", {f.Offset}, {FieldCheckSize(unit, f)}, {offset}, {size}),\n");
                }
        sb.Append("    ];\n\n");
        sb.Append("    public static readonly EnumExpectation[] Enums =\n    [\n");
        foreach (var e in units.SelectMany(u => u.Enums))
            sb.Append(
                CultureInfo.InvariantCulture, $"        new(\"{e.Name}\", {e.Size}, {(e.Signed ? "true" : "false")}, () => Unsafe.SizeOf<{e.Name}>(), () => LayoutProbe.IsSigned<{e.Name}>()),\n");
        sb.Append("    ];\n\n");
        sb.Append("    public static readonly ConstantExpectation[] Constants =\n    [\n");
        foreach (var unit in units)
            foreach (var c in unit.Constants)
                sb.Append(
                    CultureInfo.InvariantCulture, $"        new(\"{c.Name}\", {c.RawValue}UL, {c.Size}, {(c.Signed ? "true" : "false")}, () => LayoutProbe.Constant({constantClasses[unit.Spec.Name]}.{CSharpTypeMapper.Identifier(c.Name)})),\n");
        sb.Append("    ];\n}\n");
        return sb.ToString();
    }
}
