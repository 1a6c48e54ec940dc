using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Toolkit.Suites;

/// <summary>
/// Allocation fault injection for the reliability job (docs/reliability.md): failslab and fail_page_alloc
/// (Documentation/fault-injection/), aimed at the test's processes only (task-filter, with make-it-fail set
/// by a shell wrapper before it execs the test; threads, io-wq workers and SQPOLL threads inherit it, and a
/// preloaded library clears it on every thread when the test exits) and
/// at io_uring's code (the stack-trace filter: an allocation fails only when io_uring's text is on its
/// stack, and never when kmemleak's is, so kmemleak's own bookkeeping is not failed). Everything here
/// is text in, text out, so the settings and the parsing are unit-tested.
/// </summary>
public static partial class FaultInjection
{
    public const string DebugFs = "/sys/kernel/debug";

    /// <summary>The fault_attr directories used, in debugfs.</summary>
    public static readonly string[] Capabilities = ["failslab", "fail_page_alloc"];

    /// <summary>Starting value of each capability's "times" countdown; what is left after a test says how many failures
    /// it got.</summary>
    public const long Times = 1_000_000_000;

    /// <summary>
    /// The library the wrapper LD_PRELOADs (liburing-tests/preload/fault-injection-off.c, built with the C tests): when
    /// the test exits (exit(), return from main, _exit()), it writes 0 to /proc/self/task/*/make-it-fail before any
    /// thread runs its exit path. io_uring's own threads (iou-sqp, iou-wrk) inherit make-it-fail and have io_uring's
    /// text at the bottom of every stack, so without it every allocation of their do_exit() may fail, among them the
    /// final fput() of the process's files on the guest's 9p root: a failed p9_client_clunk() loses the fid and
    /// the guest can no longer exec anything (docs/reliability.md).
    /// </summary>
    public const string PreloadLibrary = "fault-injection-off.so";

    /// <summary>
    /// Sets make-it-fail on itself (the shell, whose pid the test keeps across exec), then execs the test with
    /// <paramref name="preload"/> (<see cref="PreloadLibrary"/>) preloaded: `sh -c WRAPPER TEST ARGS...`. The shell's
    /// and the exec's own allocations cannot fail, as no io_uring code is on their stacks.
    /// </summary>
    public static string Wrapper(string preload) =>
        $"echo 1 > /proc/self/make-it-fail && LD_PRELOAD={ShellQuote(preload)}${{LD_PRELOAD:+:$LD_PRELOAD}} exec " +
            $"\"$0\" \"$@\"";

    /// <summary>One word for sh: single-quoted, with any single quote closed, escaped and reopened.</summary>
    public static string ShellQuote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>What the guest saw when it checked its root after a fault-injected test: `sh -c true`, and reading
    /// /bin/sh.</summary>
    public sealed record RootCheck(int? ShellExit, string ShellOutput, bool ShellTimedOut, string? ReadError);

    /// <summary>The file <see cref="RootProblem"/>'s check reads (on the root: a failed walk there fails the
    /// read).</summary>
    public const string RootCheckFile = "/bin/sh";

