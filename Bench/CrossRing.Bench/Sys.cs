using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CrossRing.Bench;

/// <summary>
/// The few libc calls the latency workloads need beyond the generated <c>Libc</c>: socket pairs, per-thread
/// CPU clocks and sub-millisecond sleeps (Thread.Sleep rounds to milliseconds).
/// </summary>
static unsafe partial class Sys
{
    const int ClockMonotonic = 1, ClockProcessCpu = 2, ClockThreadCpu = 3;
    public const int AfUnix = 1, SockStream = 1;

    [StructLayout(LayoutKind.Sequential)]
    struct Timespec
    {
        public long Sec, Nsec;
    }

    [LibraryImport("libc.so.6", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc.so.6", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, Timespec* ts);

    [LibraryImport("libc.so.6", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanoSleep(int clock, int flags, Timespec* req, Timespec* rem);

    static Sys()
    {
        // Event timestamps are compared with CLOCK_MONOTONIC deadlines (IORING_TIMEOUT_ABS): both must be ns.
        if (Stopwatch.Frequency != 1_000_000_000)
            throw new PlatformNotSupportedException($"Stopwatch.Frequency is {Stopwatch.Frequency}, not 1 GHz");
    }

    /// <summary>CLOCK_MONOTONIC in ns: the clock of every event and reap timestamp.</summary>
    public static long NowNs() => Stopwatch.GetTimestamp();

    public static long ThreadCpuNs() => Clock(ClockThreadCpu);

    public static long ProcessCpuNs() => Clock(ClockProcessCpu);

    static long Clock(int id)
    {
        Timespec ts;
        if (ClockGetTime(id, &ts) != 0) throw new InvalidOperationException($"clock_gettime({id}) failed");
        return ts.Sec * 1_000_000_000 + ts.Nsec;
    }

    public static void SleepNs(long ns)
    {
        var ts = new Timespec { Sec = ns / 1_000_000_000, Nsec = ns % 1_000_000_000 };
        ClockNanoSleep(ClockMonotonic, 0, &ts, null);
    }

    public static (int, int) UnixStreamPair()
    {
        int* sv = stackalloc int[2];
        if (SocketPair(AfUnix, SockStream, 0, sv) != 0)
            throw new InvalidOperationException($"socketpair: errno {Marshal.GetLastPInvokeError()}");
        return (sv[0], sv[1]);
    }

    /// <summary>Busy computation for <paramref name="ns"/> of wall time: the source thread's work slice.</summary>
    public static void Spin(long ns)
    {
        var end = NowNs() + ns;
        while (NowNs() < end) Thread.SpinWait(20);
    }
}
