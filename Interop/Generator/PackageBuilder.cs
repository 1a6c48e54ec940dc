namespace IoUring.Interop.Generator;

/// <summary>Packs the IoUring.Interop NuGet package with the natives of a given liburing build.</summary>
public static class PackageBuilder
{
    /// <summary>Runs <c>dotnet pack</c> into <paramref name="feed"/>; returns the .nupkg path.</summary>
    public static string Pack(LiburingInstall liburing, string feed)
    {
        var project = Path.Combine(Paths.InteropDir, "IoUring.Interop", "IoUring.Interop.csproj");
        Directory.CreateDirectory(feed);
        var result = Proc.Capture("dotnet", ["pack", project, "-c", "Release", "-o", feed, "-nologo",
            $"-p:LiburingPrefix={liburing.Prefix}", $"-p:LiburingSeriesHash={liburing.SeriesHash}",
            $"-p:LiburingSourceDir={liburing.SourceDir}"], env: new Dictionary<string,
                string>
            { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        if (!result.Succeeded)
            throw new ToolkitException(
                ExitCodes.BuildFailed, $"dotnet pack IoUring.Interop failed:\n{result.StdOut}{result.StdErr}");
        var nupkg = Directory.GetFiles(feed,
            "IoUring.Interop.*.nupkg").OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
            ?? throw new ToolkitException(
                ExitCodes.BuildFailed, $"dotnet pack succeeded but no IoUring.Interop .nupkg is in {feed}");
        return nupkg;
    }
}
