using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>Builds (or finds) liburing once and points the bindings' resolver at it.</summary>
[SetUpFixture]
public sealed class TestEnvironment
{
    static LiburingInstall? _liburing;

    public static LiburingInstall Liburing => _liburing ??= LiburingBuild.Ensure();

    public static string RepoRoot => RepoPaths.Root;

    public static string KernelTree => RepoPaths.DefaultKernelTree;

    [OneTimeSetUp]
    public void PointResolverAtCachedLiburing() => NativeResolver.OverrideDirectory = Liburing.LibDir;
}
