using Toolkit.Infra;
using Toolkit.Liburing;

namespace Toolkit.Tests;

/// <summary>
/// The private apt configuration liburing's source comes from (Debian sid, deb-src only): what it writes and where
/// it finds the mirror. No network: a configuration whose lists already hold a Sources index is not updated.
/// </summary>
public sealed class PrivateAptTests
{
    string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("uring-apt-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, true);

    string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text.Replace("\r", ""));
        return path;
    }

    [Test]
    public void MirrorComesFromTheDeb822FileLikeInstallDeps()
    {
        var sources = Write("debian.sources", """
            Types: deb
            # http://snapshot.debian.org/archive/debian/20250520T000000Z
            URIs: http://mirror.example/debian
            Suites: bookworm bookworm-updates
            Components: main

            Types: deb
            URIs: http://mirror.example/debian-security
            Suites: bookworm-security

            """);
        Assert.That(PrivateApt.MirrorUri(sources, Path.Combine(_dir, "none")),
            Is.EqualTo("http://mirror.example/debian"));
    }

    [Test]
    public void MirrorFallsBackToTheOneLineList()
    {
        var list = Write("sources.list", """
            # deb http://old.example/debian bookworm main
            deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://one.example/debian bookworm main
            deb http://two.example/debian bookworm main

            """);
        Assert.That(PrivateApt.MirrorUri(Path.Combine(_dir, "none"), list), Is.EqualTo("http://one.example/debian"));
        Assert.That(PrivateApt.MirrorUri(Path.Combine(_dir, "none"), Path.Combine(_dir, "none")), Is.Null);
    }

    [Test]
    public void NoMirrorIsTheUnavailableSourceCode()
    {
        var e = Assert.Throws<ToolkitException>(() => PrivateApt.Prepare(Path.Combine(_dir, "apt"), PrivateApt.SidSources, TextWriter.Null,
            Path.Combine(_dir, "none"), Path.Combine(_dir, "none")))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.MissingDependency));
    }

    [Test]
    public void ConfigurationIsPrivateAndSourceOnly()
    {
        var sources = Write("debian.sources", "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n");
        var dir = Path.Combine(_dir, "apt");
        // A Sources index already there and the same sources.list: Prepare does not run apt-get update.
        Directory.CreateDirectory(Path.Combine(dir, "lists"));
        File.WriteAllText(Path.Combine(dir, "lists", "mirror.example_debian_dists_sid_main_source_Sources.lz4"), "");
        var keyring = File.Exists("/usr/share/keyrings/debian-archive-keyring.gpg")
            ? "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] " : "";
        File.WriteAllText(Path.Combine(dir, "sources.list"),
            $"deb-src {keyring}http://mirror.example/debian sid main\n");

        var apt = PrivateApt.Prepare(dir, PrivateApt.SidSources, TextWriter.Null, sources, Path.Combine(_dir, "none"));

        Assert.That(apt.Updated, Is.False);
        var list = File.ReadAllLines(Path.Combine(dir, "sources.list"));
        Assert.That(list, Has.Length.EqualTo(1));
        Assert.That(list[0], Does.StartWith("deb-src ").And.EndWith(" sid main"), "source packages only, no binaries");
        var conf = File.ReadAllText(apt.ConfigFile);
        Assert.That(conf, Does.Contain($"Dir::Etc::SourceList \"{dir}/sources.list\";"));
        Assert.That(conf, Does.Contain("Dir::Etc::SourceParts \"/nonexistent\";"),
            "the system's sources.list.d unused");
        Assert.That(conf, Does.Contain($"Dir::State::Lists \"{dir}/lists\";"));
        Assert.That(conf, Does.Contain("Dir::State::status \"/dev/null\";"), "the system's dpkg status unused");
        Assert.That(conf, Does.Contain($"Dir::Cache \"{dir}/cache\";"));
        Assert.That(Directory.Exists(Path.Combine(dir, "cache", "archives", "partial")));
    }

    [Test]
    public void BackportsConfigurationHasOneBinaryLineAndLooksForItsPackagesIndex()
    {
        var sources = Write("debian.sources", "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n");
        var dir = Path.Combine(_dir, "apt-bpo");
        Directory.CreateDirectory(Path.Combine(dir, "lists"));
        File.WriteAllText(Path.Combine(dir, "lists",
            "mirror.example_debian_dists_trixie-backports_main_binary-amd64_Packages.lz4"), "");
        var keyring = File.Exists("/usr/share/keyrings/debian-archive-keyring.gpg")
            ? "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] " : "";
        File.WriteAllText(Path.Combine(dir, "sources.list"),
            $"deb {keyring}http://mirror.example/debian trixie-backports main\n");

        var apt = PrivateApt.Prepare(dir, PrivateApt.TrixieBackports, TextWriter.Null, sources,
            Path.Combine(_dir, "none"));

        Assert.That(apt.Updated, Is.False, "its Packages index is there: no update");
        Assert.That(File.ReadAllLines(Path.Combine(dir, "sources.list")),
            Is.EqualTo(new[] { $"deb {keyring}http://mirror.example/debian trixie-backports main" }));
        Assert.That(File.ReadAllText(apt.ConfigFile), Does.Contain("Dir::State::status \"/dev/null\";"));
    }

    [Test]
    public void DscVersionIsItsVersionField()
    {
        var dsc = Write("liburing_2.15-1.dsc",
            "Format: 3.0 (quilt)\nSource: liburing\nVersion: 2.15-1\nMaintainer: x\n");
        Assert.That(LiburingBuild.DscVersion(dsc), Is.EqualTo("2.15-1"));
        Assert.That(LiburingBuild.DscVersion(Write("bad.dsc", "Source: liburing\n")), Is.Null);
    }
}
