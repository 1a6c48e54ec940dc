namespace IoUring.Interop;

/// <summary>Logical library names used by the generated [LibraryImport]s; <see cref="NativeResolver"/> maps them to
/// files.</summary>
public static class NativeLibraryNames
{
    /// <summary>liburing.so.2: the exported (non-inline) liburing API.</summary>
    public const string Liburing = "liburing";
    /// <summary>liburing-ffi.so.2: additionally exports the header's static-inline helpers (prep, get_sqe, cqe_seen,
    /// ...).</summary>
    public const string LiburingFfi = "liburing-ffi";
    /// <summary>glibc (libc.so.6; "libc.so" is a linker script and cannot be dlopen'ed).</summary>
    public const string Libc = "libc";
}
