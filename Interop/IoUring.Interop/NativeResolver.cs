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
        var handle = Load(soName, Candidates(soName), out var candidate, out var error);
        if (handle == IntPtr.Zero) throw new DllNotFoundException(error);
        lock (_loaded) _loaded[name] = candidate!;
        return handle;
    }

    /// <summary>The oldest liburing the bindings were generated for: an older one lacks functions they call.</summary>
    public static readonly Version MinimumLiburing = new(2, 15);

    /// <summary>
    /// Loads the first candidate that loads and, for liburing, is at least <see cref="MinimumLiburing"/> (a system
    /// liburing 2.3 would load and then fail on the first newer entry point). On failure, the handle is zero and
    /// <paramref name="error"/> lists every candidate with why it was not taken, and how to provide the library.
    /// </summary>
    internal static IntPtr Load(string soName, IEnumerable<string> candidates, out string? loadedFrom,
        out string? error)
    {
        var tried = new List<string>();
        foreach (var candidate in candidates)
        {
            if (!NativeLibrary.TryLoad(candidate, out var handle))
            {
                tried.Add($"{candidate}: {(Path.IsPathRooted(candidate) && !File.Exists(candidate)
                    ? "no such file" : "dlopen failed")}");
                continue;
            }
            if (soName != "libc.so.6" && LiburingVersion(handle) is var v && (v == null || v < MinimumLiburing))
            {
                NativeLibrary.Free(handle);
                tried.Add($"{candidate}: liburing {v?.ToString() ?? "older than 2.4"}, the bindings need " +
                    $"{MinimumLiburing} or newer");
                continue;
            }
            (loadedFrom, error) = (candidate, null);
            return handle;
        }
        loadedFrom = null;
        error = $"IoUring.Interop could not load {soName}. Tried, in order:\n  " + string.Join("\n  ", tried) +
            "\nThe package ships it for linux-x64 in runtimes/linux-x64/native/; otherwise set " +
            $"IOURING_INTEROP_NATIVE_DIR to a directory holding liburing.so.2 and liburing-ffi.so.2 of liburing " +
            $"{MinimumLiburing} or newer (scripts/toolkit liburing build makes one), or install such a liburing.";
        return IntPtr.Zero;
    }

    /// <summary>A loaded liburing's version (io_uring_major_version/minor_version, exported since 2.4), or null
    /// when it has neither.</summary>
    static unsafe Version? LiburingVersion(IntPtr handle)
    {
        if (!NativeLibrary.TryGetExport(handle, "io_uring_major_version", out var major) ||
            !NativeLibrary.TryGetExport(handle, "io_uring_minor_version", out var minor))
            return null;
        return new Version(((delegate* unmanaged<int>)major)(), ((delegate* unmanaged<int>)minor)());
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
