using System.Security.Cryptography;
using System.Text;
using Toolkit.Infra;

namespace Toolkit.Vm;

/// <summary>
/// The guest's initramfs: Debian's static busybox, vm/guest/init as /init, and a /dev/console
/// node (the kernel opens it for init's stdio before devtmpfs exists). Written as an uncompressed
/// newc cpio archive, cached under a name derived from its content.
/// </summary>
public static class Initramfs
{
    public const string BusyboxPath = "/bin/busybox";

    public static string Ensure()
    {
        var init = Path.Combine(Paths.VmDir, "guest", "init");
        if (!File.Exists(init)) throw new ToolkitException(ExitCodes.MissingDependency, $"{init} is missing");
        var initBytes = File.ReadAllBytes(init);
        var busybox = File.ReadAllBytes(StaticBusybox());
        var key = Convert.ToHexStringLower(SHA256.HashData([.. initBytes, .. busybox]))[..16];
        var dir = Path.Combine(Paths.CacheRoot, "initramfs");
        var path = Path.Combine(dir, $"initramfs-{key}.cpio");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(dir);
        var tmp = path + $".tmp{Environment.ProcessId}";
        using (var fs = File.Create(tmp))
            Write(fs, [
                Entry.Dir("bin"), Entry.Dir("dev"), Entry.Dir("proc"), Entry.Dir("sys"),
                Entry.CharDev("dev/console", 5, 1, Permissions.Mode0600),
                Entry.File("bin/busybox", busybox, Permissions.Mode0755),
                Entry.File("init", initBytes, Permissions.Mode0755),
            ]);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    /// <summary>Debian's static busybox, the guest's only userland; exit 230 without it.</summary>
    public static string StaticBusybox()
    {
        if (!File.Exists(BusyboxPath) || !IsStatic(BusyboxPath))
            throw new ToolkitException(
                ExitCodes.MissingDependency, $"a static {BusyboxPath} is needed: install busybox-static " +
                    $"(scripts/install-deps)");
        return BusyboxPath;
    }

    static bool IsStatic(string path)
    {
        // An ELF with no PT_INTERP program header runs without a dynamic loader.
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[4] != 2) return false;
        var phoff = BitConverter.ToInt64(bytes, 32);
        var phentsize = BitConverter.ToUInt16(bytes, 54);
        var phnum = BitConverter.ToUInt16(bytes, 56);
        for (var i = 0; i < phnum; i++)
            if (BitConverter.ToUInt32(bytes, (int)phoff + i * phentsize) == 3 /* PT_INTERP */) return false;
        return true;
    }

    /// <summary>Permission bits of st_mode, built from .NET's names for them; the names say the octal value.</summary>
    public static class Permissions
    {
        /// <summary>rwxr-xr-x</summary>
        public const uint Mode0755 = (uint)(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        /// <summary>rw-------</summary>
        public const uint Mode0600 = (uint)(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>
    /// File-type bits of st_mode (S_IFDIR, S_IFREG, S_IFCHR of sys/stat.h). C writes them in octal and C# has no
    /// octal literals, so they are parsed from the same digits.
    /// </summary>
    static readonly uint TypeDirectory = Convert.ToUInt32("040000", 8);
    static readonly uint TypeRegularFile = Convert.ToUInt32("0100000", 8);
    static readonly uint TypeCharDevice = Convert.ToUInt32("020000", 8);

    public sealed record Entry(string Name, uint Mode, byte[] Data, uint RdevMajor = 0, uint RdevMinor = 0)
    {
        public static Entry Dir(string name) => new(name, TypeDirectory | Permissions.Mode0755, []);
        public static Entry File(string name, byte[] data, uint perm) => new(name, TypeRegularFile | perm, data);
        public static Entry CharDev(string name, uint major, uint minor, uint perm)
            => new(name, TypeCharDevice | perm, [], major, minor);
    }

    /// <summary>Writes a newc ("070701") archive; fixed inode numbers and mtimes keep it reproducible.</summary>
    public static void Write(Stream s, IEnumerable<Entry> entries)
    {
        uint ino = 1;
        foreach (var e in entries.Append(new Entry("TRAILER!!!", 0, [])))
        {
            var name = Encoding.ASCII.GetBytes(e.Name + "\0");
            var header = "070701" + string.Concat(new uint[]
            {
                e.Name == "TRAILER!!!" ? 0 : ino++, e.Mode, 0, 0, 1, 0, (uint)e.Data.Length, 0, 0, e.RdevMajor,
                    e.RdevMinor,
                (uint)name.Length, 0,
            }.Select(v => v.ToString("X8")));
            s.Write(Encoding.ASCII.GetBytes(header));
            s.Write(name);
            Pad(s);
            s.Write(e.Data);
            Pad(s);
        }
    }

    static void Pad(Stream s)
    {
        while (s.Position % 4 != 0) s.WriteByte(0);
    }
}
