using Toolkit.Vm;

namespace Toolkit.Tests;

/// <summary>Bad input to the VM runner that is caught before QEMU starts.</summary>
[TestFixture, NonParallelizable]
public class VmRunnerInputTests
{
    [Test]
    public void MissingQemuIsNamedWithTheInstallHint()
    {
        var saved = Environment.GetEnvironmentVariable("PATH");
        var empty = Directory.CreateTempSubdirectory("toolkit-nopath-").FullName;
        try
        {
            Environment.SetEnvironmentVariable("PATH", empty);
            var e = Assert.Throws<ToolkitException>(() => VmRunner.Run(new VmOptions
            {
                KernelImage = "/nonexistent",
                Command = ["true"]
            }));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
            Assert.That(e.Message, Does.Contain(VmRunner.Qemu).And.Contain("qemu-system-x86"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
            Directory.Delete(empty);
        }
    }

    [Test]
    public void EmptyCommandIsAUsageError()
    {
        var image = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<ToolkitException>(() => VmRunner.Run(new VmOptions
            {
                KernelImage = image,
                Command = []
            }));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.Usage));
        }
        finally { File.Delete(image); }
    }

    [Test]
    public void MissingBochsIsNamedWithTheInstallHint()
    {
        var saved = Environment.GetEnvironmentVariable("PATH");
        var empty = Directory.CreateTempSubdirectory("toolkit-nopath-").FullName;
        try
        {
            Environment.SetEnvironmentVariable("PATH", empty);
            var e = Assert.Throws<ToolkitException>(() => VmRunner.Run(new VmOptions
            {
                KernelImage = "/nonexistent",
                Command = ["true"],
                Emulator = "bochs",
            }));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
            Assert.That(e.Message, Does.Contain(BochsRunner.Bochs).And.Contain("package bochs"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
            Directory.Delete(empty);
        }
    }

    [Test]
    public void UnknownEmulatorIsAUsageError()
    {
        var e = Assert.Throws<ToolkitException>(() => VmRunner.Run(new VmOptions
        {
            KernelImage = "/nonexistent",
            Command = ["true"],
            Emulator = "vbox",
        }));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain("vbox"));
    }

    [Test]
    public void UnknownBochsCpuModelIsAUsageErrorNamingTheModels()
    {
        if (Toolkit.Infra.Proc.Which(BochsRunner.Bochs) == null) Assert.Ignore("bochs is not installed");
        var image = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<ToolkitException>(() => VmRunner.Run(new VmOptions
            {
                KernelImage = image,
                Command = ["true"],
                Emulator = "bochs",
                CpuModel = "pentium9000",
            }));
            Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.Usage));
            Assert.That(e.Message, Does.Contain("pentium9000").And.Contain("ryzen"));
        }
        finally { File.Delete(image); }
    }
}
