namespace Toolkit.Bench;

/// <summary>The host's 1-minute load average, written into every benchmark report: these machines are shared and
/// noisy.</summary>
public static class HostLoad
{
    public static string OneMinute() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}
