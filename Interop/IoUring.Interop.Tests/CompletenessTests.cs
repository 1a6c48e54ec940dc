using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>The raw API is complete: every function liburing exports is bound, and the resolver's search order is as
/// documented.</summary>
[Category("liburing")]
public sealed class CompletenessTests
{
    // The natives under test are the cached liburing build's, not whatever the system has.
    [OneTimeSetUp]
    public void PointResolverAtCachedLiburing() => TestEnvironment.PointResolverAtCachedLiburing();

    static HashSet<string> Exports(string sharedObject)
    {
        var nm = Proc.Capture("nm", ["-D", "--defined-only", sharedObject]);
        Assert.That(nm.ExitCode, Is.Zero, nm.StdErr);
        return nm.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length == 3 && p[1] == "T")
            .Select(p => p[2].Split('@')[0])
            .ToHashSet();
    }

    static HashSet<string> Bound() =>
        typeof(Liburing).GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Select(m => m.Name).ToHashSet();

    [Test]
    public void EveryExportedLiburingFunctionIsBound()
    {
        Assert.That(Exports(TestEnvironment.Liburing.LiburingSo).Except(Bound()), Is.Empty,
            "liburing.so.2 exports without a binding");
        Assert.That(Exports(TestEnvironment.Liburing.LiburingFfiSo).Except(Bound()), Is.Empty,
            "liburing-ffi.so.2 exports without a binding");
        Assert.That(Bound(),
            Does.Contain("io_uring_prep_nop").And.Contain("io_uring_get_sqe").And.Contain("io_uring_cqe_seen")
                .And.Contain("io_uring_queue_init_params"));
    }

    /// <summary>Only helpers that clang's AST shows to be pure memory work skip the GC transition; anything that may
    /// enter the kernel keeps it.</summary>
    [Test]
    public void OnlyLeafHelpersSuppressTheGcTransition()
    {
        bool Suppressed(string name) =>
            typeof(Liburing).GetMethod(name)!.GetCustomAttributes(
                typeof(System.Runtime.InteropServices.SuppressGCTransitionAttribute), false).Length > 0;
        Assert.Multiple(() =>
        {
            foreach (var leaf in new[] { "io_uring_prep_nop", "io_uring_prep_rw", "io_uring_get_sqe",
                "io_uring_cqe_seen", "io_uring_cq_advance", "io_uring_sqe_set_data64", "io_uring_cq_ready" })
                Assert.That(Suppressed(leaf), Is.True, leaf);
            foreach (var blocking in new[] { "io_uring_wait_cqe", "io_uring_peek_cqe", "io_uring_submit",
                "io_uring_submit_and_wait", "io_uring_queue_init", "io_uring_wait_cqe_timeout", "io_uring_enter" })
                Assert.That(Suppressed(blocking), Is.False, blocking);
        });
    }

    [Test]
    public void ResolverTriesOverrideThenPackageLayoutThenSystem()
    {
        var candidates = NativeResolver.CandidatePaths(NativeLibraryNames.LiburingFfi);
        Assert.That(candidates[0], Is.EqualTo(Path.Combine(TestEnvironment.Liburing.LibDir, "liburing-ffi.so.2")));
        Assert.That(candidates, Does.Contain(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native",
            "liburing-ffi.so.2")));
        Assert.That(candidates[^1], Is.EqualTo("liburing-ffi.so.2"),
            "falls back to the dynamic linker's search path (a system liburing-ffi)");
        Assert.That(NativeResolver.CandidatePaths(NativeLibraryNames.Libc), Is.EqualTo(new[] { "libc.so.6" }));
    }

    /// <summary>A shared object that looks like liburing of <paramref name="version"/> (major.minor exports), or
    /// like one older than 2.4 (no version exports) when it is null.</summary>
    static string FakeLiburing(string dir, string? version)
    {
        var c = Path.Combine(dir, $"fake-{version ?? "old"}.c");
        var so = Path.ChangeExtension(c, ".so");
        var parts = version?.Split('.');
        File.WriteAllText(c, parts == null ? "int io_uring_queue_init(void) { return 0; }\n"
            : $"int io_uring_major_version(void) {{ return {parts[0]}; }}\n" +
              $"int io_uring_minor_version(void) {{ return {parts[1]}; }}\n");
        var cc = Proc.Capture("gcc", ["-shared", "-fPIC", "-o", so, c]);
        Assert.That(cc.ExitCode, Is.Zero, cc.StdErr);
        return so;
    }

    [Test]
    public void AnOldOrMissingLiburingIsRefusedWithEveryPathAndTheFix()
    {
        var dir = Directory.CreateTempSubdirectory("resolver-").FullName;
        try
        {
            string[] candidates = [Path.Combine(dir, "missing", "liburing.so.2"), FakeLiburing(dir, "2.3"),
                FakeLiburing(dir, null), FakeLiburing(dir, "2.14")];
            var handle = NativeResolver.Load("liburing.so.2", candidates, out var from, out var error);
            Assert.That((handle, from), Is.EqualTo((IntPtr.Zero, (string?)null)));
            Assert.That(error, Does.Contain($"{candidates[0]}: no such file")
                .And.Contain($"{candidates[1]}: liburing 2.3, the bindings need 2.15 or newer")
                .And.Contain($"{candidates[2]}: liburing older than 2.4")
                .And.Contain($"{candidates[3]}: liburing 2.14")
                .And.Contain("IOURING_INTEROP_NATIVE_DIR").And.Contain("runtimes/linux-x64/native"));

            var real = Path.Combine(TestEnvironment.Liburing.LibDir, "liburing.so.2");
            handle = NativeResolver.Load("liburing.so.2", [candidates[1], FakeLiburing(dir, "3.0"), real], out from,
                out error);
            Assert.That((from, error), Is.EqualTo((Path.Combine(dir, "fake-3.0.so"), (string?)null)),
                "a newer liburing is taken");
            System.Runtime.InteropServices.NativeLibrary.Free(handle);
            handle = NativeResolver.Load("liburing.so.2", [candidates[1], real], out from, out error);
            Assert.That(from, Is.EqualTo(real), "the cached 2.15 build passes the check: " + error);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
