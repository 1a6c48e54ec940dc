using System.Text;
using System.Text.RegularExpressions;

namespace IoUring.Interop.Generator;

/// <summary>A C type as spelled by clang in the JSON AST, parsed into a small tree.</summary>
public abstract record CType
{
    public override string ToString() => Spell();
    public abstract string Spell();
}

/// <summary>A builtin type: "unsigned int", "void", "_Bool", "char", ...</summary>
public sealed record CBuiltin(string Name) : CType { public override string Spell() => Name; }

/// <summary>struct/union/enum by tag; <see cref="AnonKey"/> is "file:line:col" for unnamed ones.</summary>
public sealed record CTagged(string Tag, string Name, string? AnonKey) : CType
{
    public override string Spell() => AnonKey is null ? $"{Tag} {Name}" : $"{Tag} (unnamed at {AnonKey})";
}

/// <summary>A typedef name, resolved through the unit's typedef table.</summary>
public sealed record CTypedefName(string Name) : CType { public override string Spell() => Name; }

public sealed record CPointer(CType Pointee) : CType { public override string Spell() => $"{Pointee.Spell()} *"; }

/// <summary>An array; Length null is a flexible array member ("T[]"), 0 the GNU zero-length form.</summary>
public sealed record CArray(CType Element, long? Length) : CType
{
    public override string Spell() => $"{Element.Spell()}[{Length}]";
}

public sealed record CFunctionPointer(CType Return, IReadOnlyList<CType> Parameters, bool Variadic) : CType
{
    public override string Spell(
        ) => $"{Return.Spell()} (*)({string.Join(", ", Parameters.Select(p => p.Spell()))}{(Variadic ? ", ..." : "")})";
}

/// <summary>Parses clang's type spellings (qualType strings). Anything outside the grammar throws so nothing is
/// guessed.</summary>
public static partial class CTypeParser
{
    static readonly HashSet<string> BuiltinWords = ["void", "char", "short", "int", "long", "signed", "unsigned",
        "_Bool", "bool", "float", "double", "__int128"];
    static readonly HashSet<string> Qualifiers = ["const", "volatile", "restrict", "__restrict", "_Atomic"];

    [GeneratedRegex(@"(?:\w+::)?\((?:anonymous|unnamed)(?: struct| union| enum)? at ([^)]*)\)")]
    private static partial Regex AnonymousRegex();

    [GeneratedRegex(@"__attribute__\(\(([^()]*(?:\([^()]*\))?[^()]*)\)\)")]
    private static partial Regex AttributeRegex();

    /// <summary>Parses a full type; <paramref name="attributes"/> collects stripped __attribute__ contents (e.g.
    /// aligned(8)).</summary>
    public static CType Parse(string spelling, List<string>? attributes = null)
    {
        var text = AttributeRegex().Replace(spelling, m => { attributes?.Add(m.Groups[1].Value); return " "; });
        // "struct io_uring_sqe::(anonymous at f:1:2)" → a single token carrying the location key.
        text = AnonymousRegex().Replace(text, m => " @" + m.Groups[1].Value.Replace(' ', '\u0001') + " ");
        var tokens = Tokenize(text);
        var pos = 0;
        var type = ParseType(tokens, ref pos, spelling);
        if (pos != tokens.Count)
            throw new FormatException($"unexpected '{tokens[pos]}' in type '{spelling}'");
        return type;
    }

    /// <summary>Splits a function type "ret (params)" and parses the return type.</summary>
    public static CType ParseFunctionReturn(string functionType)
    {
        var depth = 0;
        for (var i = functionType.Length - 1; i >= 0; i--)
        {
            if (functionType[i] == ')') depth++;
            else if (functionType[i] == '(' && --depth == 0) return Parse(functionType[..i].Trim());
        }
        throw new FormatException($"not a function type: '{functionType}'");
    }

