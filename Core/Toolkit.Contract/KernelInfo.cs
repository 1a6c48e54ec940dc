using System.Text.Json;

namespace Toolkit.Contract;

/// <summary>
/// What a built kernel is (toolkit-kernel.json, written by `kernel build` and copied into every result),
/// including the features its patch series brings, so the suites can tell a missing feature from a kernel
/// that never had it.
/// </summary>
public sealed record KernelInfo(string Flavour, string Package, string BaseVersion, string KernelRelease,
    string SeriesHash, int SeriesPatches, string ConfigHash, string Image)
{
    public const string FileName = "toolkit-kernel.json";

    /// <summary>
    /// The features (<see cref="Features.Known"/>) the kernel brings; null in files written before they were recorded.
    /// </summary>
    public IReadOnlyList<string>? Features { get; init; }

    /// <summary>The kernel base (6.12, 7.3) the kernel was built from; null in files written before bases existed
    /// (those are 6.12).</summary>
    public string? Base { get; init; }

    /// <summary>The base of files written before bases were recorded.</summary>
    public const string LegacyBase = "6.12";

    /// <summary>The kernel base, also for older files (<see cref="LegacyBase"/>).</summary>
    public string BaseName => Base ?? LegacyBase;

    /// <summary>
    /// How results name the kernel's source: base, package and version, series hash and patch count (one format
    /// for every report header).
    /// </summary>
    public string SourceLine() =>
        $"base={BaseName} source={Package} {BaseVersion} series={SeriesHash} patches={SeriesPatches}";

    public static KernelInfo? Read(string file) =>
        File.Exists(file) ? JsonSerializer.Deserialize<KernelInfo>(File.ReadAllText(file)) : null;

    public void Write(string file) => File.WriteAllText(file, JsonSerializer.Serialize(this, Indented));

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
