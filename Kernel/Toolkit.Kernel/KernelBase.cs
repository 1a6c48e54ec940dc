using Toolkit.Infra;

namespace Toolkit.Kernel;

/// <summary>How a base's Debian source package reaches the machine.</summary>
public enum SourceOrigin
{
    /// <summary>Installed into the system by scripts/install-deps; the tarball is /usr/src/PACKAGE.tar.xz.</summary>
    Installed,
    /// <summary>
    /// Fetched by the toolkit from trixie-backports with `apt-get download` under a private apt configuration in
    /// the cache, and unpacked there with `dpkg -x` (never installed into the system).
    /// </summary>
    Backports,
}

/// <summary>
/// A kernel base: one Debian linux-source package the series are carried against. The registry is
/// <see cref="All"/>; every cache path and the series folder are per base. 6.12's source trees and locks keep the
/// names used before there was more than one base (src/linux-source-6.12, .patched.lock, ...), so older toolkit
/// processes sharing the cache still exclude each other.
/// </summary>
public sealed record KernelBase(string Name, string Package, string VersionPrefix, SourceOrigin Origin)
{
    /// <summary>The LTS backport: Debian 12's linux-source-6.12 (6.12.117-1~deb12u1).</summary>
    public static readonly KernelBase V6_12 = new("6.12", "linux-source-6.12", "6.12.", SourceOrigin.Installed);
    /// <summary>Linux 7.3 from trixie-backports (linux-source-7.3 7.3.4-1~bpo13+1).</summary>
    public static readonly KernelBase V7_3 = new("7.3", "linux-source-7.3", "7.3.", SourceOrigin.Backports);

    public static readonly IReadOnlyList<KernelBase> All = [V7_3, V6_12];
    public static KernelBase Default => V7_3;

    /// <summary>The suite a <see cref="SourceOrigin.Backports"/> base is fetched from.</summary>
    public const string BackportsSuite = "trixie-backports";

    /// <summary>The one place a base name is checked; the error text is what every command prints.</summary>
    public static bool TryParse(string s, out KernelBase kernelBase, out string error)
    {
        kernelBase = All.FirstOrDefault(b => b.Name == s.Trim())!;
        error = kernelBase != null ? ""
            : $"unknown kernel base '{s}' ({string.Join(" or ", All.Select(b => b.Name))})";
        return kernelBase != null;
    }

    public static KernelBase Parse(string s) =>
        TryParse(s, out var b, out var error) ? b : throw new ToolkitException(ExitCodes.Usage, error);

    /// <summary>An installed source package that is not a selectable base (review's informational 6.1 apply).</summary>
    public static KernelBase InstalledOnly(string name) =>
        new(name, $"linux-source-{name}", name + ".", SourceOrigin.Installed);

    public bool IsRegistered => All.Contains(this);

    /// <summary>The folder of this base's series: kernel-patches/BASE/ (its `series` file and series folders).</summary>
    public string SeriesDir => Path.Combine(Paths.KernelPatchesDir, Name);

    static string SrcRoot => Path.Combine(Paths.CacheRoot, "src");

    /// <summary>The unpacked pristine source (a git repository tagged <c>base</c>).</summary>
    public string BaseTree => Path.Combine(SrcRoot, $"linux-source-{Name}");

    /// <summary>The work tree the series is applied to.</summary>
    public string PatchedTree => Path.Combine(SrcRoot, $"linux-patched-{Name}");

    /// <summary>Where a <see cref="SourceOrigin.Backports"/> package is fetched to: apt's private state, the
    /// .deb, and its contents.</summary>
    public string PackageDir => Path.Combine(SrcRoot, $"package-{Name}");

    /// <summary>The tree a flavour builds from: baseline the pristine source, the others the series' tree.</summary>
    public string TreeOf(Flavour f) => f == Flavour.Baseline ? BaseTree : PatchedTree;

    /// <summary>
    /// A flavour's build directory: a direct child of the tree it builds from, named the same in every tree. Kbuild
    /// then calls the tree "..", so the compiler command lines of baseline, patched, debug and review's builds are
    /// the same text and ccache serves one tree's objects to the others (an absolute or differently deep path put
    /// the tree's own name into every -I and nothing was shared between baseline and patched).
    /// </summary>
    public string BuildDir(Flavour f) => Path.Combine(TreeOf(f), BuildDirName(f));

    /// <summary>The name of a flavour's build directory inside its tree.</summary>
    public static string BuildDirName(Flavour f) => $"build-{f.Name()}";

    /// <summary>What git is told to ignore in every tree of a base: the build directories.</summary>
    public const string BuildDirsPattern = "/build-*/";

    /// <summary>
    /// Suffix of this base's lock files. Empty for 6.12, whose locks keep the names they had before bases
    /// existed, so a 6.12 build by an older toolkit and one by this one still exclude each other.
    /// </summary>
    public string LockSuffix => this == V6_12 ? "" : "-" + Name;

    /// <summary>Per-base config fragments (vm/config/BASE/), merged after the shared ones; may not exist.</summary>
    public string ConfigDir => Path.Combine(Paths.VmDir, "config", Name);

    public override string ToString() => Name;
}
