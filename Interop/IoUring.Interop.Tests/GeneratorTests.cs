using System.CommandLine;
using System.Security.Cryptography;
using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>The generator end to end: check mode, determinism, patched kernel trees and every bad-input path.</summary>
[NonParallelizable]
public sealed class GeneratorTests
{
    static GenerationInputs DefaultInputs() => BindingsGenerator.ResolveInputs(TestEnvironment.KernelTree, null,
        TextWriter.Null);

    /// <summary>A minimal "kernel tree": the Makefile (for the version), the UAPI header, optionally edited, and
    /// the headers it includes from linux/io_uring/ (7.x).</summary>
    static string PatchedTree(Func<string, string> edit)
    {
        var tree = Directory.CreateTempSubdirectory("uring-kernel-tree-").FullName;
        File.Copy(Path.Combine(TestEnvironment.KernelTree, "Makefile"), Path.Combine(tree, "Makefile"));
        var uapi = Path.Combine(TestEnvironment.KernelTree, "include", "uapi", "linux");
        var header = Path.Combine(tree, "include", "uapi", "linux", "io_uring.h");
        Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(header)!, "io_uring"));
        File.WriteAllText(header, edit(File.ReadAllText(Path.Combine(uapi, "io_uring.h"))));
        if (Directory.Exists(Path.Combine(uapi, "io_uring")))
            foreach (var h in Directory.GetFiles(Path.Combine(uapi, "io_uring"), "*.h"))
                File.Copy(h, Path.Combine(Path.GetDirectoryName(header)!, "io_uring", Path.GetFileName(h)));
        return tree;
    }

    static (int Exit, string Out, string Err) RunCli(params string[] args)
    {
        var root = new RootCommand("test");
        root.Add(InteropCommands.Bindings(Toolkit.Kernel.KernelSource.WithPatchedTree));
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            return (root.Parse(args).Invoke(), o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    static string HashOfGeneratedOutput()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var dir in new[] { BindingsGenerator.BindingsDir, BindingsGenerator.TestsDir })
            foreach (var f in Directory.GetFiles(Path.Combine(TestEnvironment.RepoRoot,
                dir)).Order(StringComparer.Ordinal))
            {
                sha.AppendData(System.Text.Encoding.UTF8.GetBytes(f));
                sha.AppendData(File.ReadAllBytes(f));
            }
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    [Test]
    public void CommittedBindingsAreUpToDate()
    {
        var (exit, stdout, stderr) = RunCli("bindings", "generate", "--check");
        Assert.That(exit, Is.Zero, stdout + stderr);
    }

    [Test]
    public void RegenerationIsByteIdenticalAndMachineIndependent()
    {
        var clang = new ClangDriver();
        var first = BindingsGenerator.Generate(DefaultInputs(), clang, TextWriter.Null);
        var second = BindingsGenerator.Generate(DefaultInputs(), clang, TextWriter.Null);
        Assert.That(second.Files.Keys, Is.EqualTo(first.Files.Keys));
        foreach (var (name, text) in first.Files)
        {
            Assert.That(second.Files[name], Is.EqualTo(text), name);
            Assert.That(text,
                Does.Not.Contain(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile)
                    + "/"), $"{name} names a home directory");
            Assert.That(text, Does.Not.Contain("/tmp/"), $"{name} names a temp path");
            Assert.That(text, Does.Contain("do not edit"), $"{name} has the generated header");
            Assert.That(text,
                Does.Contain($"Linux {Toolkit.Kernel.KernelSource.ReadMakefileVersion(TestEnvironment.KernelTree)} ")
                    .And.Contain($"liburing {LiburingBuild.DefaultDebianVersion}"),
                $"{name} names its inputs");
        }
    }

    [Test]
    public void StaleOutputIsReportedAsADiff()
    {
        var output = BindingsGenerator.Generate(DefaultInputs(), new ClangDriver(), TextWriter.Null);
        var key = $"{BindingsGenerator.BindingsDir}/IoUringUapi.g.cs";
        var edited = output.Files.ToDictionary(kv => kv.Key, kv => kv.Value);
        edited[key] = edited[key].Replace("public const uint IORING_SETUP_SQPOLL = 2U;",
            "public const uint IORING_SETUP_SQPOLL = 3U;");
        Assert.That(edited[key], Is.Not.EqualTo(output.Files[key]));
        var diff = BindingsGenerator.Diff(output with { Files = edited }, TestEnvironment.RepoRoot);
        Assert.That(diff,
            Does.Contain("-    public const uint IORING_SETUP_SQPOLL = 2U;").And.Contain(
                "+    public const uint IORING_SETUP_SQPOLL = 3U;"));
    }

    /// <summary>A patched tree (new constant, a reserved word turned into a field) flows into the bindings; --check
    /// flags it.</summary>
    [Test]
    public void PatchedKernelTreeChangesTheBindings()
    {
        var tree = PatchedTree(h => h
            .Replace("#define IORING_SETUP_SQPOLL",
                "#define IORING_SETUP_TOOLKIT_TEST\t(1U << 30)\n#define IORING_SETUP_SQPOLL")
            .Replace("struct io_cqring_offsets {\n\t__u32 head;", "struct io_cqring_offsets {\n\t__u32 head;")
            .Replace("\t__u32 flags;\n\t__u32 resv1;\n\t__u64 user_addr;\n};\n\n/*\n * cq_ring->flags",
                "\t__u32 flags;\n\t__u32 user_word;\n\t__u64 user_addr;\n};\n\n/*\n * cq_ring->flags"));
        try
        {
            Assert.That(File.ReadAllText(Path.Combine(tree, "include/uapi/linux/io_uring.h")),
                Does.Contain("user_word"), "the edit applied");
            var inputs = BindingsGenerator.ResolveInputs(tree, null, TextWriter.Null);
            var output = BindingsGenerator.Generate(inputs, new ClangDriver(), TextWriter.Null);
            var uapi = output.Files[$"{BindingsGenerator.BindingsDir}/IoUringUapi.g.cs"];
            Assert.That(uapi, Does.Contain("public const uint IORING_SETUP_TOOLKIT_TEST = 0x40000000U;"));
            Assert.That(uapi, Does.Contain("[FieldOffset(28)] public uint user_word;"));
            Assert.That(output.Files[$"{BindingsGenerator.TestsDir}/layout_asserts_uapi.c"],
                Does.Contain("offsetof(struct io_cqring_offsets, user_word) == 28"));

            var (exit, stdout, _) = RunCli("bindings", "generate", "--check", "--kernel-tree", tree);
            Assert.That(exit, Is.EqualTo(ExitCodes.GeneratorError));
            Assert.That(stdout, Does.Contain("+    public const uint IORING_SETUP_TOOLKIT_TEST = 0x40000000U;"));
        }
        finally
        {
            Directory.Delete(tree, true);
        }
    }

    [Test]
    public void MissingClangIsAMissingDependency()
    {
        var e = Assert.Throws<ToolkitException>(() => _ = new ClangDriver("clang-does-not-exist-14"))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
        Assert.That(e.Message, Does.Contain("clang-does-not-exist-14"));

        var previous = Environment.GetEnvironmentVariable("IOURING_INTEROP_CLANG");
        Environment.SetEnvironmentVariable("IOURING_INTEROP_CLANG", "/nonexistent/clang-14");
        try
        {
            var before = HashOfGeneratedOutput();
            var (exit, _, stderr) = RunCli("bindings", "generate");
            Assert.That(exit, Is.EqualTo(ExitCodes.MissingDependency), stderr);
            Assert.That(stderr, Does.Contain("/nonexistent/clang-14"));
            Assert.That(HashOfGeneratedOutput(), Is.EqualTo(before), "nothing written");
        }
        finally
        {
            Environment.SetEnvironmentVariable("IOURING_INTEROP_CLANG", previous);
        }
    }

    [Test]
    public void MissingKernelTreeOrHeaderIsAUsageError()
    {
        var before = HashOfGeneratedOutput();
        var (exit, _, stderr) = RunCli("bindings", "generate", "--kernel-tree", "/nonexistent/kernel");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(stderr, Does.Contain("/nonexistent/kernel does not exist"));

        var empty = Directory.CreateTempSubdirectory("uring-empty-tree-").FullName;
        try
        {
            (exit, _, stderr) = RunCli("bindings", "generate", "--kernel-tree", empty);
            Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
            Assert.That(stderr, Does.Contain("include/uapi/linux/io_uring.h does not exist"));
        }
        finally
        {
            Directory.Delete(empty, true);
        }
        (exit, _, stderr) = RunCli("bindings", "generate", "--liburing-prefix", "/nonexistent/prefix");
        Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
        Assert.That(stderr, Does.Contain("/nonexistent/prefix/include/liburing.h does not exist"));
        Assert.That(HashOfGeneratedOutput(), Is.EqualTo(before), "nothing written");
    }

    [Test]
    public void HeaderThatDoesNotParseShowsClangDiagnostics()
    {
        var tree = PatchedTree(h => h.Replace("struct io_uring_sqe {",
            "struct io_uring_sqe { __u8 broken_field_without_semicolon"));
        try
        {
            var before = HashOfGeneratedOutput();
            var (exit, _, stderr) = RunCli("bindings", "generate", "--kernel-tree", tree);
            Assert.That(exit, Is.EqualTo(ExitCodes.BuildFailed), "distinct from unsupported constructs (237)");
            Assert.That(stderr, Does.Contain("clang could not parse the uapi headers"));
            Assert.That(stderr, Does.Contain("io_uring.h:").And.Contain("error:"));
            Assert.That(HashOfGeneratedOutput(), Is.EqualTo(before), "nothing written");
        }
        finally
        {
            Directory.Delete(tree, true);
        }
    }

    [Test]
    public void UnsupportedConstructNamesTheDeclarationAndLine()
    {
        var tree = PatchedTree(h => h.Replace("struct io_uring_cqe {",
            "struct io_uring_toolkit_float {\n\tlong double precise;\n};\n\nstruct io_uring_cqe {"));
        try
        {
            var line = File.ReadAllLines(Path.Combine(tree,
                "include/uapi/linux/io_uring.h")).ToList().FindIndex(l => l.Contains("long double precise;")) + 1;
            var before = HashOfGeneratedOutput();
            var e = Assert.Throws<ToolkitException>(() =>
                BindingsGenerator.Generate(BindingsGenerator.ResolveInputs(tree, null, TextWriter.Null),
                    new ClangDriver(), TextWriter.Null))!;
            Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.GeneratorError));
            Assert.That(e.Message,
                Does.Contain($"linux/io_uring.h:{line}").And.Contain("io_uring_toolkit_float.precise").And.Contain(
                    "long double"));

            var (exit, _, stderr) = RunCli("bindings", "generate", "--kernel-tree", tree);
            Assert.That(exit, Is.EqualTo(ExitCodes.GeneratorError));
            Assert.That(stderr, Does.Contain($"linux/io_uring.h:{line}"));
            Assert.That(HashOfGeneratedOutput(), Is.EqualTo(before), "nothing written");
        }
        finally
        {
            Directory.Delete(tree, true);
        }
    }

    const string BitfieldStruct = """
        struct io_uring_toolkit_bits {
        	__u32 low:3;
        	__u32 :4;
        	__u32 high:20;
        	__s16 sgn:5;
        	__u8 flag:1;
        	__u64 wide:40;
        };


        """;

    /// <summary>
    /// No bitfield appears in today's inputs, so a patched tree adds one: the generated properties
    /// must put every bit where gcc/clang do (run-time C check) and where the generated C# tables say.
    /// </summary>
    [Test]
    public void BitfieldsBecomePropertiesCheckedAgainstCAndCSharp()
    {
        var tree = PatchedTree(h => h.Replace("struct io_uring_cqe {",
            BitfieldStruct.Replace("\r", "") + "struct io_uring_cqe {"));
        var work = Directory.CreateTempSubdirectory("uring-bitfields-").FullName;
        var overlay = BindingsGenerator.CreateUapiOverlay(tree);
        try
        {
            var output = BindingsGenerator.Generate(BindingsGenerator.ResolveInputs(tree, null, TextWriter.Null),
                new ClangDriver(), TextWriter.Null);
            var uapi = output.Files[$"{BindingsGenerator.BindingsDir}/IoUringUapi.g.cs"];
            Assert.That(uapi,
                Does.Contain("public uint low").And.Contain("public short sgn").And.Contain("public ulong wide"));
            Assert.That(uapi, Does.Contain(
                "BitfieldAccess.Read(ref Unsafe.As<io_uring_toolkit_bits, byte>(ref this), 0, 0, 3, false)"));
            AssertGeneratedCCheckPassesAndCatchesAWrongBit(output, work, overlay);
            AssertGeneratedCSharpMatchesItsTables(output, work);
        }
        finally
        {
            Directory.Delete(tree, true);
            Directory.Delete(work, true);
            Directory.Delete(overlay, true);
        }
    }

    /// <summary>
    /// C: compile and run the generated check with both compilers; then break one expected byte pattern.
    /// </summary>
    static void AssertGeneratedCCheckPassesAndCatchesAWrongBit(GeneratedOutput output, string work, string overlay)
    {
        var cFile = Path.Combine(work, "layout_asserts_uapi.c");
        var cText = output.Files[$"{BindingsGenerator.TestsDir}/layout_asserts_uapi.c"];
        Assert.That(cText, Does.Contain("int uring_check_bitfields(void)"));
        foreach (var compiler in new[] { "gcc", "clang-14" })
        {
            File.WriteAllText(cFile, cText);
            Assert.That(CompileAndRun(compiler, cFile, overlay), Is.Zero,
                $"{compiler}: bitfields where the bindings put them");
        }
        var broken = cText.Replace("static const unsigned char want[16] = { 7, 0,",
            "static const unsigned char want[16] = { 14, 0,");
        Assert.That(broken, Is.Not.EqualTo(cText), "the mutation applied");
        File.WriteAllText(cFile, broken);
        Assert.That(CompileAndRun("gcc", cFile, overlay), Is.Not.Zero, "a wrong bit position is caught");
    }

    /// <summary>
    /// C#: compile the generated bindings and tables for this tree and run every check, plus sign extension.
    /// </summary>
    static void AssertGeneratedCSharpMatchesItsTables(GeneratedOutput output, string work)
    {
        var project = Path.Combine(work, "cs");
        WriteBitfieldCheckProject(output, project);
        var build = Proc.Capture("dotnet", ["build", project, "-c", "Release", "-nologo", "-v", "q"], project);
        Assert.That(build.ExitCode, Is.Zero, build.StdOut + build.StdErr);
        var run = Proc.Capture("dotnet", ["run", "--no-build", "-c", "Release", "--project", project], project);
        Assert.That(run.ExitCode, Is.Zero, run.StdOut + run.StdErr);
        Assert.That(run.StdOut, Does.Contain("bitfield fields checked: 5, failures: 0"));
    }

    /// <summary>A console project of the generated .cs files, the bindings library's sources and LayoutProbe.</summary>
    static void WriteBitfieldCheckProject(GeneratedOutput output, string project)
    {
        Directory.CreateDirectory(project);
        foreach (var (rel, text) in output.Files.Where(kv => kv.Key.EndsWith(".cs", StringComparison.Ordinal)))
            File.WriteAllText(Path.Combine(project, Path.GetFileName(rel)), text);
        var library = Path.Combine(TestEnvironment.RepoRoot, "Interop", "IoUring.Interop");
        foreach (var file in Directory.GetFiles(library, "*.cs"))
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        File.Copy(Path.Combine(TestEnvironment.RepoRoot, "Interop", "IoUring.Interop.Tests", "LayoutProbe.cs"),
            Path.Combine(project, "LayoutProbe.cs"));
        File.WriteAllText(Path.Combine(project, "BitfieldCheck.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <AllowUnsafeBlocks>true</AllowUnsafeBlocks>
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(project, "Program.cs"), BitfieldCheckProgram);
    }

    const string BitfieldCheckProgram = """
        using IoUring.Interop;
        using IoUring.Interop.Tests;
        var failures = 0;
        foreach (var r in LayoutExpectations.Records)
            if (r.ActualSize() != r.Size || r.ActualAlign() != r.Align)
            {
                Console.WriteLine($"record {r.Name}");
                failures++;
            }
        foreach (var f in LayoutExpectations.Fields)
            if (f.ActualOffset() != f.Offset || f.ActualSize() != f.Size)
            {
                Console.WriteLine(
                    $"field {f.Record}.{f.Field}: {f.ActualOffset()}/{f.ActualSize()} vs {f.Offset}/{f.Size}");
                failures++;
            }
        var bits = default(io_uring_toolkit_bits);
        bits.sgn = -3;
        bits.wide = 0xAB_CDEF_0123;
        bits.low = 5;
        if (bits.sgn != -3 || bits.wide != 0xAB_CDEF_0123 || bits.low != 5 || bits.high != 0 || bits.flag != 0)
        {
            Console.WriteLine("read-back");
            failures++;
        }
        var bitfieldFields = LayoutExpectations.Fields.Count(f => f.Field.EndsWith("(bits)"));
        Console.WriteLine($"bitfield fields checked: {bitfieldFields}, failures: {failures}");
        return failures;
        """;

    static int CompileAndRun(string compiler, string cFile, string include)
    {
        var exe = Path.ChangeExtension(cFile, null) + "-" + compiler;
        var compile = Proc.Capture(compiler, ["-std=gnu11", "-DURING_CHECK_MAIN", "-I", include, "-o", exe, cFile]);
        Assert.That(compile.ExitCode, Is.Zero, compile.StdErr);
        return Proc.Capture(exe, []).ExitCode;
    }

    [TestCase("unsigned int", "unsigned int")]
    [TestCase("const struct io_uring_sqe *", "struct io_uring_sqe *")]
    [TestCase("__u8[32]", "__u8[32]")]
    [TestCase("struct io_uring_buf[]", "struct io_uring_buf[]")]
    [TestCase("unsigned long[2][3]", "unsigned long[3][2]")] // printed inner-first by Spell(): array of 2 arrays of 3
    [TestCase("int (*)(int, void *)", "int (*)(int, void *)")]
    [TestCase("union io_uring_sqe::(anonymous at /x/io_uring.h:30:2)", "union (unnamed at /x/io_uring.h:30:2)")]
    [TestCase("__u64 __attribute__((aligned(8)))", "__u64")]
    public void TypeSpellingsParse(string spelling, string expected)
        => Assert.That(CTypeParser.Parse(spelling).Spell(), Is.EqualTo(expected));

    [Test]
    public void LayoutDumpParserReadsNestingAndBitfields()
    {
        const string dump = """
            *** Dumping AST Record Layout
                     0 | struct s
                     0 |   union s::(anonymous at f.h:3:2) 
                     0 |     __u64 a
                     0 |     __u32 b
                     8 |   __u32 c
                12:0-2 |   unsigned int bits
                       | [sizeof=16, align=8]
            """;
        var layout = LayoutDumpParser.Parse(dump)["struct s"];
        Assert.That((layout.Size, layout.Align), Is.EqualTo((16L, 8)));
        Assert.That(layout.Root.Children.Select(c => c.Name), Is.EqualTo(new[] { "", "c", "bits" }));
        Assert.That(layout.Root.Children[0].Children.Select(c => (c.Name, c.Offset)), Is.EqualTo(new[] { ("a", 0L),
            ("b", 0L) }));
        Assert.That(layout.Root.Children[2].Bits, Is.EqualTo((0, 2)));
    }
}