    static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var sb = new StringBuilder();
        void Flush() { if (sb.Length > 0) { tokens.Add(sb.ToString()); sb.Clear(); } }
        foreach (var ch in text)
        {
            if (char.IsWhiteSpace(ch)) { Flush(); continue; }
            if ("*()[],".Contains(ch)) { Flush(); tokens.Add(ch.ToString()); continue; }
            sb.Append(ch);
        }
        Flush();
        return tokens;
    }

    static CType ParseType(List<string> t, ref int pos, string original)
    {
        var type = ParseBaseType(t, ref pos, original);
        while (pos < t.Count && t[pos] == "*")
        {
            pos++;
            type = new CPointer(type);
            SkipQualifiers(t, ref pos);
        }
        // Function pointer: ret (*)(params). Pointers to arrays and other nested declarators are not used by
        // the inputs.
        if (pos + 2 < t.Count && t[pos] == "(" && t[pos + 1] == "*")
            return ParseFunctionPointer(type, t, ref pos, original);
        return ParseArrayDimensions(type, t, ref pos, original);
    }

    /// <summary>Qualifiers, then a tag, a builtin word sequence or a typedef name.</summary>
    static CType ParseBaseType(List<string> t, ref int pos, string original)
    {
        CType? baseType = null;
        var builtin = new List<string>();
        while (pos < t.Count)
        {
            var tok = t[pos];
            if (Qualifiers.Contains(tok)) { pos++; continue; }
            if (tok is "struct" or "union" or "enum")
            {
                pos++;
                if (pos >= t.Count) throw new FormatException($"missing tag name in '{original}'");
                var name = t[pos++];
                baseType = name.StartsWith('@')
                    ? new CTagged(tok, "", name[1..].Replace('\u0001', ' '))
                    : new CTagged(tok, name, null);
                continue;
            }
            if (tok.StartsWith('@'))
            {
                pos++; baseType = new CTagged("struct", "", tok[1..].Replace('\u0001',
                ' ')); continue;
            }
            if (BuiltinWords.Contains(tok)) { builtin.Add(tok); pos++; continue; }
            if (IsIdentifier(tok) && baseType is null
                && builtin.Count == 0) { baseType = new CTypedefName(tok); pos++; continue; }
            break;
        }
        if (builtin.Count > 0)
        {
            if (baseType is not null) throw new FormatException($"mixed builtin and named type in '{original}'");
            baseType = new CBuiltin(NormalizeBuiltin(builtin, original));
        }
        return baseType ?? throw new FormatException($"no base type in '{original}'");
    }

    /// <summary>"(*)(params)" after the return type; extra stars make pointers to the function pointer.</summary>
    static CType ParseFunctionPointer(CType returnType, List<string> t, ref int pos, string original)
    {
        pos += 2;
        var depth = 1;
        while (pos < t.Count && t[pos] == "*") { depth++; pos++; }
        SkipQualifiers(t, ref pos);
        Expect(t, ref pos, ")", original);
        if (pos >= t.Count || t[pos] != "(")
            throw new FormatException($"unsupported declarator (pointer to array?) in '{original}'");
        pos++;
        var parameters = new List<CType>();
        var variadic = false;
        while (pos < t.Count && t[pos] != ")")
        {
            if (t[pos] == "...") { variadic = true; pos++; }
            else parameters.Add(ParseType(t, ref pos, original));
            if (pos < t.Count && t[pos] == ",") pos++;
        }
        Expect(t, ref pos, ")", original);
        if (parameters is [CBuiltin { Name: "void" }]) parameters.Clear();
        CType fn = new CFunctionPointer(returnType, parameters, variadic);
        for (var i = 1; i < depth; i++) fn = new CPointer(fn);
        return fn;
    }

    static CType ParseArrayDimensions(CType element, List<string> t, ref int pos, string original)
    {
        var lengths = new List<long?>();
        while (pos < t.Count && t[pos] == "[")
        {
            pos++;
            long? length = null;
            if (t[pos] != "]") length = long.Parse(t[pos++]);
            Expect(t, ref pos, "]", original);
            lengths.Add(length);
        }
        // int[2][3] is an array of 2 arrays of 3 ints: wrap from the innermost (rightmost) dimension.
        var type = element;
        for (var i = lengths.Count - 1; i >= 0; i--) type = new CArray(type, lengths[i]);
        return type;
    }

    static void SkipQualifiers(List<string> t, ref int pos)
    {
        while (pos < t.Count && Qualifiers.Contains(t[pos])) pos++;
    }

    static void Expect(List<string> t, ref int pos, string what, string original)
    {
        if (pos >= t.Count || t[pos] != what) throw new FormatException($"expected '{what}' in type '{original}'");
        pos++;
    }

    static bool IsIdentifier(string tok) => tok.Length > 0 && (char.IsLetter(tok[0]) || tok[0] == '_') && tok.All(c =>
        char.IsLetterOrDigit(c) || c == '_');

    static string NormalizeBuiltin(List<string> words, string original)
    {
        var signed = words.Contains("signed");
        var unsigned = words.Contains("unsigned");
        var longs = words.Count(w => w == "long");
        var core = words.Where(w => w is not ("signed" or "unsigned" or "long" or "int")).ToList();
        if (core.Count > 1) throw new FormatException($"unsupported builtin combination in '{original}'");
        var c = core.Count == 1 ? core[0] : null;
        return c switch
        {
            "void" or "_Bool" or "float" => c,
            "bool" => "_Bool", // <stdbool.h> macro; clang prints the spelling
            "double" => longs > 0 ? "long double" : "double",
            "char" => unsigned ? "unsigned char" : signed ? "signed char" : "char",
            "short" => unsigned ? "unsigned short" : "short",
            "__int128" => unsigned ? "unsigned __int128" : "__int128",
            null => (longs, unsigned) switch
            {
                (0, false) => "int",
                (0, true) => "unsigned int",
                (1, false) => "long",
                (1, true) => "unsigned long",
                (2, false) => "long long",
                (2, true) => "unsigned long long",
                _ => throw new FormatException($"unsupported builtin in '{original}'"),
            },
            _ => throw new FormatException($"unsupported builtin in '{original}'"),
        };
    }
}
