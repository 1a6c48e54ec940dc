using System.CommandLine;

namespace Toolkit.Suites;

public static class VmTest
{
    public static Command Command() => new("test", "Run the suites in the VM (not yet implemented)");
}
