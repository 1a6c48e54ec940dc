using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>Builds (or finds) liburing once and points the bindings' resolver at it.</summary>
[SetUpFixture]
public sealed class TestEnvironment
{
    static LiburingInstall? _liburing;

    public static LiburingInstall Liburing => _liburing ??= LiburingBuild.Ensure();

    public static string RepoRoot => Paths.RepoRoot;

    /// <summary>The patched tree at the committed series (its lock is released on return: tests do not edit the series).</summary>
    public static string KernelTree => Toolkit.Kernel.KernelSource.WithPatchedTree(t => t);

    [OneTimeSetUp]
    public void PointResolverAtCachedLiburing() => NativeResolver.OverrideDirectory = Liburing.LibDir;
}
