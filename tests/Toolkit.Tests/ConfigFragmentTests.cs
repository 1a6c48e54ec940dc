using Toolkit.Kernel;

namespace Toolkit.Tests;

public class ConfigFragmentTests
{
    [Test]
    public void ParsesSetUnsetAndComments()
    {
        var opts = KernelConfig.ParseFragment(["# a comment", "", "CONFIG_A=y", "# CONFIG_B is not set",
            "CONFIG_C=\"x y\"", "CONFIG_D=0x10", "CONFIG_E=n"], "f");
        Assert.That(opts.Select(o => o.ToString()), Is.EqualTo(new[]
        {
            "CONFIG_A=y", "# CONFIG_B is not set", "CONFIG_C=\"x y\"", "CONFIG_D=0x10", "# CONFIG_E is not set",
        }));
        Assert.That(opts[0].Line, Is.EqualTo(3));
    }

    [TestCase("CONFIG_A y", "not a config line")]
    [TestCase("IO_URING=y", "not a config line")]
    [TestCase("CONFIG_A=maybe", "bad value for CONFIG_A")]
    [TestCase("CONFIG_A=\"unterminated", "bad value for CONFIG_A")]
    public void BrokenFragmentNamesFileAndLine(string line, string expected)
    {
        var e = Assert.Throws<ToolkitException>(() => KernelConfig.ParseFragment(["CONFIG_OK=y", line], "frag.config"));
        Assert.That(e!.ExitCode, Is.EqualTo(ExitCodes.BadConfig));
        Assert.That(e.Message, Does.StartWith("frag.config:2:").And.Contains(expected));
    }

    [Test]
    public void MergeReplacesEarlierAssignmentsAndAppendsNewOnes()
    {
        var merged = KernelConfig.Merge(["CONFIG_A=y", "# CONFIG_B is not set", "CONFIG_C=y"],
            KernelConfig.ParseFragment(["CONFIG_B=y", "# CONFIG_C is not set", "CONFIG_D=8", "CONFIG_B=m"], "f"));
        Assert.That(merged, Is.EqualTo(new[] { "CONFIG_A=y", "CONFIG_B=m", "# CONFIG_C is not set", "CONFIG_D=8" }));
    }

    [Test]
    public void DroppedOptionsAreReportedWithTheirSource()
    {
        var requested = KernelConfig.ParseFragment(["CONFIG_KEPT=y", "CONFIG_GONE=y", "CONFIG_CHANGED=y",
            "# CONFIG_OFF is not set", "CONFIG_ABSENT_OFF=n"], "debug.config");
        var final = KernelConfig.ReadConfig(["CONFIG_KEPT=y", "CONFIG_CHANGED=m", "CONFIG_OFF=y"]);
        var dropped = KernelConfig.FindDropped(requested, final);
        Assert.That(dropped, Has.Count.EqualTo(3));
        Assert.That(dropped[0], Does.StartWith("debug.config:2: CONFIG_GONE=y").And.Contains("dependencies are unmet"));
        Assert.That(dropped[1], Does.Contain("CONFIG_CHANGED=y was requested but the final config has m"));
        Assert.That(dropped[2], Does.Contain("# CONFIG_OFF is not set was requested but the final config has y"));
    }

    [Test]
    public void ShippedFragmentsParse()
    {
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Repo, "vm", "config"), "*.config"))
            Assert.That(KernelConfig.ParseFragment(f), Is.Not.Empty, f);
    }
}