    /// <summary>
    /// Null when the root is usable (`sh -c true` exits 0 and <see cref="RootCheckFile"/> reads), else the one failure
    /// that ends the phase: "guest root filesystem unusable after TEST (9p fid lost under fault injection?)" and what
    /// failed.
    /// </summary>
    public static string? RootProblem(string test, RootCheck c)
    {
        var what = new List<string>();
        if (c.ShellTimedOut) what.Add("`sh -c true` did not finish");
        else if (c.ShellExit != 0)
        {
            var said = c.ShellOutput.Split('\n',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
            what.Add($"`sh -c true` {(c.ShellExit is { } e ? $"exit {e}" : "could not start")}{(said != null ? ": " + said : "")}");
        }
        if (c.ReadError != null) what.Add($"reading {RootCheckFile}: {c.ReadError}");
        return what.Count == 0 ? null
            : $"guest root filesystem unusable after {test} (9p fid lost under fault injection?): {string.Join("; ", what)}";
    }

    /// <summary>An address range of kernel text (require-start/require-end), with how it was found.</summary>
    public sealed record TextRange(ulong Start, ulong End, int Symbols, string First, string Last)
    {
        public override string ToString() => $"0x{Start:x}-0x{End:x} ({Symbols} symbols, {First} .. {Last})";
    }

    public sealed record Settings
    {
        /// <summary>Percent of the eligible allocations that fail.</summary>
        public int Probability { get; init; } = 10;
        /// <summary>Also fail page allocations (ring memory, io-wq worker stacks), not only slab ones.</summary>
        public bool PageAlloc { get; init; } = true;
        /// <summary>Only allocations with this text on the stack fail (io_uring's); null: any allocation of the
        /// task.</summary>
        public TextRange? Require { get; init; }
        /// <summary>Allocations with this text on the stack never fail (kmemleak's own).</summary>
        public TextRange? Reject { get; init; }
        /// <summary>failslab's cache-filter: only these caches fail (e.g. io_kiocb); empty: every cache.</summary>
        public IReadOnlyList<string> Caches { get; init; } = [];
        /// <summary>1: log each failure (rate-limited), 2: and its stack. GFP_NOWARN allocations are never
        /// logged.</summary>
        public int Verbose { get; init; } = 2;
        /// <summary>
        /// "space": the first this many bytes (failslab) of eligible allocations never fail, nor the first
        /// <see cref="Space"/>/4096 pages (fail_page_alloc): lets a test get through its set-up first.
        /// </summary>
        public int Space { get; init; }
    }

    /// <summary>Shell commands that arm the capabilities (probability last, so nothing fails
    /// half-configured).</summary>
    public static string ArmScript(Settings s)
    {
        if (s.Probability is < 1 or > 100) throw new ArgumentOutOfRangeException(nameof(
            s), $"probability {s.Probability} is not 1..100");
        var sb = new StringBuilder("set -e\n");
        foreach (var cap in Used(s))
        {
            var d = $"{DebugFs}/{cap}";
            void W(string file, string value) => sb.Append($"echo {value} > {d}/{file}\n");
            W("probability", "0");
            W("task-filter", "Y");
            // GFP_KERNEL allocations fail too, not only atomic ones.
            W("ignore-gfp-wait", "N");
            if (cap == "fail_page_alloc")
            {
                W("ignore-gfp-highmem", "N");
                W("min-order", "0");
            }
            if (cap == "failslab") W("cache-filter", s.Caches.Count > 0 ? "Y" : "N");
            W("interval", "1");
            W("space", (cap == "failslab" ? s.Space : s.Space / 4096).ToString(CultureInfo.InvariantCulture));
            W("times", Times.ToString(CultureInfo.InvariantCulture));
            W("verbose", s.Verbose.ToString(CultureInfo.InvariantCulture));
            // Off by default (RATELIMIT_STATE_INIT_DISABLED): every logged failure would dump its stack.
            W("verbose_ratelimit_interval_ms", "5000");
            W("verbose_ratelimit_burst", "10");
            W("stacktrace-depth", "32");
            W("require-start", Hex(s.Require?.Start ?? 0));
            W("require-end", Hex(s.Require?.End ?? ulong.MaxValue));
            W("reject-start", Hex(s.Reject?.Start ?? 0));
            W("reject-end", Hex(s.Reject?.End ?? 0));
        }
        foreach (var c in s.Caches) sb.Append($"echo 1 > /sys/kernel/slab/{c}/failslab\n");
        foreach (var cap in Used(s)) sb.Append($"echo {s.Probability} > {DebugFs}/{cap}/probability\n");
        return sb.ToString();
    }

    /// <summary>Disarms (probability 0, caches unflagged) and prints "CAPABILITY TIMES-LEFT" per capability.</summary>
    public static string DisarmScript(Settings s)
    {
        var sb = new StringBuilder();
        foreach (var cap in Used(s)) sb.Append($"echo 0 > {DebugFs}/{cap}/probability\n");
        foreach (var c in s.Caches) sb.Append($"echo 0 > /sys/kernel/slab/{c}/failslab\n");
        foreach (var cap in Used(s)) sb.Append($"echo \"{cap} $(cat {DebugFs}/{cap}/times)\"\n");
        return sb.ToString();
    }

    static IEnumerable<string> Used(Settings s) => s.PageAlloc ? Capabilities : ["failslab"];

    static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Failures injected per capability, from the disarm script's "CAPABILITY TIMES-LEFT" lines.</summary>
    public static Dictionary<string, long> InjectedCounts(string disarmOutput)
    {
        var d = new Dictionary<string, long>();
        foreach (var line in disarmOutput.Split('\n',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2 && Capabilities.Contains(parts[0]) && long.TryParse(parts[1],
                CultureInfo.InvariantCulture, out var left))
                d[parts[0]] = Times - left;
        }
        return d;
    }

    /// <summary>One text symbol of /proc/kallsyms.</summary>
    public sealed record Symbol(ulong Address, string Name);

    [GeneratedRegex(@"^([0-9a-f]+) ([tTwW]) (\S+)(\s+\[\S+\])?$")]
    private static partial Regex KallsymsLine();

    /// <summary>The text symbols of the core kernel (no modules) from /proc/kallsyms, by address.</summary>
    public static List<Symbol> ParseKallsyms(IEnumerable<string> lines)
    {
        var list = new List<Symbol>();
        foreach (var l in lines)
            if (KallsymsLine().Match(l.TrimEnd()) is { Success: true } m && !m.Groups[4].Success)
                list.Add(new Symbol(ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber,
                    CultureInfo.InvariantCulture), m.Groups[3].Value));
        list.Sort((a, b) => a.Address.CompareTo(b.Address));
        return list;
    }

