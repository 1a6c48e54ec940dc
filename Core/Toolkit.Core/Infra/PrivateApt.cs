using Toolkit.Infra;

namespace Toolkit.Infra;

/// <summary>
/// An apt configuration of the toolkit's own, in its cache, for fetching packages from a Debian suite the system
/// does not use (sid's liburing source, trixie-backports' linux-source-7.3) without touching the system's apt: its
/// own sources list (one line, on the mirror the machine already uses), its own lists and cache directories,
/// <c>Dir::State::status</c> /dev/null, and the system's sources and sources.list.d ignored. Every apt tool runs
/// with <c>APT_CONFIG</c> pointing at it, so nothing is ever added to the system's sources, and with an empty
/// dpkg status nothing fetched through it can be installed by accident (only <c>apt-get source</c> /
/// <c>download</c> are used). TOOLKIT_DEBIAN_MIRROR overrides the mirror.
/// </summary>
public sealed class PrivateApt
{
    /// <summary>liburing's source package comes from sid, deb-src only.</summary>
    public static readonly Line SidSources = new("deb-src", "sid");
    /// <summary>linux-source-7.3 is a binary package of trixie-backports (fetched with apt-get download).</summary>
    public static readonly Line TrixieBackports = new("deb", "trixie-backports");

    /// <summary>The one sources.list line: its type (<c>deb</c> or <c>deb-src</c>) and suite; component main.</summary>
    public sealed record Line(string Type, string Suite)
    {
        /// <summary>The file name pattern of the index apt-get update leaves in the lists directory.</summary>
        public string IndexPattern => Type == "deb-src"
            ? $"*_dists_{Suite}_main_source_Sources*" : $"*_dists_{Suite}_main_binary-amd64_Packages*";
    }

    const string Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";

    PrivateApt(string dir, Line line) => (Dir, Source) = (dir, line);

    public Line Source { get; }

    /// <summary>The configuration's directory: apt.conf, sources.list, lists/, cache/.</summary>
    public string Dir { get; }
    public string ConfigFile => Path.Combine(Dir, "apt.conf");
    /// <summary>Whether <see cref="Update"/> ran since this instance was made.</summary>
    public bool Updated { get; private set; }
    string ListsDir => Path.Combine(Dir, "lists");

    /// <summary>
    /// Writes the configuration into <paramref name="dir"/> (mirror from the system's apt sources) and runs
    /// <c>apt-get update</c> on it when its lists hold no Sources index yet. Exit 230 when no mirror is found
    /// or the update fails.
    /// </summary>
    public static PrivateApt Prepare(string dir, Line line, TextWriter log, string debianSources =
        "/etc/apt/sources.list.d/debian.sources", string sourcesList = "/etc/apt/sources.list")
    {
        var uri = (Environment.GetEnvironmentVariable("TOOLKIT_DEBIAN_MIRROR") is { Length: > 0 } m ? m : null)
            ?? MirrorUri(debianSources, sourcesList) ?? throw new ToolkitException(ExitCodes.MissingDependency,
                $"cannot find the Debian mirror URI in {debianSources} or {sourcesList} (TOOLKIT_DEBIAN_MIRROR sets it)");
        var apt = new PrivateApt(dir, line);
        foreach (var d in new[] { Path.Combine(apt.ListsDir, "partial"), Path.Combine(dir, "cache", "archives",
                     "partial") })
            Directory.CreateDirectory(d);
        var signedBy = File.Exists(Keyring) ? $"[signed-by={Keyring}] " : "";
        var sources = $"{line.Type} {signedBy}{uri} {line.Suite} main\n";
        var sourcesFile = Path.Combine(dir, "sources.list");
        var changed = !File.Exists(sourcesFile) || File.ReadAllText(sourcesFile) != sources;
        File.WriteAllText(sourcesFile, sources);
        File.WriteAllText(apt.ConfigFile, ConfigText(dir, line));
        if (changed || !apt.HasSourcesIndex) apt.Update(log);
        return apt;
    }

    /// <summary>The apt.conf text for a configuration in <paramref name="dir"/>.</summary>
    public static string ConfigText(string dir, Line line) => $"""
        // Written by the io_uring toolkit (Toolkit.Infra.PrivateApt): Debian {line.Suite} ({line.Type}) only.
        Dir::Etc::SourceList "{dir}/sources.list";
        Dir::Etc::SourceParts "/nonexistent";
        Dir::State::Lists "{dir}/lists";
        Dir::State::status "/dev/null";
        Dir::Cache "{dir}/cache";
        APT::Architecture "amd64";
        Acquire::Languages "none";

        """.Replace("\r", "");

    bool HasSourcesIndex => Directory.EnumerateFiles(ListsDir, Source.IndexPattern).Any();

    /// <summary><c>apt-get update</c> of the private lists (exit 230 if it fails or fetches no index).</summary>
    public void Update(TextWriter log)
    {
        log.WriteLine($"apt-get update of the private {Source.Suite} {Source.Type} configuration {ConfigFile}");
        var r = Run("apt-get", ["update", "-q"], Dir);
        Updated = true;
        if (!r.Succeeded || !HasSourcesIndex)
            throw new ToolkitException(ExitCodes.MissingDependency,
                $"apt-get update with {ConfigFile} failed (exit {r.ExitCode}):\n{(r.StdOut + r.StdErr).Trim()}");
    }

    /// <summary>Every version of source package <paramref name="package"/> the private lists offer.</summary>
    public IReadOnlyList<string> SourceVersions(string package)
    {
        var r = Run("apt-cache", ["showsrc", "--only-source", package], Dir);
        if (!r.Succeeded) return [];
        return r.StdOut.Split('\n').Where(l => l.StartsWith("Version:", StringComparison.Ordinal))
            .Select(l => l["Version:".Length..].Trim()).Distinct().ToList();
    }

    /// <summary>Runs an apt tool with <c>APT_CONFIG</c> set to this configuration.</summary>
    public CapturedProcess Run(string tool, IEnumerable<string> args, string workDir)
        => Proc.Capture(tool, args, workDir,
            new Dictionary<string, string> { ["APT_CONFIG"] = ConfigFile, ["DEBIAN_FRONTEND"] = "noninteractive" });

    /// <summary>
    /// The mirror the machine uses, as scripts/install-deps finds it: the first <c>URIs:</c> of the deb822
    /// file, else the first bookworm <c>deb</c> line of the one-line list; null if neither has one.
    /// </summary>
    public static string? MirrorUri(string debianSources, string sourcesList)
    {
        if (File.Exists(debianSources))
            foreach (var line in File.ReadLines(debianSources))
                if (line.StartsWith("URIs:", StringComparison.Ordinal)
                    && line["URIs:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var u, ..])
                    return u;
        if (File.Exists(sourcesList))
            foreach (var line in File.ReadLines(sourcesList))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var i = f.Length > 1 && f[1].StartsWith('[') ? Array.FindIndex(f, x => x.EndsWith(']')) + 1 : 1;
                if (f.Length > i + 1 && f[0] == "deb" && i > 0 && f[i + 1] == "bookworm") return f[i];
            }
        return null;
    }
}
