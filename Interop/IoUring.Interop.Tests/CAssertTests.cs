using IoUring.Interop.Generator;

namespace IoUring.Interop.Tests;

/// <summary>The generated _Static_assert files, compiled by gcc and clang against the same headers the generator
/// read.</summary>
[Category("liburing")]
public sealed class CAssertTests
{
    static string GeneratedFile(string unit) => Path.Combine(TestEnvironment.RepoRoot,
        BindingsGenerator.TestsDir, $"layout_asserts_{unit}.c");

    static CapturedProcess Compile(string compiler, string unit, string? sourceOverride = null)
    {
        var overlay = BindingsGenerator.CreateUapiOverlay(TestEnvironment.KernelTree);
        var dir = Directory.CreateTempSubdirectory("uring-asserts-").FullName;
        try
        {
            var file = Path.Combine(dir, $"layout_asserts_{unit}.c");
            File.WriteAllText(file, sourceOverride ?? File.ReadAllText(GeneratedFile(unit)));
            var include = unit switch
            {
                "uapi" => overlay,
                "liburing" => TestEnvironment.Liburing.IncludeDir,
                _ => null,
            };
            List<string> args = ["-fsyntax-only", "-std=gnu11"];
            if (include is not null) args.AddRange(["-I", include]);
            args.Add(file);
            return Proc.Capture(compiler, args);
        }
        finally
        {
            Directory.Delete(dir, true);
            Directory.Delete(overlay, true);
        }
    }

    [TestCase("gcc", "uapi"), TestCase("gcc", "liburing"), TestCase("gcc", "libc")]
    [TestCase("clang-14", "uapi"), TestCase("clang-14", "liburing"), TestCase("clang-14", "libc")]
    public void AssertsHold(string compiler, string unit)
    {
        var text = File.ReadAllText(GeneratedFile(unit));
        Assert.That(text.Split('\n').Count(l => l.StartsWith("URING_CHECK(", StringComparison.Ordinal)),
            Is.GreaterThan(10), "the file checks something");
        var result = Compile(compiler, unit);
        Assert.That(result.ExitCode, Is.Zero, result.StdErr);
    }

    /// <summary>Test of the test: one wrong offset, and one wrong constant, in a hand-edited copy must fail to compile,
    /// naming the check.</summary>
    [TestCase("gcc"), TestCase("clang-14")]
    public void WrongOffsetFailsToCompile(string compiler)
    {
        var text = File.ReadAllText(GeneratedFile("uapi"));
        const string check = "URING_CHECK(offsetof(struct io_uring_sqe, user_data) == 32,";
        Assert.That(text, Does.Contain(check));
        var result = Compile(compiler, "uapi", text.Replace(check,
            "URING_CHECK(offsetof(struct io_uring_sqe, user_data) == 40,"));
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StdErr, Does.Contain("offsetof struct io_uring_sqe.user_data"));

        const string constant = "URING_CHECK((unsigned long long)(IORING_SETUP_SQPOLL) == 2ULL,";
        Assert.That(text, Does.Contain(constant));
        result = Compile(compiler, "uapi", text.Replace(constant,
            "URING_CHECK((unsigned long long)(IORING_SETUP_SQPOLL) == 4ULL,"));
        Assert.That(result.ExitCode, Is.Not.Zero);
        Assert.That(result.StdErr, Does.Contain("value of IORING_SETUP_SQPOLL"));
    }
}
