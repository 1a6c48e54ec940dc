namespace IoUring.Interop.Generator;

/// <summary>Packs the IoUring.Interop NuGet package with the natives of a given liburing build.</summary>
public static class PackageBuilder
{
    /// <summary>Runs <c>dotnet pack</c> into <paramref name="feed"/>; returns the .nupkg path.</summary>
    public static string Pack(LiburingInstall liburing, string feed)
    {
        var project = Path.Combine(Paths.InteropDir, "IoUring.Interop", "IoUring.Interop.csproj");
        Directory.CreateDirectory(feed);
        string[] natives = [$"-p:LiburingPrefix={liburing.Prefix}", $"-p:LiburingSeriesHash={liburing.SeriesHash}",
            $"-p:LiburingSourceDir={liburing.SourceDir}"];
        var env = new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };
        // The managed layer and the feature libraries ride in the package (IoUring.Interop.csproj,
        // AddLayerAssemblies): built first, since they reference the packed project.
        foreach (var layer in new[] { "IoUring.Interop.CrossRing", "IoUring.Interop.Wakeup" })
        {
            var built = Proc.Capture("dotnet", ["build", Path.Combine(Paths.InteropDir, layer, layer + ".csproj"),
                "-c", "Release", "-nologo", .. natives], env: env);
            if (!built.Succeeded)
                throw new ToolkitException(ExitCodes.BuildFailed, $"dotnet build {layer} failed:\n{built.StdOut}{built.StdErr}");
        }
        var result = Proc.Capture("dotnet", ["pack", project, "-c", "Release", "-o", feed, "-nologo", .. natives],
            env: env);
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
