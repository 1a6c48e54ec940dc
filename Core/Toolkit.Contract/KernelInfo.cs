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

    public static KernelInfo? Read(string file) =>
        File.Exists(file) ? JsonSerializer.Deserialize<KernelInfo>(File.ReadAllText(file)) : null;

    public void Write(string file) => File.WriteAllText(file, JsonSerializer.Serialize(this, Indented));

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
