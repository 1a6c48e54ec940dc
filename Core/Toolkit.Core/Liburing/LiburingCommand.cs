using System.CommandLine;
using Toolkit.Infra;

namespace Toolkit.Liburing;

/// <summary>The <c>liburing build</c> command: the cached liburing build every stage shares.</summary>
public static class LiburingCommand
{
    public static Command Create()
    {
        var force = new Option<bool>("--force") { Description = "Rebuild even when the cache holds a complete build." };
        var build = new Command("build", $"Build liburing {LiburingBuild.DefaultUpstreamVersion} from Debian " +
            $"{PrivateApt.SidSources.Suite}'s source package {LiburingBuild.DefaultDebianVersion} (fetched through a " +
            "private apt configuration in the cache, never the system's sources; plus " +
            "liburing-tests/liburing-patches/series) " +
            "into ~/.cache/uring-toolkit/liburing/.") { force };
        build.SetAction(parse => Guard.Run(() =>
        {
            var install = LiburingBuild.Ensure(new LiburingBuildOptions { Force = parse.GetValue(force) },
                Console.Error);
            Console.Out.WriteLine($"version {install.Version}");
            Console.Out.WriteLine($"series-hash {install.SeriesHash}");
            Console.Out.WriteLine($"source {install.SourceDir}");
            Console.Out.WriteLine($"prefix {install.Prefix}");
            return ExitCodes.Ok;
        }));
        return new Command("liburing", "liburing built from Debian's source package.") { build };
    }
}
