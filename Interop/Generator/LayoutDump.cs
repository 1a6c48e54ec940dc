using System.Text.RegularExpressions;

namespace IoUring.Interop.Generator;

/// <summary>One line of clang's record layout dump: a field (or the record itself) at an absolute offset.</summary>
public sealed class LayoutEntry
{
    public long Offset { get; init; }
    /// <summary>Bit range within the storage unit when the field is a bitfield ("4:0-3").</summary>
    public (int First, int Last)? Bits { get; init; }
    public string TypeText { get; init; } = "";
    public string Name { get; init; } = "";
    public List<LayoutEntry> Children { get; } = [];
}

/// <summary>A complete dump block: the record's header entry (with nested fields) plus sizeof and alignment.</summary>
public sealed record RecordLayout(LayoutEntry Root, long Size, int Align);

/// <summary>
/// Parses the text of <c>-Xclang -fdump-record-layouts</c>. The dump prints nested members of
/// record-typed fields with deeper indentation and absolute offsets, so the tree is rebuilt
/// from the indentation.
/// </summary>
public static partial class LayoutDumpParser
{
    [GeneratedRegex(@"^\s*(?<off>\d+)(?::(?<b0>\d+)-(?<b1>\d+)|(?<zero>:-))?\s\|\s(?<indent>\s*)(?<rest>.*)$")]
    private static partial Regex EntryRegex();

    [GeneratedRegex(@"^\s*\|\s+\[sizeof=(?<size>\d+),.*?align=(?<align>\d+)")]
    private static partial Regex SizeRegex();

    /// <summary>Returns every dumped record keyed by its header type text ("struct io_uring_sqe", "__sigset_t", "union
    /// x::(anonymous at f:1:2)").</summary>
    public static Dictionary<string, RecordLayout> Parse(string dump)
    {
        var result = new Dictionary<string, RecordLayout>();
        var lines = dump.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].Contains("*** Dumping AST Record Layout")) continue;
            var stack = new List<(int Indent, LayoutEntry Entry)>();
            LayoutEntry? root = null;
            for (i++; i < lines.Length; i++)
            {
                var line = lines[i];
                if (line.Trim().Length == 0) continue;
                var size = SizeRegex().Match(line);
                if (size.Success)
                {
                    if (root is null) throw new FormatException("layout dump: sizeof line without a record");
                    // Later dumps of the same record (one per use) are identical; keep the first.
                    result.TryAdd(root.TypeText, new RecordLayout(root, long.Parse(size.Groups["size"].Value),
                        int.Parse(size.Groups["align"].Value)));
                    break;
                }
                var m = EntryRegex().Match(line);
                if (!m.Success) throw new FormatException($"layout dump: unexpected line '{line}'");
                var rest = m.Groups["rest"].Value;
                string typeText, name;
                if (root is null) { typeText = rest.Trim(); name = ""; }
                else
                {
                    // "type name": the name is the last word; an anonymous member has an empty name (trailing space).
                    var lastSpace = rest.LastIndexOf(' ');
                    typeText = lastSpace < 0 ? rest : rest[..lastSpace];
                    name = lastSpace < 0 ? "" : rest[(lastSpace + 1)..];
                }
                var entry = new LayoutEntry
                {
                    Offset = long.Parse(m.Groups["off"].Value),
                    // Zero-width bitfields ("int :0", printed "8:-") get an empty range.
                    Bits = m.Groups["b0"].Success ? (int.Parse(m.Groups["b0"].Value),
                        int.Parse(m.Groups["b1"].Value)) : m.Groups["zero"].Success ? (0, -1) : null,
                    TypeText = typeText,
                    Name = name,
                };
                var indent = m.Groups["indent"].Value.Length;
                if (root is null) { root = entry; stack.Add((indent, entry)); continue; }
                while (stack.Count > 0 && stack[^1].Indent >= indent) stack.RemoveAt(stack.Count - 1);
                if (stack.Count == 0) throw new FormatException($"layout dump: bad nesting at '{line}'");
                stack[^1].Entry.Children.Add(entry);
                stack.Add((indent, entry));
            }
        }
        return result;
    }
}