    /// <summary>The text symbols `nm` lists as defined in object files (io_uring/*.o): the function names.</summary>
    public static HashSet<string> ParseNm(IEnumerable<string> lines)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in lines)
        {
            var parts = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3 && parts[1] is "t" or "T" or "W" or "w") set.Add(parts[2]);
        }
        return set;
    }

    /// <summary>
    /// Where the objects whose functions are <paramref name="names"/> lie in the running kernel. The objects of
    /// one directory (io_uring/) are linked one after the other, so their .text is one run of consecutive text
    /// symbols (by address) that are all theirs; what the compiler put elsewhere (.text.unlikely, .init.text) is
    /// not in it. A name that kallsyms lists more than once (KASAN's _sub_I_65535_1 constructors, which every
    /// object has; static helpers such as __refcount_add.constprop.0 that other files have too) proves nothing:
    /// it may sit inside a run but does not start, end or count toward one. The range is the run with the most
    /// names of their own, from its first such symbol to the start of the symbol after its last one. Null
    /// when there is none, or kallsyms shows no addresses (kptr_restrict).
    /// </summary>
    public static TextRange? FindRange(IReadOnlyList<Symbol> kallsyms, IReadOnlySet<string> names)
    {
        if (kallsyms.Count == 0 || kallsyms.All(s => s.Address == 0)) return null;
        var count = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in kallsyms) count[s.Name] = count.GetValueOrDefault(s.Name) + 1;
        bool Own(int i) => names.Contains(kallsyms[i].Name) && count[kallsyms[i].Name] == 1;
        bool Shared(int i) => names.Contains(kallsyms[i].Name) && count[kallsyms[i].Name] > 1;
        int bestFirst = -1, bestLast = -1, bestOwn = 0;
        for (var i = 0; i < kallsyms.Count;)
        {
            if (!Own(i)) { i++; continue; }
            int first = i, last = i, own = 0;
            for (var j = i; j < kallsyms.Count && (Own(j) || Shared(j)); j++)
                if (Own(j)) (last, own) = (j, own + 1);
            if (own > bestOwn) (bestFirst, bestLast, bestOwn) = (first, last, own);
            i = last + 1;
        }
        if (bestOwn == 0) return null;
        var lastSym = kallsyms[bestLast];
        // Up to the next symbol at a higher address; the last symbol of all gets one page.
        var end = kallsyms.Skip(bestLast + 1).FirstOrDefault(s => s.Address > lastSym.Address)?.Address
            ?? lastSym.Address + 4096;
        return new TextRange(kallsyms[bestFirst].Address, end, bestLast - bestFirst + 1, kallsyms[bestFirst].Name,
            lastSym.Name);
    }

    /// <summary>A logged injected failure ("FAULT_INJECTION: forcing a failure." and, with verbose=2, its
    /// stack).</summary>
    public sealed record Logged(string Capability, string? Site);

    [GeneratedRegex(@"^(\[\s*\d+\.\d+\]\s?)?")]
    private static partial Regex Timestamp();
    [GeneratedRegex(@"^name (\S+), interval")]
    private static partial Regex NameLine();
    [GeneratedRegex(@"^\s*([A-Za-z0-9_.$]+)\+0x[0-9a-f]+/0x[0-9a-f]+")]
    private static partial Regex FrameLine();

    /// <summary>
    /// The failures the kernel logged in <paramref name="kernelLog"/> (rate-limited, and never for GFP_NOWARN
    /// allocations, so fewer than were injected), each with the first frame of its stack that
    /// <paramref name="isSite"/> accepts (an io_uring function), else the first one past the allocator.
    /// </summary>
    public static List<Logged> ParseLogged(IReadOnlyList<string> kernelLog, Func<string, bool> isSite)
    {
        var list = new List<Logged>();
        for (var i = 0; i < kernelLog.Count; i++)
        {
            if (!Strip(kernelLog[i]).StartsWith("FAULT_INJECTION: forcing a failure.",
                StringComparison.Ordinal)) continue;
            var cap = "?";
            if (i + 1 < kernelLog.Count && NameLine().Match(Strip(kernelLog[i
                + 1])) is { Success: true } n) cap = n.Groups[1].Value;
            string? site = null, fallback = null;
            var pastAllocator = false;
            for (var j = i + 1; j < kernelLog.Count && j < i + 60; j++)
            {
                var l = Strip(kernelLog[j]);
                if (l.StartsWith("FAULT_INJECTION: forcing a failure.",
                    StringComparison.Ordinal) || l.StartsWith("</TASK>", StringComparison.Ordinal)) break;
                if (FrameLine().Match(l) is not { Success: true } f) continue;
                var fn = f.Groups[1].Value;
                if (isSite(fn)) { site = fn; break; }
                if (fn.StartsWith("should_fail", StringComparison.Ordinal)) { pastAllocator = true; continue; }
                if (pastAllocator && fallback == null && !IsAllocator(fn)) fallback = fn;
            }
            list.Add(new Logged(cap, site ?? fallback));
        }
        return list;
    }

    static string Strip(string line) => Timestamp().Replace(line.TrimEnd('\r'), "").TrimStart();

    static bool IsAllocator(string fn) =>
        fn.StartsWith("kmem_cache_alloc", StringComparison.Ordinal) || fn.StartsWith("__kmalloc",
            StringComparison.Ordinal) ||
        fn.StartsWith("kmalloc", StringComparison.Ordinal) || fn.StartsWith("__alloc_pages",
            StringComparison.Ordinal) ||
        fn.StartsWith("alloc_pages", StringComparison.Ordinal) || fn.StartsWith("prepare_alloc_pages",
            StringComparison.Ordinal) ||
        fn.StartsWith("slab_pre_alloc_hook", StringComparison.Ordinal) || fn.StartsWith("__slab_alloc",
            StringComparison.Ordinal) ||
        fn.StartsWith("folio_alloc", StringComparison.Ordinal) || fn.StartsWith("__folio_alloc",
            StringComparison.Ordinal) ||
        fn.StartsWith("kzalloc", StringComparison.Ordinal) || fn.StartsWith("__kvmalloc", StringComparison.Ordinal) ||
        fn.StartsWith("kvmalloc", StringComparison.Ordinal) || fn.StartsWith("__get_free_pages",
            StringComparison.Ordinal) ||
        fn.StartsWith("alloc_slab", StringComparison.Ordinal) || fn.StartsWith("___slab_alloc",
            StringComparison.Ordinal) ||
        fn.StartsWith("new_slab", StringComparison.Ordinal) || fn.StartsWith("allocate_slab", StringComparison.Ordinal);
}
