using System.Security.Cryptography;
using System.Text;

namespace IoUring.Interop.Generator;

/// <summary>What the bindings are generated from; <see cref="Describe"/> goes into every generated header.</summary>
public sealed record GenerationInputs(string KernelTree, string KernelVersion, string KernelHeaderSha,
    LiburingInstall Liburing, string GlibcVersion)
{
    public string KernelHeader => Path.Combine(KernelTree, "include", "uapi", "linux", "io_uring.h");

    public string Describe() =>
        $"Linux {KernelVersion} include/uapi/linux/io_uring.h (sha256 {KernelHeaderSha[..16]}), " +
        $"liburing {Liburing.Version} (liburing.h, patch series {Liburing.SeriesHash}), Debian glibc {GlibcVersion} headers; clang 14, x86_64-linux-gnu.";
}

/// <summary>Generated files, keyed by path relative to the repository root.</summary>
public sealed record GeneratedOutput(IReadOnlyDictionary<string, string> Files, int Records, int Constants,
    int Functions, int Skipped);

/// <summary>
/// The bindings generator: builds the three translation units (kernel UAPI, liburing.h, the libc
/// selection), extracts them through clang and writes bindings, C asserts and C# layout tests.
/// </summary>
public static class BindingsGenerator
{
    public const string BindingsDir = "Interop/IoUring.Interop/Generated";
    public const string TestsDir = "Interop/IoUring.Interop.Tests/Generated";

    /// <summary>libc functions the toolkit needs (ring setup by hand, eventfd, futex wakeups, mmap of the
    /// rings).</summary>
    static readonly string[] LibcFunctions = ["mmap", "munmap", "close", "eventfd", "syscall", "sched_yield", "read",
        "write"];
    static readonly string[] LibcMacros =
    [
        "__NR_io_uring_setup", "__NR_io_uring_enter", "__NR_io_uring_register", "__NR_futex",
        "PROT_READ", "PROT_WRITE", "MAP_SHARED", "MAP_POPULATE", "EFD_CLOEXEC", "EFD_NONBLOCK", "EFD_SEMAPHORE",
        "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_PRIVATE_FLAG",
        "EAGAIN", "EINTR", "EBUSY", "ETIME", "ENOMEM", "EINVAL", "EBADF", "EBADFD", "ENOENT", "EPERM", "ECANCELED",
        "EOPNOTSUPP", "EACCES", "EOVERFLOW", "EEXIST", "ENXIO", "__GLIBC__", "__GLIBC_MINOR__",
    ];

