using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

[assembly: DisableRuntimeMarshalling] // every binding is blittable; this makes the compiler and runtime enforce it

namespace IoUring.Interop;

/// <summary>
/// Resolves the logical library names to the liburing shipped in the package
/// (runtimes/linux-x64/native), then to IOURING_INTEROP_NATIVE_DIR, then to a system liburing.
/// </summary>
public static class NativeResolver
{
    static readonly Dictionary<string, string> SoNames = new()
    {
        [NativeLibraryNames.Liburing] = "liburing.so.2",
        [NativeLibraryNames.LiburingFfi] = "liburing-ffi.so.2",
        [NativeLibraryNames.Libc] = "libc.so.6",
    };

    /// <summary>Set before the first call to force a directory holding liburing.so.2 and liburing-ffi.so.2 (tests,
    /// benchmarks).</summary>
    public static string? OverrideDirectory { get; set; }

    /// <summary>The file each logical library was loaded from, for diagnostics.</summary>
    public static IReadOnlyDictionary<string, string> Loaded => _loaded;
    static readonly Dictionary<string, string> _loaded = [];

#pragma warning disable CA2255 // a library module initializer is the point: the resolver must be in place before any P/Invoke
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => NativeLibrary.SetDllImportResolver(typeof(NativeResolver).Assembly, Resolve);

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!SoNames.TryGetValue(name, out var soName)) return IntPtr.Zero;
        foreach (var candidate in Candidates(soName))
        {
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                lock (_loaded) _loaded[name] = candidate;
                return handle;
            }
        }
        return IntPtr.Zero; // the runtime then reports DllNotFoundException for the logical name
    }

    /// <summary>The files tried for a logical library, in order (the last is the bare soname: the system's
    /// liburing).</summary>
    internal static IReadOnlyList<string> CandidatePaths(string logicalName)
        => SoNames.TryGetValue(logicalName, out var soName) ? Candidates(soName).ToList() : [];

    static IEnumerable<string> Candidates(string soName)
    {
        if (soName == "libc.so.6") { yield return soName; yield break; }
        if (OverrideDirectory is { } over) yield return Path.Combine(over, soName);
        if (Environment.GetEnvironmentVariable(
            "IOURING_INTEROP_NATIVE_DIR") is { Length: > 0 } env) yield return Path.Combine(env, soName);
        var baseDir = AppContext.BaseDirectory;
        {
            // NuGet restores RID-specific natives here for portable apps, or flat next to the app for RID-specific
            // ones.
            yield return Path.Combine(baseDir, "runtimes", "linux-x64", "native", soName);
            yield return Path.Combine(baseDir, soName);
        }
        // Fallback: a liburing installed on the system (the dynamic linker's search path).
        yield return soName;
    }
}
