using System.Text.Json;

namespace IoUring.Interop.Generator;

/// <summary>One declaration-level node of clang's JSON AST, with its resolved source location.</summary>
public sealed class AstNode
{
    public required string Id { get; init; }
    public required string Kind { get; init; }
    public string Name { get; init; } = "";
    /// <summary>File of the node's (expansion) location; clang's JSON only repeats it when it changes.</summary>
    public string File { get; set; } = "";
    public int Line { get; set; }
    public int Col { get; set; }
    public required JsonElement Json { get; init; }
    public List<AstNode> Inner { get; } = [];

    public string? QualType => Json.TryGetProperty("type", out var t) && t.TryGetProperty("qualType",
        out var q) ? q.GetString() : null;
    public string? DesugaredQualType => Json.TryGetProperty("type",
        out var t) && t.TryGetProperty("desugaredQualType", out var q) ? q.GetString() : null;
    public bool Flag(string name) => Json.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
    public string? Str(string name) => Json.TryGetProperty(name,
        out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    /// <summary>Key clang uses when it prints an unnamed record's type: "file:line:col".</summary>
    public string LocationKey => $"{File}:{Line}:{Col}";
    public override string ToString() => $"{Kind} {Name} at {File}:{Line}";
}

/// <summary>
/// Reads <c>clang -Xclang -ast-dump=json</c> output into <see cref="AstNode"/>s. The JSON writer
/// omits "file" and "line" when unchanged since the previously written location, so the
/// reader walks every location in document order (including those inside function bodies)
/// and carries the last seen values forward.
/// </summary>
public sealed class AstReader
{
    string _file = "";
    int _line;

    public static List<AstNode> ReadTopLevel(string json)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 4096 });
        var reader = new AstReader();
        // Clone: nodes outlive the document.
        var root = reader.Visit(doc.RootElement.Clone());
        return root?.Inner ?? [];
    }

    AstNode? Visit(JsonElement obj)
    {
        AstNode? node = null;
        if (obj.TryGetProperty("kind", out var kind) && obj.TryGetProperty("id", out var id))
            node = new AstNode
            {
                Id = id.GetString() ?? "",
                Kind = kind.GetString() ?? "",
                Name = obj.TryGetProperty("name",
                    out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() ?? "" : "",
                Json = obj,
            };
        foreach (var prop in obj.EnumerateObject())
        {
            switch (prop.Name)
            {
                case "loc":
                    VisitLocation(prop.Value, out var col);
                    if (node is not null) { node.File = _file; node.Line = _line; node.Col = col; }
                    break;
                case "range":
                    foreach (var end in prop.Value.EnumerateObject()) VisitLocation(end.Value, out _);
                    break;
                case "inner":
                    foreach (var child in prop.Value.EnumerateArray())
                    {
                        var c = Visit(child);
                        if (c is not null && node is not null) node.Inner.Add(c);
                    }
                    break;
                default:
                    // Nested objects (e.g. "referencedDecl", "ownedTagDecl") carry no locations of their own.
                    break;
            }
        }
        return node;
    }

    /// <summary>Updates the sticky file/line from one location; macro locations have spelling then expansion parts and
    /// the expansion wins.</summary>
    void VisitLocation(JsonElement loc, out int col)
    {
        col = 0;
        if (loc.ValueKind != JsonValueKind.Object) return;
        if (loc.TryGetProperty("spellingLoc", out var spelling))
        {
            VisitLocation(spelling, out _);
            if (loc.TryGetProperty("expansionLoc", out var expansion)) VisitLocation(expansion, out col);
            return;
        }
        if (loc.TryGetProperty("file", out var f)) _file = f.GetString() ?? _file;
        if (loc.TryGetProperty("line", out var l)) _line = l.GetInt32();
        if (loc.TryGetProperty("col", out var c)) col = c.GetInt32();
    }
}
