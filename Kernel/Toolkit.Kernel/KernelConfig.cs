using System.Text.RegularExpressions;

namespace Toolkit.Kernel;

/// <summary>One requested option from a fragment: CONFIG_X=value, or "# CONFIG_X is not set" (Value null).</summary>
public sealed record ConfigOption(string Name, string? Value, string Source, int Line)
{
    public override string ToString() => Value == null ? $"# {Name} is not set" : $"{Name}={Value}";
}

/// <summary>
/// Kernel config fragments: parsing (with file:line errors), merging on top of a generated base
/// .config, and checking after olddefconfig that every requested option survived. Kconfig silently
/// drops options whose dependencies are unmet (virtme-ng issue #192); here that is an error.
/// </summary>
public static partial class KernelConfig
{
    [GeneratedRegex(@"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")]
    private static partial Regex SetLine();
    [GeneratedRegex(@"^# (CONFIG_[A-Za-z0-9_]+) is not set$")]
    private static partial Regex UnsetLine();
    [GeneratedRegex(@"^(y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|""([^""\\]|\\.)*"")$")]
    private static partial Regex ValidValue();

    public static List<ConfigOption> ParseFragment(string path) => ParseFragment(File.ReadAllLines(path), path);

    public static List<ConfigOption> ParseFragment(IEnumerable<string> lines, string source)
    {
        var result = new List<ConfigOption>();
        var n = 0;
        foreach (var raw in lines)
        {
            n++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (UnsetLine().Match(line) is { Success: true } u)
            {
                result.Add(new ConfigOption(u.Groups[1].Value, null, source, n));
                continue;
            }
            if (line.StartsWith('#')) continue;
            var m = SetLine().Match(line);
            if (!m.Success)
                throw new ToolkitException(
                    ExitCodes.BadConfig, $"{source}:{n}: not a config line: '{raw}' (expected CONFIG_NAME=value or " +
                        $"'# CONFIG_NAME is not set')");
            if (!ValidValue().IsMatch(m.Groups[2].Value))
                throw new ToolkitException(
                    ExitCodes.BadConfig, $"{source}:{n}: bad value for {m.Groups[1].Value}: '{m.Groups[2].Value}'");
            // "=n" means the same as "is not set" in a .config.
            result.Add(new ConfigOption(m.Groups[1].Value, m.Groups[2].Value == "n" ? null : m.Groups[2].Value,
                source, n));
        }
        return result;
    }

    /// <summary>Reads a .config into name → value (null for "is not set").</summary>
    public static Dictionary<string, string?> ReadConfig(IEnumerable<string> lines)
    {
        var d = new Dictionary<string, string?>();
        foreach (var line in lines)
        {
            if (SetLine().Match(line) is { Success: true } m) d[m.Groups[1].Value] = m.Groups[2].Value;
            else if (UnsetLine().Match(line) is { Success: true } u) d[u.Groups[1].Value] = null;
        }
        return d;
    }

    /// <summary>Writes the requested options into an existing .config text, replacing earlier assignments.</summary>
    public static List<string> Merge(IEnumerable<string> configLines, IReadOnlyList<ConfigOption> options)
    {
        var last = new Dictionary<string, ConfigOption>();
        foreach (var o in options) last[o.Name] = o;
        var output = new List<string>();
        foreach (var line in configLines)
        {
            var name = SetLine().Match(line) is { Success: true } m ? m.Groups[1].Value
                : UnsetLine().Match(line) is { Success: true } u ? u.Groups[1].Value : null;
            if (name == null || !last.ContainsKey(name)) output.Add(line);
        }
        output.AddRange(last.Values.Select(o => o.ToString()));
        return output;
    }

    /// <summary>The requested options that the final .config does not honour, as readable lines.</summary>
    public static List<string> FindDropped(IReadOnlyList<ConfigOption> requested, IReadOnlyDictionary<string,
        string?> final)
    {
        var last = new Dictionary<string, ConfigOption>();
        foreach (var o in requested) last[o.Name] = o;
        var dropped = new List<string>();
        foreach (var o in last.Values)
        {
            final.TryGetValue(o.Name, out var actual);
            if (actual == o.Value) continue;
            var got = actual == null ? "not set" : actual;
            dropped.Add($"{o.Source}:{o.Line}: {o} was requested but the final config has {got}" +
                (final.ContainsKey(o.Name) ? "" : " (no such symbol, or its dependencies are unmet)"));
        }
        return dropped;
    }
}
