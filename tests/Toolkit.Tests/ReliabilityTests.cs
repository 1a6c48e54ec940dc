using Toolkit.Infra;
using Toolkit.Reports;
using Toolkit.Suites;
using Toolkit.Vm;

namespace Toolkit.Tests;

/// <summary>The reliability job's logic without a VM: its plan and options, kmemleak parsing, fault-injection settings
/// and logs.</summary>
public class ReliabilityTests
{
    static string Fixture(string name) => TestPaths.Fixture("reliability", name);

    // ---- plan and options

    [Test]
    public void DefaultPlanIsStressChaosCycleAtFullSize()
    {
        var entries = Reliability.Entries(new Reliability.Options());
        Assert.That(entries.Select(e => e.Phase).Distinct(), Is.EqualTo(new[] { "stress", "chaos", "cycle" }));
        Assert.That(entries.Where(e => e.Phase == "stress").Select(e => string.Join(' ', e.Args)), Is.EqualTo(new[]
        {
            "-r 2 -n 1000000 -m defer", "-r 8 -n 1000000 -m defer", "-r 8 -n 1000000 -m mixed -a",
        }));
        Assert.That(entries.Where(e => e.Phase == "chaos").Select(e => string.Join(' ', e.Args)), Is.EqualTo(new[]
        {
            "-i 1000 -s 1 -t 1500", "-i 1000 -s 2 -t 1500", "-i 1000 -s 3 -t 1500",
        }));
        Assert.That(entries.Where(e => e.Phase == "cycle").Select(e => string.Join(' ', e.Args)),
            Is.EqualTo(new[] { "", "-e" }));
        Assert.That(entries.Any(e => e.Faults), Is.False);
        // A chaos run's own -t limit stays inside the harness's budget for it, so the test, not the harness, ends it.
        Assert.That(entries.Where(e => e.Phase == "chaos").All(e => int.Parse(e.Args[^1]) < e.TimeoutSeconds), Is.True);
    }

    [Test]
    public void FlagsAddFaultInjectionAndLongIdleAtTheEnd()
    {
        var phases = Reliability.SelectPhases(new Reliability.Options { FaultInjection = true, LongIdle = true });
        Assert.That(phases, Is.EqualTo(new[] { "stress", "chaos", "cycle", "fault-injection", "long-idle" }));
        var entries = Reliability.Entries(new Reliability.Options { Only = ["long-idle", "fault-injection"] });
        Assert.That(entries.Select(e => e.Phase).Distinct(), Is.EqualTo(new[] { "fault-injection", "long-idle" }),
            "phase order is fixed");
        var idle = entries.Single(e => e.Phase == "long-idle");
        Assert.That(idle.Args, Is.EqualTo(new[] { "-l", "330" }));
        Assert.That(idle.TimeoutSeconds, Is.GreaterThan(330 + 60),
            "past the 330 s idle, with room for set-up and teardown");
        var faults = entries.Where(e => e.Phase == "fault-injection").ToList();
        Assert.That(faults.All(e => e.Faults), Is.True);
        // The tests without a fault-tolerant mode get through their feature probe before anything fails.
        // A test without a fault-tolerant mode gets a lower rate; cqe-target also a clean start (its feature
        // probe), cq-user-word none, since its whole run allocates less than the allowance.
        Assert.That(faults.Where(e => !e.Tolerant).All(e => e.Probability < 10), Is.True);
        Assert.That(faults.Single(e => e.Binary == "cqe-target").Space, Is.EqualTo(Reliability.NonTolerantSpace));
        Assert.That(faults.Single(e => e.Binary == "cq-user-word").Space, Is.Zero);
        Assert.That(faults.Select(e => e.Binary).Distinct(), Is.EquivalentTo(new[] { "cqe-target", "cqe-target-chaos",
            "cqe-target-stress", "cq-user-word" }));
        // Exactly the tests that have -f are run as fault tolerant.
        Assert.That(faults.All(e => e.Tolerant == e.Args.Contains("-f")), Is.True);
    }

    [Test]
    public void FaultProbabilityOverridesEveryFaultTest()
    {
        var entries = Reliability.Entries(new Reliability.Options
        {
            Only = ["fault-injection", "stress"],
            FaultProbability = 30
        });
        Assert.That(entries.Where(e => e.Faults).All(e => e.Probability == 30), Is.True);
        Assert.That(entries.Where(e => !e.Faults).All(e => e.Probability == 10), Is.True);
    }

