using System.Text.RegularExpressions;

namespace Toolkit.Suites;

/// <summary>
/// kmemleak's report (/sys/kernel/debug/kmemleak): parsing it into objects and telling the ones io_uring
/// allocated from the rest. Used by the reliability job after every test (docs/reliability.md).
/// </summary>
public static partial class Kmemleak
{
    public const string DebugFsFile = "/sys/kernel/debug/kmemleak";

    /// <summary>kmemleak reports nothing younger than this (MSECS_MIN_AGE in mm/kmemleak.c): wait longer after a
    /// test.</summary>
    public static readonly TimeSpan MinimumObjectAge = TimeSpan.FromSeconds(5);

    /// <summary>One unreferenced object: its header, the allocating task, the allocation backtrace (function names),
    /// the raw text.</summary>
    public sealed record Report(string Address, int Size, string Comm, int Pid, IReadOnlyList<string> Backtrace,
        string Text)
    {
        /// <summary>The first backtrace frame that is io_uring's, or null.</summary>
        public string? IoUringFrame { get; init; }
        public bool IsIoUring => IoUringFrame != null;
    }

    [GeneratedRegex(@"^unreferenced object (0x[0-9a-f]+) \(size (\d+)\):")]
    private static partial Regex Header();
    [GeneratedRegex(@"^\s+comm ""(.*)"", pid (-?\d+), jiffies \d+")]
    private static partial Regex CommLine();
    [GeneratedRegex(@"^\s+backtrace")]
    private static partial Regex BacktraceLine();
    // "    io_alloc_req+0x1a/0x60", "    [<ffffffff8123>] io_alloc_req+0x1a/0x60" (older kernels), maybe " [module]".
    [GeneratedRegex(@"^\s+(?:\[<[0-9a-f]+>\]\s+)?([A-Za-z0-9_.$]+)\+0x[0-9a-f]+/0x[0-9a-f]+")]
    private static partial Regex Frame();

    /// <summary>
    /// Names io_uring's functions are recognised by when the kernel's io_uring/*.o symbols are not known:
    /// io_uring's own prefix (io_*, but not the scheduler's io_schedule*) and the entry points of io_uring/*.c that do
    /// not use it.
    /// </summary>
    [GeneratedRegex(@"^(__)?(io_(?!schedule|serial_)|tctx_task_work|__do_sys_io_uring|__se_sys_io_uring|__x64_sys_io_uring)")]
    private static partial Regex IoUringName();

    /// <summary>
    /// What kmemleak logs when it turns itself off (mm/kmemleak.c, 6.12; pr_fmt adds "kmemleak: "). Every path
    /// goes through kmemleak_disable(), which logs "Kernel memory leak detector disabled"; the others name the
    /// cause, in case that line was lost. Not in the list, because kmemleak carries on after them: "Cannot
    /// allocate a scan area, scanning the full object" (kmemleak_scan_area(): the object is then scanned
    /// whole), "Found object by alias", "Freeing unknown object", ... (kmemleak_warn()).
    /// </summary>
    [GeneratedRegex(@"kmemleak: (?:" +
        @"Kernel memory leak detector disabled" +                       // kmemleak_disable(), every path
        @"|Cannot allocate a kmemleak_object structure" +               // __alloc_object(), then kmemleak_disable()
        @"|Memory pool empty, consider increasing"
            +                    // mem_pool_alloc(): no object left; __alloc_object() disables
        @"|Cannot insert 0x[0-9a-f]+ into the object search tree" +     // __link_object(): kmemleak_stop()
        @"|Kmemleak disabled without freeing internal data" +           // kmemleak_do_cleanup(), after a disable
        @"|Early log buffer exceeded" +                                 // before 5.5 (the early log), then disabled
        @")")]
    private static partial Regex DisabledMessage();

    /// <summary>The first kernel log line saying kmemleak has disabled itself, or null (<see
    /// cref="DisabledMessage"/>).</summary>
    public static string? DisabledLine(IEnumerable<string> kernelLog) => kernelLog.FirstOrDefault(l =>
        DisabledMessage().IsMatch(l));

    /// <summary>Splits kmemleak's report into objects; anything that is not part of one is ignored.</summary>
    public static List<Report> Parse(string text)
    {
        var reports = new List<Report>();
        var lines = text.Replace("\r", "").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var h = Header().Match(lines[i]);
            if (!h.Success) continue;
            var start = i;
            string comm = "";
            var pid = -1;
            var frames = new List<string>();
            var inBacktrace = false;
            for (i++; i < lines.Length && !Header().IsMatch(lines[i]); i++)
            {
                if (CommLine().Match(lines[i]) is { Success: true } c)
                {
                    comm = c.Groups[1].Value;
                    pid = int.Parse(c.Groups[2].Value);
                }
                else if (BacktraceLine().IsMatch(lines[i])) inBacktrace = true;
                else if (inBacktrace && Frame().Match(lines[i]) is { Success: true } f) frames.Add(f.Groups[1].Value);
            }
            var end = i;
            i--;
            reports.Add(new Report(h.Groups[1].Value, int.Parse(h.Groups[2].Value), comm, pid, frames,
                string.Join('\n', lines[start..end]).TrimEnd()));
        }
        return reports;
    }

    /// <summary>
    /// Marks the reports whose allocation backtrace passes through io_uring: a frame naming one of
    /// <paramref name="ioUringSymbols"/> (the functions defined in the kernel's io_uring/*.o), or, when those are
    /// not known, a frame matching io_uring's naming (io_*, io_uring_*, tctx_task_work, the io_uring syscalls).
    /// </summary>
    public static List<Report> Classify(IEnumerable<Report> reports, IReadOnlySet<string>? ioUringSymbols) =>
        reports.Select(r => r with
        {
            IoUringFrame = r.Backtrace.FirstOrDefault(f => IsIoUring(f,
            ioUringSymbols))
        }).ToList();

    public static bool IsIoUring(string function, IReadOnlySet<string>? ioUringSymbols) =>
        ioUringSymbols is { Count: > 0 }
            ? ioUringSymbols.Contains(function) || ioUringSymbols.Contains(BaseName(function))
            : IoUringName().IsMatch(function);

    /// <summary>A function name without GCC's clone suffixes (io_foo.isra.0, io_foo.cold,
    /// io_foo.constprop.0).</summary>
    public static string BaseName(string function)
    {
        var dot = function.IndexOf('.');
        return dot > 0 ? function[..dot] : function;
    }

    /// <summary>Short description of one report: size, task, and the io_uring frame or the first frames.</summary>
    public static string Describe(Report r) =>
        $"{r.Address} size {r.Size} comm \"{r.Comm}\" pid {r.Pid}: " +
        (r.IoUringFrame != null
            ? $"allocated in {r.IoUringFrame} ({string.Join(" <- ", r.Backtrace.Take(6))})" : string.Join(" <- ",
                r.Backtrace.Take(6)));
}
