using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>
/// The cached liburing build and the repository paths the tests share. Not a [SetUpFixture]: that would build
/// liburing before every test of the namespace, the pure ones too; a fixture that loads liburing's natives calls
/// <see cref="PointResolverAtCachedLiburing"/> from its own [OneTimeSetUp], the others reach <see cref="Liburing"/>
/// only when a test needs it.
/// </summary>
public static class TestEnvironment
{
    static LiburingInstall? _liburing;

    public static LiburingInstall Liburing => _liburing ??= LiburingBuild.Ensure();

    public static string RepoRoot => Paths.RepoRoot;

    /// <summary>The patched tree at the committed series (its lock is released on return: tests do not edit the
    /// series).</summary>
    public static string KernelTree => Toolkit.Kernel.KernelSource.WithPatchedTree(t => t);

    /// <summary>Builds (or finds) liburing once; the bindings load it from then on (call before a P/Invoke).</summary>
    public static void PointResolverAtCachedLiburing() => NativeResolver.OverrideDirectory = Liburing.LibDir;
}