    [TestCase("stress,bogus", "unknown phase 'bogus'")]
    [TestCase(" , ", "--only is empty")]
    public void BadPhasesAreUsageErrors(string value, string message)
    {
        var e = Assert.Throws<ToolkitException>(() => Reliability.ParsePhases(value))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain(message));
    }

    [TestCase("1,x", "'x' is not")]
    [TestCase("-3", "'-3' is not")]
    [TestCase("", "--seeds is empty")]
    public void BadSeedsAreUsageErrors(string value, string message)
    {
        var e = Assert.Throws<ToolkitException>(() => Reliability.ParseSeeds(value))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void SeedsAreParsed() => Assert.That(Reliability.ParseSeeds(" 7, 9,21 "), Is.EqualTo(new[] { 7, 9, 21 }));

    [TestCase("reliability --only nope")]
    [TestCase("reliability --seeds 1,x")]
    [TestCase("reliability --fault-probability 101")]
    [TestCase("reliability --timeout -5")]
    [TestCase("reliability --timeout soon")]
    [TestCase("reliability --kernel newest")]
    [TestCase("reliability --no-such-option")]
    public void BadCommandLinesExit2BeforeAnythingRuns(string args)
    {
        var saved = Console.Error;
        var err = new StringWriter();
        Console.SetError(err);
        try
        {
            Assert.That(Cli.Run(args.Split(' ')), Is.EqualTo(ExitCodes.Usage), err.ToString());
        }
        finally { Console.SetError(saved); }
        Assert.That(err.ToString(), Does.StartWith("toolkit: "));
    }

    [Test]
    public void MissingTestSourcesAreSkippedWithTheReason()
    {
        var src = Directory.CreateTempSubdirectory("rel-src-").FullName;
        var bin = Directory.CreateTempSubdirectory("rel-bin-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(src, "cqe-target-stress.c"), "");
            File.WriteAllText(Path.Combine(bin, "cqe-target-stress"), "");
            File.WriteAllText(Path.Combine(src, "cqe-target-chaos.c"), "");
            var tests = Reliability.PlanTests(Reliability.Entries(new Reliability.Options { Seeds = [5] }), src, bin);
            Assert.That(tests.Where(t => t.Suite == "stress").All(t => t.SkipReason == null), Is.True);
            Assert.That(tests.Single(t => t.Suite == "chaos").SkipReason, Does.Contain("was not built"));
            Assert.That(tests.Where(t => t.Suite == "cycle").Select(t => t.SkipReason),
                Has.All.Contains("liburing-tests/cqe-target-cycle.c does not exist"));
            Assert.That(tests.Single(t => t.Suite == "chaos").Name,
                Is.EqualTo("cqe-target-chaos -i 1000 -s 5 -t 1500"));
        }
        finally
        {
            Directory.Delete(src, true);
            Directory.Delete(bin, true);
        }
    }

    [Test]
    public void KernelWithoutKmemleakIsRefused()
    {
        var patched = KernelConfigOf("CONFIG_IO_URING=y", "CONFIG_KASAN=y");
        var e = Assert.Throws<ToolkitException>(() => Reliability.CheckKernelConfig(patched, ["stress"],
            "/k/bzImage"))!;
        Assert.That(e.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(e.Message, Does.Contain("CONFIG_DEBUG_KMEMLEAK").And.Contain("debug flavour"));
        var leakOnly = KernelConfigOf("CONFIG_DEBUG_KMEMLEAK=y");
        Assert.DoesNotThrow(() => Reliability.CheckKernelConfig(leakOnly, ["stress"], "/k/bzImage"));
        Assert.That(Assert.Throws<ToolkitException>(() => Reliability.CheckKernelConfig(leakOnly, ["fault-injection"],
            "/k/bzImage"))!.Message,
            Does.Contain("CONFIG_FAILSLAB"));
        Assert.DoesNotThrow(() => Reliability.CheckKernelConfig(null, ["fault-injection"], "/k/bzImage"),
            "unknown config: the guest checks");
    }

    [Test]
    public void DebugFragmentAsksForKmemleakWithoutTheScanThreadAndForFaultInjection()
    {
        var opts = Kernel.KernelConfig.ParseFragment(Path.Combine(TestPaths.Repo, "vm", "config",
            "debug.config")).ToDictionary(o => o.Name, o => o.Value);
        Assert.That(opts["CONFIG_DEBUG_KMEMLEAK"], Is.EqualTo("y"));
        Assert.That(opts["CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN"], Is.Null, "explicit scans only");
        Assert.That(opts["CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF"], Is.Null);
        Assert.That(int.Parse(opts["CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE"]!), Is.GreaterThan(16000));
        foreach (var o in new[] { "CONFIG_DEBUG_FS", "CONFIG_FAULT_INJECTION", "CONFIG_FAILSLAB",
            "CONFIG_FAIL_PAGE_ALLOC", "CONFIG_FAULT_INJECTION_DEBUG_FS",
                     "CONFIG_FAULT_INJECTION_STACKTRACE_FILTER", "CONFIG_SLUB_DEBUG", "CONFIG_MEMCG" })
            Assert.That(opts[o], Is.EqualTo("y"), o);
    }

    static Dictionary<string, string?> KernelConfigOf(params string[] lines) => Kernel.KernelConfig.ReadConfig(lines);

    // ---- guest harness: arguments and the kernel log

    [Test]
    public void TestSpecCarriesArguments()
    {
        var t = new GuestHarness.CTest("stress", "/b/cqe-target-stress", 900) { Args = ["-r", "2", "-m", "defer"] };
        Assert.That(t.Name, Is.EqualTo("cqe-target-stress -r 2 -m defer"));
        var back = GuestHarness.CTest.Parse(t.Spec);
        Assert.That(back.Path, Is.EqualTo("/b/cqe-target-stress"));
        Assert.That(back.Args, Is.EqualTo(t.Args));
        Assert.That(back.TimeoutSeconds, Is.EqualTo(900));
        // Without arguments the spec is the old SUITE:TIMEOUT:PATH form.
        var plain = new GuestHarness.CTest("liburing", "/t/nop.t", 60);
        Assert.That(plain.Spec, Is.EqualTo("liburing:60:/t/nop.t"));
        Assert.That(GuestHarness.CTest.Parse(plain.Spec).Args, Is.Empty);
        Assert.That(plain.Name, Is.EqualTo("nop"));
    }

    [Test]
    public void NewKernelLogLinesIncludeTheFirstNewLine()
    {
        string[] before = ["[1.0] a", "[1.1] marker", ""];
        string[] after = ["[1.0] a", "[1.1] marker", "[2.0] ===", "[2.0] BUG: KASAN: use-after-free", ""];
        Assert.That(GuestHarness.NewLines(before, after), Is.EqualTo(new[] { "[2.0] ===",
            "[2.0] BUG: KASAN: use-after-free", "" }));
    }

    [Test]
    public void NewKernelLogLinesStartAfterTheTestsMarker()
    {
        // Without CONFIG_PRINTK_TIME lines repeat; the ring buffer wrapped and the old last line recurs later.
        string[] before = ["x", "Running test s/t:", "FAULT_INJECTION: forcing a failure.", ""];
        string[] after = ["Running test s/t:", "FAULT_INJECTION: forcing a failure.", "new 1",
            "FAULT_INJECTION: forcing a failure.", "new 2", ""];
        Assert.That(GuestHarness.NewLines(before, after, "Running test s/t:").Where(l => l.Length > 0),
            Is.EqualTo(new[] { "FAULT_INJECTION: forcing a failure.", "new 1", "FAULT_INJECTION: forcing a failure.",
                "new 2" }));
        // With timestamps the marker line is "[  1.0] Running test s/t:".
        Assert.That(GuestHarness.NewLines([], ["[ 1.0] Running test s/t:", "[ 2.0] a"], "Running test s/t:"),
            Is.EqualTo(new[] { "[ 2.0] a" }));
    }

    [Test]
    public void NewKernelLogLinesSurviveAWrappedRingBuffer()
    {
        string[] before = ["[1.0] a", "[1.1] b", "[1.2] marker", ""];
        // The ring buffer dropped its oldest lines: counting lines would skip new ones.
        string[] after = ["[1.2] marker", "[3.0] new 1", "[3.1] new 2", "[3.2] new 3", ""];
        Assert.That(GuestHarness.NewLines(before, after).Where(l => l.Length > 0), Is.EqualTo(new[] { "[3.0] new 1",
            "[3.1] new 2", "[3.2] new 3" }));
    }

    // ---- kmemleak

    [Test]
    public void KmemleakReportIsSplitIntoObjectsAndIoUringsAreTold()
    {
        // A real report: objects of a ring cycle the unfixed series leaked (cqe-target-cycle -e).
        var reports = Kmemleak.Parse(File.ReadAllText(Fixture("kmemleak-report.txt")));
        Assert.That(reports, Has.Count.EqualTo(4));
        Assert.That(reports[1].Address, Is.EqualTo("0xff110000064fe000"));
        Assert.That(reports[1].Size, Is.EqualTo(4096));
        Assert.That(reports[1].Comm, Is.EqualTo("cqe-target-cycl"));
        Assert.That(reports[1].Pid, Is.EqualTo(120));
        Assert.That(reports[1].Backtrace, Is.EqualTo(new[] { "__kmalloc_cache_noprof", "io_uring_setup",
            "do_syscall_64", "entry_SYSCALL_64_after_hwframe" }));
        Assert.That(reports[0].Text,
            Does.StartWith("unreferenced object 0xff1100000897ea00").And.EndWith(
                "entry_SYSCALL_64_after_hwframe+0x4b/0x53"));
        Assert.That(reports[0].Text, Does.Not.Contain("0xff110000064fe000"), "one object per report");

        // With the kernel's io_uring/*.o symbols.
        var symbols = new HashSet<string> { "io_uring_setup", "__io_alloc_req_refill", "io_submit_sqes",
            "__x64_sys_io_uring_enter", "io_cqe_target_prep" };
        var classified = Kmemleak.Classify(reports, symbols);
        Assert.That(classified.Select(r => r.IoUringFrame), Is.EqualTo(new[] { null, "io_uring_setup",
            "__io_alloc_req_refill", "io_cqe_target_prep" }));
        // Without them, by name: the same verdicts.
        Assert.That(Kmemleak.Classify(reports, null).Select(r => r.IsIoUring), Is.EqualTo(new[] { false, true, true,
            true }));
        Assert.That(Kmemleak.Describe(classified[3]),
            Does.Contain("size 256").And.Contain("allocated in io_cqe_target_prep"));
    }

    [TestCase("io_submit_sqes", true)]
    [TestCase("__io_alloc_req_refill", true)]
    [TestCase("tctx_task_work", true)]
    [TestCase("__do_sys_io_uring_setup", true)]
    [TestCase("io_schedule_timeout", false)]
    [TestCase("kmem_cache_alloc_noprof", false)]
    [TestCase("do_syscall_64", false)]
    public void IoUringFunctionsByNameWhenSymbolsAreUnknown(string fn, bool expected) =>
        Assert.That(Kmemleak.IsIoUring(fn, null), Is.EqualTo(expected));

    [Test]
    public void CompilerClonesCountAsTheirFunction()
    {
        var symbols = new HashSet<string> { "io_req_task_work_add" };
        Assert.That(Kmemleak.IsIoUring("io_req_task_work_add.isra.0", symbols), Is.True);
        Assert.That(Kmemleak.IsIoUring("io_schedule", symbols), Is.False);
    }

    [Test]
    public void KmemleakCarryingOnAfterAScanAreaFailureIsNotKmemleakOff()
    {
        // A real log: "Cannot allocate a scan area, scanning the full object" (kmemleak_scan_area()) is a
        // warning; kmemleak stays on (the run's later scans worked). It was once taken for kmemleak turning off.
        var log = File.ReadAllLines(Fixture("kmemleak-scan-area-dmesg.txt"));
        Assert.That(log.Count(l => l.Contains("kmemleak: Cannot allocate a scan area")), Is.EqualTo(2));
        Assert.That(Kmemleak.DisabledLine(log), Is.Null);
    }

    [Test]
    public void KmemleakTurningItselfOffIsFound()
    {
        var log = File.ReadAllLines(Fixture("kmemleak-disabled-dmesg.txt"));
        Assert.That(Kmemleak.DisabledLine(log),
            Is.EqualTo(
                "[  812.004113] kmemleak: Memory pool empty, consider increasing CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE"));
        Assert.That(Kmemleak.DisabledLine(log.Where(l => !l.Contains("Memory pool empty"))),
            Is.EqualTo("[  812.004187] kmemleak: Cannot allocate a kmemleak_object structure"));
        // Both kinds in one log (a scan-area warning first): the real one is reported.
        var mixed = File.ReadAllLines(Fixture("kmemleak-scan-area-dmesg.txt")).Concat(log.Skip(4));
        Assert.That(Kmemleak.DisabledLine(mixed),
            Is.EqualTo("[  812.004201] kmemleak: Kernel memory leak detector disabled"));
    }

    // mm/kmemleak.c (6.12): the messages of kmemleak_disable() and its callers, and warnings after which it carries on.
    [TestCase("[  812.004201] kmemleak: Kernel memory leak detector disabled", true)]
    [TestCase("kmemleak: Cannot allocate a kmemleak_object structure", true)]
    [TestCase("kmemleak: Memory pool empty, consider increasing CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE", true)]
    [TestCase("[    3.1] kmemleak: Cannot insert 0xff11000003a1c000 into the object search tree (overlaps existing)",
        true)]
    [TestCase("kmemleak: Kmemleak disabled without freeing internal data. Reclaim the memory with \"echo clear > " +
        "/sys/kernel/debug/kmemleak\".", true)]
    [TestCase("kmemleak: Early log buffer exceeded (3000), please increase DEBUG_KMEMLEAK_EARLY_LOG_SIZE", true)]
    [TestCase("[  295.911963] kmemleak: Cannot allocate a scan area, scanning the full object", false)]
    [TestCase("kmemleak: Found object by alias at 0xff110000", false)]
    [TestCase("kmemleak: Freeing unknown object at 0xff110000", false)]
    [TestCase("kmemleak: Kernel memory leak detector initialized (mem pool available: 63043)", false)]
    [TestCase("kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)", false)]
    [TestCase("toolkit-suite: kmemleak after x: 0 io_uring object(s), 0 other(s) in 12.0 s", false)]
    public void KmemleakDisabledMessages(string line, bool disabled) =>
        Assert.That(Kmemleak.DisabledLine([line]), disabled ? Is.EqualTo(line) : Is.Null);

    [Test]
    public void EmptyKmemleakFileHasNoReports() => Assert.That(Kmemleak.Parse("\n"), Is.Empty);

    // ---- fault injection

    [Test]
    public void ArmScriptAimsAtTheTestsAndIoUringAndArmsLast()
    {
        var s = new FaultInjection.Settings
        {
            Probability = 7,
            Require = new FaultInjection.TextRange(0xffffffff81400000, 0xffffffff81480000, 900, "io_uring_get_opcode",
                "io_napi_free"),
            Reject = new FaultInjection.TextRange(0xffffffff81200000, 0xffffffff81210000, 80, "kmemleak_alloc",
                "kmemleak_scan"),
        };
        var lines = FaultInjection.ArmScript(s).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var cap in new[] { "failslab", "fail_page_alloc" })
        {
            var d = $"/sys/kernel/debug/{cap}";
            Assert.That(lines, Does.Contain($"echo Y > {d}/task-filter"));
            Assert.That(lines, Does.Contain($"echo N > {d}/ignore-gfp-wait"), "GFP_KERNEL allocations fail too");
            Assert.That(lines, Does.Contain($"echo 0xffffffff81400000 > {d}/require-start"));
            Assert.That(lines, Does.Contain($"echo 0xffffffff81480000 > {d}/require-end"));
            Assert.That(lines, Does.Contain($"echo 0xffffffff81200000 > {d}/reject-start"));
            Assert.That(lines, Does.Contain($"echo {FaultInjection.Times} > {d}/times"));
            // Disarmed first, armed only once everything else is set.
            var arm = Array.LastIndexOf(lines, $"echo 7 > {d}/probability");
            Assert.That(arm, Is.GreaterThan(Array.IndexOf(lines, $"echo {FaultInjection.Times} > {d}/times")));
            Assert.That(Array.IndexOf(lines, $"echo 0 > {d}/probability"),
                Is.LessThan(Array.IndexOf(lines, $"echo Y > {d}/task-filter")));
        }
        Assert.That(lines, Does.Contain("echo N > /sys/kernel/debug/failslab/cache-filter"));
        Assert.That(lines, Does.Contain("echo 10 > /sys/kernel/debug/failslab/verbose_ratelimit_burst"),
            "the kernel does not rate-limit by default");
        Assert.That(lines, Does.Contain("echo 0 > /sys/kernel/debug/failslab/space"));
        var spaced = FaultInjection.ArmScript(s with { Space = 256 * 1024 });
        Assert.That(spaced,
            Does.Contain("echo 262144 > /sys/kernel/debug/failslab/space").And.Contain(
                "echo 64 > /sys/kernel/debug/fail_page_alloc/space"));
        Assert.That(lines, Does.Contain("echo N > /sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem"));
    }

    [Test]
    public void CacheFilterFallbackFlagsOnlyIoKiocb()
    {
        var s = new FaultInjection.Settings { PageAlloc = false, Caches = ["io_kiocb"] };
        var arm = FaultInjection.ArmScript(s);
        Assert.That(arm, Does.Contain("echo Y > /sys/kernel/debug/failslab/cache-filter"));
        Assert.That(arm, Does.Contain("echo 1 > /sys/kernel/slab/io_kiocb/failslab"));
        Assert.That(arm, Does.Not.Contain("fail_page_alloc"));
        Assert.That(arm,
            Does.Contain("require-start")
                .And.Contain($"echo 0x{ulong.MaxValue:x} > /sys/kernel/debug/failslab/require-end"),
                    "no stack filter: the whole address space");
        var disarm = FaultInjection.DisarmScript(s);
        Assert.That(disarm,
            Does.Contain("echo 0 > /sys/kernel/debug/failslab/probability").And.Contain(
                "echo 0 > /sys/kernel/slab/io_kiocb/failslab"));
    }

    [Test]
    public void ProbabilityOutOfRangeIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            FaultInjection.ArmScript(new FaultInjection.Settings { Probability = 0 }));

    [Test]
    public void InjectedFailuresAreWhatTheCountdownLost()
    {
        var counts =
            FaultInjection.InjectedCounts($"failslab {FaultInjection.Times - 1234}\nfail_page_alloc {FaultInjection.Times}\nnoise\n");
        Assert.That(counts, Is.EqualTo(new Dictionary<string, long> { ["failslab"] = 1234, ["fail_page_alloc"] = 0 }));
    }

    [Test]
    public void IoUringTextIsTheLongestRunOfItsSymbols()
    {
        var kallsyms = FaultInjection.ParseKallsyms([
            "ffffffff81000000 T _stext",
            "ffffffff81100000 t io_schedule_prepare",        // not io_uring's, though it looks like it
            "ffffffff81400000 T io_uring_get_opcode",
            "ffffffff81400100 t io_uring_poll",
            "ffffffff81400200 t io_req_task_work_add.isra.0",
            "ffffffff81400300 T io_napi_free",
            "ffffffff81400400 T blk_mq_start_request",
            "ffffffff81500000 t io_ring_ctx_alloc",           // .text.unlikely, far away
            "ffffffff81500100 d some_data",
            "ffffffffc0000000 t modfunc\t[somemodule]",
        ]);
        Assert.That(kallsyms.Select(k => k.Name), Does.Not.Contain("some_data").And.Not.Contain("modfunc"));
        var names = new HashSet<string> { "io_uring_get_opcode", "io_uring_poll", "io_req_task_work_add.isra.0",
            "io_napi_free", "io_ring_ctx_alloc" };
        var r = FaultInjection.FindRange(kallsyms, names)!;
        Assert.That((r.Start, r.End, r.Symbols), Is.EqualTo((0xffffffff81400000UL, 0xffffffff81400400UL, 4)));
        Assert.That(r.First, Is.EqualTo("io_uring_get_opcode"));
        Assert.That(r.Last, Is.EqualTo("io_napi_free"));
    }

    [Test]
    public void NamesEveryObjectHasDoNotMakeARun()
    {
        // KASAN gives every object _sub_I_65535_1/_sub_D_65535_0 constructors; in .init.text they sit side by side.
        var lines = new List<string> { "ffffffff81000000 T _stext" };
        for (var i = 0; i < 50; i++) lines.Add($"ffffffff8{2000000 + i * 16:x} t _sub_I_65535_1");
        lines.AddRange([
            "ffffffff81400000 t __refcount_add.constprop.0",   // a static helper io_uring shares with others: not the start
            "ffffffff81400040 T io_uring_get_opcode",
            "ffffffff81400100 t __refcount_add.constprop.0",   // inside the run: kept
            "ffffffff81400200 t io_uring_poll",
            "ffffffff81400300 t __refcount_add.constprop.0",   // after the last own symbol: not the end
            "ffffffff81400400 T blk_mq_start_request",
        ]);
        var kallsyms = FaultInjection.ParseKallsyms(lines);
        var names = new HashSet<string> { "_sub_I_65535_1", "__refcount_add.constprop.0", "io_uring_get_opcode",
            "io_uring_poll" };
        var r = FaultInjection.FindRange(kallsyms, names)!;
        Assert.That((r.Start, r.End, r.Symbols, r.First, r.Last),
            Is.EqualTo((0xffffffff81400040UL, 0xffffffff81400300UL, 3, "io_uring_get_opcode", "io_uring_poll")));
    }

    [Test]
    public void IoUringRangeInADebugKernelsSystemMap()
    {
        // The real thing, on a copy of a debug build (TOOLKIT_TEST_DEBUG_BUILD: bzImage's build directory with
        // System.map and io_uring/*.o of that same build): System.map lists what /proc/kallsyms does (no KASLR).
        // Not the cache's build directory: a rebuild in progress mixes old and new objects.
        var build = Environment.GetEnvironmentVariable("TOOLKIT_TEST_DEBUG_BUILD") ?? "/nonexistent";
        var map = Path.Combine(build, "System.map");
        var objs = Directory.Exists(Path.Combine(build, "io_uring")) ? Directory.GetFiles(Path.Combine(build,
            "io_uring"), "*.o") : [];
        if (!File.Exists(map) || objs.Length == 0) Assert.Ignore($"no debug kernel build in {build}");
        var names = FaultInjection.ParseNm(Proc.Run("nm", ["--defined-only", .. objs]).Output.Split('\n'));
        var r = FaultInjection.FindRange(FaultInjection.ParseKallsyms(File.ReadLines(map)), names)!;
        Assert.That(r, Is.Not.Null);
        Assert.That(r.Symbols, Is.GreaterThan(names.Count / 2), r.ToString());
        Assert.That(r.End - r.Start, Is.LessThan(4UL << 20), r.ToString());
        var inside = FaultInjection.ParseKallsyms(File.ReadLines(map)).Where(s => s.Address >= r.Start
            && s.Address < r.End).Select(s => s.Name).ToList();
        Assert.That(inside, Does.Contain("io_submit_sqes").And.Contain("io_uring_setup"));
        Assert.That(inside.Where(n => !names.Contains(n)), Is.Empty, "nothing of another object inside");
    }

    [Test]
    public void NoRangeWhenKallsymsHidesAddresses()
    {
        var hidden = FaultInjection.ParseKallsyms(["0000000000000000 T io_uring_setup",
            "0000000000000000 t io_uring_poll"]);
        Assert.That(FaultInjection.FindRange(hidden, new HashSet<string> { "io_uring_setup", "io_uring_poll" }),
            Is.Null);
        Assert.That(FaultInjection.FindRange([], new HashSet<string> { "x" }), Is.Null);
    }

    [Test]
    public void NmTextSymbolsOnly()
    {
        var names = FaultInjection.ParseNm([
            "", "io_uring/io_uring.o:", "0000000000000000 T io_uring_setup", "0000000000000040 t io_poll_wake",
            "0000000000000000 D io_uring_fops_data", "0000000000000000 b counter", "                 U kmalloc",
        ]);
        Assert.That(names, Is.EquivalentTo(new[] { "io_uring_setup", "io_poll_wake" }));
    }

    [Test]
    public void LoggedFailuresNameTheirIoUringSite()
    {
        var log = File.ReadAllLines(Fixture("fault-injection-dmesg.txt"));
        var logged = FaultInjection.ParseLogged(log, f => Kmemleak.IsIoUring(f, null));
        Assert.That(logged, Is.EqualTo(new[]
        {
            new FaultInjection.Logged("failslab", "io_cqring_event_overflow"),
            new FaultInjection.Logged("fail_page_alloc", "io_mem_alloc_compound"),
        }));
        // Not knowing io_uring at all: the first frame past the allocator.
        Assert.That(FaultInjection.ParseLogged(log, _ => false).Select(l => l.Site),
            Is.EqualTo(new[] { "io_cqring_event_overflow", "io_mem_alloc_compound" }));
    }

    [Test]
    public void FaultInjectionMessagesAreNotSplats()
    {
        var log = File.ReadAllLines(Fixture("fault-injection-dmesg.txt"));
        Assert.That(ConsoleAnalyzer.Analyze(log).Splats, Is.Empty);
        // ... and do not hide a real one that follows.
        var withWarning = log.Concat([
            "[   45.0] ------------[ cut here ]------------",
            "[   45.0] WARNING: CPU: 1 PID: 301 at io_uring/io_uring.c:2890 io_ring_exit_work+0x1/0x2",
            "[   45.1] ---[ end trace 0000000000000000 ]---",
        ]).ToList();
        Assert.That(ConsoleAnalyzer.Analyze(withWarning).Splats.Select(s => s.Kind), Is.EqualTo(new[] { "WARNING" }));
    }

    [Test]
    public void WrapperSetsMakeItFailOnItselfThenExecsWithThePreloadLibrary()
    {
        var w = FaultInjection.Wrapper("/r/artifacts/liburing-tests/fault-injection-off.so");
        Assert.That(w,
            Does.StartWith(
                "echo 1 > /proc/self/make-it-fail && LD_PRELOAD='/r/artifacts/liburing-tests/fault-injection-off.so'"));
        Assert.That(w, Does.EndWith(" exec \"$0\" \"$@\""));
        // The wrapper really passes the test's path, arguments and the preload through (run here with make-it-fail
        // failing harmlessly when /proc/self/make-it-fail does not exist: the host kernel may lack fault injection).
        var probe = FaultInjection.Wrapper("/no/such dir/it's.so").Replace("echo 1 > /proc/self/make-it-fail && ", "");
        var r = Proc.Run("/bin/sh", ["-c", probe, "/bin/sh", "-c", "printf '<%s> ' \"$LD_PRELOAD\" \"$@\"", "x",
            "a b", "c"],
            env: new Dictionary<string, string?> { ["LD_PRELOAD"] = null });
        // ld.so complains (on stderr) that the library does not exist; the test still runs.
        Assert.That(r.Output, Does.Contain("</no/such dir/it's.so> <a b> <c>"));
        var kept = Proc.Run("/bin/sh", ["-c", probe, "/bin/sh", "-c", "printf '<%s>' \"$LD_PRELOAD\""],
            env: new Dictionary<string, string?> { ["LD_PRELOAD"] = "/other.so" });
        Assert.That(kept.Output, Does.Contain("</no/such dir/it's.so:/other.so>"));
    }

    [Test]
    public void PreloadLibraryBuildsAndKeepsTheTestsExitStatus()
    {
        if (!Proc.OnPath("cc")) Assert.Ignore("no cc on the host");
        var dir = Path.Combine(Path.GetTempPath(), $"fi-preload-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var so = Path.Combine(dir, FaultInjection.PreloadLibrary);
            var src = Path.Combine(Paths.RepoRoot, "liburing-tests", "preload", "fault-injection-off.c");
            var cc = Proc.Run("cc", ["-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-o", so, src]);
            Assert.That(cc.ExitCode, Is.EqualTo(0), cc.Output);
            // exit() (the destructor) and _exit() (interposed) both keep the status, with or without make-it-fail
            // files.
            var probe = FaultInjection.Wrapper(so).Replace("echo 1 > /proc/self/make-it-fail && ", "");
            foreach (var (cmd, want) in new[] { ("exit 3", 3), ("true", 0),
                ("exec perl -e 'use POSIX; POSIX::_exit(5)'", 5) })
            {
                if (cmd.Contains("perl") && !Proc.OnPath("perl")) continue;
                var r = Proc.Run("/bin/sh", ["-c", probe, "/bin/sh", "-c", cmd]);
                Assert.That(r.ExitCode, Is.EqualTo(want), $"{cmd}: {r.Output}");
                Assert.That(r.Output, Does.Not.Contain("cannot be preloaded"));
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Test]
    public void AUsableRootIsNoProblem() =>
        Assert.That(FaultInjection.RootProblem("fault-injection/t", new FaultInjection.RootCheck(0, "", false, null)),
            Is.Null);

    [Test]
    public void ALostRootIsOneClearFailure()
    {
        var libc =
            "sh: error while loading shared libraries: libc.so.6: cannot open shared object file: Invalid argument";
        var p = FaultInjection.RootProblem("fault-injection/cqe-target-stress -r 2 -m sqpoll -f",
            new FaultInjection.RootCheck(127, libc + "\n", false, "Invalid argument : '/bin/sh'"))!;
        Assert.That(p,
            Does.StartWith(
                "guest root filesystem unusable after fault-injection/cqe-target-stress -r 2 -m sqpoll -f (9p fid " +
                    "lost under fault injection?): "));
        Assert.That(p, Does.Contain("`sh -c true` exit 127: " + libc));
        Assert.That(p, Does.Contain("reading /bin/sh: Invalid argument"));
        Assert.That(FaultInjection.RootProblem("t", new FaultInjection.RootCheck(null,
            "An error occurred trying to start process 'sh'", false, null)),
            Does.Contain("`sh -c true` could not start: An error occurred"));
        Assert.That(FaultInjection.RootProblem("t", new FaultInjection.RootCheck(null, "", true, null)),
            Does.Contain("`sh -c true` did not finish"));
        Assert.That(FaultInjection.RootProblem("t", new FaultInjection.RootCheck(0, "", false, "Input/output error")),
            Does.EndWith(": reading /bin/sh: Input/output error"));
    }

    // ---- verdicts

    static GuestHarness.CTestRun Run(int exit, bool timedOut = false, params string[] log) =>
        new(new TestCaseResult("fault-injection", "t",
            exit == 0 ? Outcome.Pass : timedOut ? Outcome.Timeout : Outcome.Fail, 1,
                exit == 0 ? null : $"exit {exit}: x"),
            log, new ProcResult(exit, "setup: Cannot allocate memory\n", timedOut));

    static readonly ReliabilityGuest.PlanTest Plain = new("fault-injection", "/b/cq-user-word", [],
        60)
    { FaultInjection = true };
    static readonly ReliabilityGuest.PlanTest Tolerant = new("fault-injection", "/b/cqe-target-chaos", ["-f"],
        60)
    { FaultInjection = true, FaultTolerant = true };
    static readonly Dictionary<string, long> Some = new() { ["failslab"] = 12, ["fail_page_alloc"] = 1 };

    [Test]
    public void WithoutATolerantModeAnOwnCheckFailingUnderFaultsIsNotCounted()
    {
        var r = ReliabilityGuest.JudgeUnderFaults(Plain, Run(1).Result, Run(1), Some);
        Assert.That(r.Outcome, Is.EqualTo(Outcome.Pass));
        Assert.That(r.Message, Does.Contain("not counted").And.Contain("failslab 12"));
    }

    [Test]
    public void ATolerantTestKeepsItsFailure()
    {
        var r = ReliabilityGuest.JudgeUnderFaults(Tolerant, Run(1).Result, Run(1), Some);
        Assert.That(r.Outcome, Is.EqualTo(Outcome.Fail));
    }

    [Test]
    public void HangsAndSplatsCountEvenWithoutATolerantMode()
    {
        var hung = Run(-1, timedOut: true);
        Assert.That(ReliabilityGuest.JudgeUnderFaults(Plain, hung.Result, hung, Some).Outcome,
            Is.EqualTo(Outcome.Timeout));
        var splat = Run(1, false, "[ 3.0] BUG: KASAN: slab-use-after-free in io_req_task_work_add+0x1c/0x40");
        var failed = splat.Result with { Message = "kernel KASAN during the test" };
        Assert.That(ReliabilityGuest.JudgeUnderFaults(Plain, failed, splat, Some).Outcome, Is.EqualTo(Outcome.Fail));
        var killed = Run(139);
        Assert.That(ReliabilityGuest.JudgeUnderFaults(Plain, killed.Result, killed, Some).Outcome,
            Is.EqualTo(Outcome.Fail), "killed by a signal");
    }

    [Test]
    public void NoInjectedFailureFailsThePass()
    {
        var none = new Dictionary<string, long> { ["failslab"] = 0, ["fail_page_alloc"] = 0 };
        var r = ReliabilityGuest.JudgeUnderFaults(Tolerant, Run(0).Result, Run(0), none);
        Assert.That(r.Outcome, Is.EqualTo(Outcome.Fail));
        Assert.That(r.Message, Does.Contain("no allocation failure was injected"));
    }

    [Test]
    public void DetailsTableListsLeaksInjectionsAndWarnings()
    {
        var table = Reliability.DetailsTable([
            new ReliabilityGuest.Details("cycle", "cqe-target-cycle -e")
            {
                KmemleakChecked = true, KmemleakIoUring = 4, KmemleakOther = 1,
                    KmemleakFile = "/r/kmemleak/03-cycle.txt",
                KmemleakWarnings = ["0xffff size 64 comm \"swapper/0\" pid 1: kstrdup"],
            },
            new ReliabilityGuest.Details("fault-injection", "cqe-target-chaos -f")
            {
                KmemleakChecked = true, Injected = new Dictionary<string, long> { ["failslab"] = 321,
                    ["fail_page_alloc"] = 5 }, LoggedFailures = 40,
                LoggedSites = new Dictionary<string, int> { ["failslab:io_ring_ctx_alloc"] = 30 },
            },
        ]);
        Assert.That(table, Does.Contain("cycle/cqe-target-cycle -e").And.Contain("4/1"));
        Assert.That(table, Does.Contain("321/5").And.Contain("failslab:io_ring_ctx_alloc x30"));
        Assert.That(table, Does.Contain("WARNING kmemleak (not io_uring) after cycle/cqe-target-cycle -e"));
        Assert.That(table, Does.Contain("/r/kmemleak/03-cycle.txt"));
    }

    [Test]
    public void PlanSurvivesTheTripToTheGuest()
    {
        var file = Path.GetTempFileName();
        try
        {
            var plan = new ReliabilityGuest.Plan([new ReliabilityGuest.PlanTest("chaos", "/b/cqe-target-chaos", ["-s",
                "1"], 700) { FaultInjection = true, FaultProbability = 3 }])
            {
                OutDir = "/r/kmemleak",
                IoUringSymbols = "/r/io_uring.symbols",
            };
            ReliabilityGuest.WritePlan(file, plan);
            var back = ReliabilityGuest.ReadPlan(file);
            Assert.That(back.OutDir, Is.EqualTo("/r/kmemleak"));
            Assert.That(back.Tests[0].Args, Is.EqualTo(new[] { "-s", "1" }));
            Assert.That(back.Tests[0].FaultProbability, Is.EqualTo(3));
            Assert.That(back.KmemleakWaitSeconds, Is.GreaterThan(Kmemleak.MinimumObjectAge.TotalSeconds));
        }
        finally { File.Delete(file); }
    }
}
