using Toolkit.Vm;

namespace Toolkit.Tests;

public class InitramfsTests
{
    [Test]
    public void WritesANewcArchiveThatCpioLists()
    {
        var f = Path.GetTempFileName();
        using (var s = File.Create(f))
            Initramfs.Write(s, [Initramfs.Entry.Dir("dev"), Initramfs.Entry.CharDev("dev/console", 5, 1, 0x180), Initramfs.Entry.File("init", "#!/bin/sh\n"u8.ToArray(), 0x1ed)]);
        var r = Infra.Proc.Run("cpio", ["-itv", "-F", f]);
        File.Delete(f);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Output);
        Assert.That(r.Output, Does.Contain("crw-------").And.Contain("dev/console").And.Contain("-rwxr-xr-x").And.Contain("init"));
    }
}
