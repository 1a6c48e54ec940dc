using Toolkit.Infra;

namespace IoUring.Interop.Wakeup.Tests;

/// <summary>
/// The UMONITOR/UMWAIT and MONITORX/MWAITX stubs cannot run on the machines here (no WAITPKG, no MONITORX, and
/// QEMU TCG has neither), so their bytes are checked by disassembling them with objdump instead.
/// </summary>
public sealed class WaitInstructionsTests
{
    [Test]
    public void StubBytesDisassembleToTheIntendedInstructions()
    {
        if (!File.Exists("/usr/bin/objdump")) Assert.Ignore("objdump (binutils) is not installed");
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, WaitInstructions.StubBytes);
            var text = Proc.Capture("objdump", ["-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", file]).StdOut;
            TestContext.Out.WriteLine(text);
            // Instructions in order, the int3 padding excluded; operands as this objdump prints them
            // (binutils 2.40 prints monitorx/mwaitx without their implicit operands).
            var instructions = text.Split('\n')
                .Select(l => l.Split('\t'))
                .Where(c => c.Length >= 3)
                .Select(c => Normalize(c[2]))
                .Where(m => m != "int3")
                .ToList();
            var expected = new[]
            {
                "umonitor rdi", "ret",
                "rdtsc", "shl rdx,0x20", "or rax,rdx", "add rax,rsi", "mov rdx,rax", "shr rdx,0x20", "umwait edi",
                    "setb al", "movzx eax,al", "ret",
                "mov rax,rdi", "xor ecx,ecx", "xor edx,edx", "monitorx", "ret",
                "push rbx", "mov ebx,edi", "mov ecx,0x2", "xor eax,eax", "mwaitx", "pop rbx", "ret",
            };
            Assert.That(instructions.Select(i => i.StartsWith("monitorx",
                StringComparison.Ordinal) ? "monitorx" : i.StartsWith("mwaitx",
                    StringComparison.Ordinal) ? "mwaitx" : i),
                Is.EqualTo(expected));
        }
        finally
        {
            File.Delete(file);
        }
    }

    static string Normalize(string s) => string.Join(' ', s.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    [Test]
    public void ReportsWhichInstructionRuns()
    {
        var line = WaitInstructions.Describe();
        TestContext.Out.WriteLine(line);
        Assert.That(line, Does.StartWith($"wait instruction: {WaitInstructions.Best}"));
        if (!WaitInstructions.HasWaitPkg && !WaitInstructions.HasMonitorX)
            Assert.That(WaitInstructions.Best, Is.EqualTo(WaitInstruction.Pause));
    }

    [TestCase(false, true, true, false, WaitInstruction.Mwaitx, "MONITORX/MWAITX on the word's cache line")]
    [TestCase(true, true, true, false, WaitInstruction.Umwait, "UMONITOR/UMWAIT on the word's cache line")]
    [TestCase(false, true, true, true, WaitInstruction.Pause, "pause loop (forced, or the stub page could not be mapped)")]
    [TestCase(false, true, false, false, WaitInstruction.Pause, "pause loop (forced, or the stub page could not be mapped)")]
    [TestCase(false, false, true, false, WaitInstruction.Pause, "pause loop (CPU has neither WAITPKG nor MONITORX)")]
    public void ChoosesByCpuidBits(bool waitpkg, bool monitorx, bool mapped, bool forced, WaitInstruction expected,
        string why)
    {
        // The rule the Bochs waiter suite applies to its guest's CPUID bits (ryzen: monitorx only → MWAITX).
        Assert.That(WaitInstructions.Choose(waitpkg, monitorx, mapped, forced), Is.EqualTo(expected));
        Assert.That(WaitInstructions.Describe(waitpkg, monitorx, mapped, forced),
            Is.EqualTo($"wait instruction: {expected} — {why}; cpuid waitpkg={(waitpkg ? "yes" : "no")} " +
                $"monitorx={(monitorx ? "yes" : "no")}"));
    }
}