    /// <summary>Resolves and validates the inputs (clear errors for missing paths), building liburing when
    /// needed.</summary>
    public static GenerationInputs ResolveInputs(string kernelTree, string? liburingPrefix, TextWriter log)
    {
        kernelTree = Path.GetFullPath(kernelTree);
        if (!Directory.Exists(kernelTree))
            throw new ToolkitException(
                ExitCodes.Usage, $"kernel tree {kernelTree} does not exist (run `scripts/toolkit kernel build " +
                    $"--flavour patched` to create the patched tree, or pass --kernel-tree PATH)");
        var header = Path.Combine(kernelTree, "include", "uapi", "linux", "io_uring.h");
        if (!File.Exists(header))
            throw new ToolkitException(
                ExitCodes.Usage, $"{header} does not exist: {kernelTree} is not a kernel source tree");
        var version = KernelVersion(kernelTree);
        LiburingInstall liburing;
        if (liburingPrefix is not null)
        {
            var prefix = Path.GetFullPath(liburingPrefix);
            if (!File.Exists(Path.Combine(prefix, "include", "liburing.h")))
                throw new ToolkitException(
                    ExitCodes.Usage, $"{prefix}/include/liburing.h does not exist (pass an install prefix of liburing)");
            liburing = new LiburingInstall(ReadLiburingVersion(prefix), "", prefix, "external");
        }
        else liburing = LiburingBuild.Ensure(log: log);
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(header)));
        return new GenerationInputs(kernelTree, version, sha, liburing, "");
    }

    static string ReadLiburingVersion(string prefix)
    {
        var text = File.ReadAllText(Path.Combine(prefix, "include", "liburing", "io_uring_version.h"));
        string Get(string n) => text.Split('\n').First(l => l.Contains("#define " + n)).Split(' ',
            StringSplitOptions.RemoveEmptyEntries)[2];
        return $"{Get("IO_URING_VERSION_MAJOR")}.{Get("IO_URING_VERSION_MINOR")}";
    }

    /// <summary>VERSION.PATCHLEVEL.SUBLEVEL from the tree's top-level Makefile.</summary>
    public static string KernelVersion(string tree)
    {
        var makefile = Path.Combine(tree, "Makefile");
        if (!File.Exists(makefile)) return "unknown";
        var values = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(makefile).Take(10))
        {
            var parts = line.Split('=', 2);
            if (parts.Length == 2) values[parts[0].Trim()] = parts[1].Trim();
        }
        return $"{values.GetValueOrDefault("VERSION", "?")}.{values.GetValueOrDefault("PATCHLEVEL", "?")}.{values.GetValueOrDefault("SUBLEVEL", "?")}";
    }

    /// <summary>Scratch include directory whose linux/io_uring.h and linux/io_uring/*.h (7.x splits zcrx, query,
    /// BPF filter and mock file definitions out) are the kernel tree's, so every other header comes from the
    /// system.</summary>
    public static string CreateUapiOverlay(string kernelTree)
    {
        var overlay = Directory.CreateTempSubdirectory("uring-interop-uapi-").FullName;
        var uapi = Path.Combine(kernelTree, "include", "uapi", "linux");
        Directory.CreateDirectory(Path.Combine(overlay, "linux", "io_uring"));
        File.Copy(Path.Combine(uapi, "io_uring.h"), Path.Combine(overlay, "linux", "io_uring.h"));
        if (Directory.Exists(Path.Combine(uapi, "io_uring")))
            foreach (var h in Directory.GetFiles(Path.Combine(uapi, "io_uring"), "*.h"))
                File.Copy(h, Path.Combine(overlay, "linux", "io_uring", Path.GetFileName(h)));
        return overlay;
    }

    /// <summary>Whether a header of the overlay is the io_uring UAPI (linux/io_uring.h or linux/io_uring/*.h).</summary>
    static bool IsUapiHeader(string overlay, string f) => f == Path.Combine(overlay, "linux", "io_uring.h")
        || (Path.GetDirectoryName(f) == Path.Combine(overlay, "linux", "io_uring") && f.EndsWith(".h",
            StringComparison.Ordinal));

    public static UnitSpec UapiUnit(string overlay) => new()
    {
        Name = "uapi",
        Prelude = "#include <linux/io_uring.h>\n",
        IncludeDirs = [overlay],
        IsPrimaryFile = f => IsUapiHeader(overlay, f),
        DisplayPath = f => DisplayPath(f, (overlay, "")),
        LibraryFor = _ => throw new ToolkitException(ExitCodes.GeneratorError, "the UAPI header declares no functions"),
    };

    public static UnitSpec LiburingUnit(LiburingInstall liburing)
    {
        var include = liburing.IncludeDir;
        var bundledUapi = Path.Combine(include, "liburing", "io_uring.h");
        return new UnitSpec
        {
            Name = "liburing",
            Prelude = "#define _GNU_SOURCE\n#include <liburing.h>\n",
            IncludeDirs = [include],
            // liburing's own copy of io_uring.h is not primary: the kernel tree's header is authoritative for the UAPI.
            IsPrimaryFile = f => f != bundledUapi && (f == Path.Combine(include,
                "liburing.h") || f.StartsWith(Path.Combine(include, "liburing") + "/", StringComparison.Ordinal)),
            DisplayPath = f => DisplayPath(f, (include, "")),
            LibraryFor = f => f.IsInline ? "liburing-ffi" : "liburing",
            SharedObjects = new Dictionary<string, string>
            {
                ["liburing"] = liburing.LiburingSo,
                ["liburing-ffi"] = liburing.LiburingFfiSo
            },
        };
    }

    public static UnitSpec LibcUnit() => new()
    {
        Name = "libc",
        Prelude =
            "#define _GNU_SOURCE\n#include <sys/mman.h>\n#include <sys/eventfd.h>\n#include " +
                "<sys/syscall.h>\n#include <unistd.h>\n#include <sched.h>\n#include <errno.h>\n#include " +
                    "<linux/futex.h>\n",
        IncludeDirs = [],
        IsPrimaryFile = _ => false,
        DisplayPath = f => DisplayPath(f),
        FunctionSelection = LibcFunctions.ToHashSet(),
        MacroSelection = LibcMacros.ToHashSet(),
        VariadicOverrides = new Dictionary<string, VariadicOverride>
        {
            ["syscall"] = new(6,
                "Variadic in C; bound with six long arguments, which the x86-64 SysV ABI passes exactly like the " +
                    "variadic integer arguments (unused ones are ignored by the kernel)."),
        },
        LibraryFor = _ => "libc",
    };

    /// <summary>Machine-independent path for output: relative to the include root that provides it.</summary>
    static string DisplayPath(string file, params (string Root, string Prefix)[] roots)
    {
        foreach (var (root, prefix) in roots)
            if (file.StartsWith(root + "/", StringComparison.Ordinal)) return prefix + file[(root.Length + 1)..];
        foreach (var sys in new[] { "/usr/include/x86_64-linux-gnu/", "/usr/include/" })
            if (file.StartsWith(sys, StringComparison.Ordinal)) return file[sys.Length..];
        if (file.Contains("/lib/clang/")) return Path.GetFileName(file);
        return Path.GetFileName(file);
    }

    /// <summary>Runs the whole generator and returns the files it would write (nothing is written here).</summary>
    public static GeneratedOutput Generate(GenerationInputs inputs, ClangDriver clang, TextWriter log)
    {
        var overlay = CreateUapiOverlay(inputs.KernelTree);
        try
        {
            log.WriteLine($"generating from Linux {inputs.KernelVersion} ({inputs.KernelHeader}) and liburing {inputs.Liburing.Version} ({inputs.Liburing.Prefix})");
            var uapi = new UnitExtractor(clang, UapiUnit(overlay)).Extract();
            var liburingSpec = LiburingUnit(inputs.Liburing);
            liburingSpec.ProvidedRecords = uapi.Records.Select(r => r.Name).ToHashSet();
            liburingSpec.ProvidedEnums = uapi.Enums.Select(e => e.Name).ToHashSet();
            var liburing = new UnitExtractor(clang, liburingSpec).Extract();
            var libcSpec = LibcUnit();
            libcSpec.ProvidedRecords = uapi.Records.Concat(liburing.Records).Select(r => r.Name).ToHashSet();
            libcSpec.ProvidedEnums = uapi.Enums.Concat(liburing.Enums).Select(e => e.Name).ToHashSet();
            var libc = new UnitExtractor(clang, libcSpec).Extract();
            var glibc = libc.Constants.First(c => c.Name == "__GLIBC__").RawValue + "." + libc.Constants.First(c =>
                c.Name == "__GLIBC_MINOR__").RawValue;
            inputs = inputs with { GlibcVersion = glibc };

            UnitModel[] units = [uapi, liburing, libc];
            var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var layout = new Dictionary<string, (string, string, string?)>
            {
                ["uapi"] = ("IoUringUapi.g.cs", "IoUringConstants", null),
                ["liburing"] = ("Liburing.g.cs", "LiburingConstants", "Liburing"),
                ["libc"] = ("Libc.g.cs", "LibcConstants", "Libc"),
            };
            var emitter = new CSharpEmitter(inputs, units);
            foreach (var (name, text) in emitter.Emit(layout))
                files[$"{BindingsDir}/{name}"] = text;
            TestEmitters.AllRecords = units.SelectMany(u => u.Records).Where(r => !r.Opaque).ToDictionary(r => r.Name);
            foreach (var unit in units)
                files[$"{TestsDir}/layout_asserts_{unit.Spec.Name}.c"] = TestEmitters.CAsserts(inputs, unit);
            files[$"{TestsDir}/LayoutExpectations.g.cs"] = TestEmitters.CSharpExpectations(inputs, units,
                layout.ToDictionary(kv => kv.Key, kv => kv.Value.Item2), emitter.FieldType);
            files[$"{BindingsDir}/inputs.txt"] = CSharpEmitter.Header(inputs, "#") +
                $"kernel {inputs.KernelVersion}\nkernel-header-sha256 {inputs.KernelHeaderSha}\nliburing {inputs.Liburing.Version}\nliburing-series {inputs.Liburing.SeriesHash}\nglibc {glibc}\n";
            return new GeneratedOutput(files,
                units.Sum(u => u.Records.Count), units.Sum(u => u.Constants.Count), units.Sum(u => u.Functions.Count),
                    units.Sum(u => u.Skipped.Count));
        }
        finally
        {
            Directory.Delete(overlay, true);
        }
    }

    /// <summary>Writes all files atomically: into a temp tree first, then each file is renamed over its
    /// target.</summary>
    public static void Write(GeneratedOutput output, string root)
    {
        var staging = Directory.CreateTempSubdirectory("uring-interop-out-").FullName;
        try
        {
            foreach (var (rel, text) in output.Files)
            {
                var path = Path.Combine(staging, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text, new UTF8Encoding(false));
            }
            // Remove generated files that are no longer produced (e.g. after a unit is renamed).
            foreach (var dir in new[] { BindingsDir, TestsDir })
            {
                var full = Path.Combine(root, dir);
                if (!Directory.Exists(full)) continue;
                foreach (var existing in Directory.GetFiles(full))
                    if (!output.Files.ContainsKey($"{dir}/{Path.GetFileName(existing)}")) File.Delete(existing);
            }
            foreach (var rel in output.Files.Keys)
            {
                var target = Path.Combine(root, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var temp = target + ".tmp-generate";
                File.Copy(Path.Combine(staging, rel), temp, true);
                File.Move(temp, target, true);
            }
        }
        finally
        {
            Directory.Delete(staging, true);
        }
    }

    /// <summary>Compares with the files on disk; returns a unified diff (empty when up to date).</summary>
    public static string Diff(GeneratedOutput output, string root)
    {
        var staging = Directory.CreateTempSubdirectory("uring-interop-check-").FullName;
        try
        {
            var sb = new StringBuilder();
            var expectedNames = new HashSet<string>(output.Files.Keys);
            foreach (var dir in new[] { BindingsDir, TestsDir })
            {
                var full = Path.Combine(root, dir);
                if (Directory.Exists(full))
                    foreach (var f in Directory.GetFiles(full))
                        if (!expectedNames.Contains($"{dir}/{Path.GetFileName(f)}")) sb.Append($"stale file (no " +
                            $"longer generated): {dir}/{Path.GetFileName(f)}\n");
            }
            foreach (var (rel, text) in output.Files)
            {
                var committed = Path.Combine(root, rel);
                var current = File.Exists(committed) ? File.ReadAllText(committed) : null;
                if (current == text) continue;
                var fresh = Path.Combine(staging, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(fresh)!);
                File.WriteAllText(fresh, text, new UTF8Encoding(false));
                if (current is null) { sb.Append($"missing file: {rel}\n"); continue; }
                var diff = Proc.Capture("diff", ["-u", "--label", $"a/{rel} (committed)",
                    "--label", $"b/{rel} (generated now)", committed, fresh]);
                sb.Append(diff.StdOut.Length > 0 ? diff.StdOut : $"{rel} differs\n");
            }
            return sb.ToString();
        }
        finally
        {
            Directory.Delete(staging, true);
        }
    }
}
