using Toolkit.Vm;

namespace Toolkit.Tests;

public class InitramfsTests
{
    [Test]
    public void WritesANewcArchiveThatCpioLists()
    {
        var f = Path.GetTempFileName();
        using (var s = File.Create(f))
            Initramfs.Write(s, [Initramfs.Entry.Dir("dev"), Initramfs.Entry.CharDev("dev/console", 5, 1, 0x180),
                Initramfs.Entry.File("init", "#!/bin/sh\n"u8.ToArray(), 0x1ed)]);
        var r = Infra.Proc.Run("cpio", ["-itv", "-F", f]);
        File.Delete(f);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Output);
        Assert.That(r.Output,
            Does.Contain("crw-------").And.Contain("dev/console").And.Contain("-rwxr-xr-x").And.Contain("init"));
    }

    [Test]
    public void HeadersCarryTheOctalModesOfADirectoryACharDeviceAndAnExecutable()
    {
        using var s = new MemoryStream();
        Initramfs.Write(s, [Initramfs.Entry.Dir("dev"),
            Initramfs.Entry.CharDev("dev/console", 5, 1, Initramfs.Permissions.Mode0600),
            Initramfs.Entry.File("init", "#!/bin/sh\n"u8.ToArray(), Initramfs.Permissions.Mode0755)]);
        var text = System.Text.Encoding.ASCII.GetString(s.ToArray());
        // newc header: "070701", then c_ino and c_mode as 8 hex digits each.
        var modes = new List<string>();
        for (var at = text.IndexOf("070701", StringComparison.Ordinal); at >= 0;
             at = text.IndexOf("070701", at + 6, StringComparison.Ordinal))
            modes.Add(Convert.ToString(Convert.ToUInt32(text.Substring(at + 14, 8), 16), 8));
        Assert.That(modes, Is.EqualTo(new[] { "40755", "20600", "100755", "0" }), "dev, dev/console, init, trailer");
        Assert.That(Initramfs.Permissions.Mode0755, Is.EqualTo(0x1ed));
        Assert.That(Initramfs.Permissions.Mode0600, Is.EqualTo(0x180));
    }
}
