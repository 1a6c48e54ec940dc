using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using IoUring.Interop;
using IoUring.Interop.CrossRing;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace CrossRing.Bench;

/// <summary>
/// Guest side of `scripts/toolkit bench cross-ring`. Prints one `result ...` line per measurement
/// (key=value, invariant culture) and appends the same to --out when given:
///   nop N       ns per NOP on one ring (batches of 32): the A/B of the fast path, run under -icount;
///   nop-target N / nop-msgring N
///               ns per NOP whose completion is moved to a second ring of the same thread, by the flag or
///               by a MSG_RING re-post: the kernel-side cost of each way, no threads or waits (-icount);
///   deliver N   N completions from a source thread's ring to a target thread's ring, by the kernel
///               (IOSQE_CQE_TARGET, when the kernel has it), the MSG_RING relay and eventfd + a queue;
///               the kernel and relay paths again with a DEFER_TASKRUN target ring (*-defer).
/// </summary>
public static unsafe class Program
{
    const int Batch = 32;
    const int Window = 256;
    static string? outFile;

    public static int Main(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine(
            "usage: CrossRing.Bench nop|nop-target|nop-msgring|deliver|latency|handoff COUNT [--out FILE] " +
                "[--seconds S] [--only KEY=VALUE[,KEY=VALUE...]]"); return 2;
        }
        if (!int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1)
        {
            Console.Error.WriteLine($"CrossRing.Bench: COUNT must be a positive integer, not '{args[1]}'");
            return 2;
        }
        var seconds = 1.5;
        string? only = null;
        for (var i = 2; i + 1 < args.Length; i++)
        {
            if (args[i] == "--out") outFile = args[i + 1];
            if (args[i] == "--only") only = args[i + 1];
            if (args[i] == "--seconds" && (!double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture,
                out seconds) || seconds <= 0 || seconds > 60))
            {
                Console.Error.WriteLine($"CrossRing.Bench: --seconds must be in (0, 60], not '{args[i + 1]}'");
                return 2;
            }
        }
        switch (args[0])
        {
            case "nop":
                BestOf5("nop", count, Nop);
                return 0;
            case "nop-target":
            case "nop-msgring":
                // One thread, two rings: the kernel-side cost of moving a NOP's completion to the other ring,
                // by IOSQE_CQE_TARGET or by re-posting it with IORING_OP_MSG_RING (the relay's kernel work),
                // without threads, waits or wakeups.
                var viaFlag = args[0] == "nop-target";
                if (viaFlag && !CrossRingCompleter.KernelSupported(out _,
                    out _)) { Emit($"result path={args[0]} skipped=no-feature"); return 0; }
                BestOf5(args[0], count, n => Moved(n, viaFlag));
                return 0;
            case "deliver":
                var kernel = CrossRingCompleter.KernelSupported(out _, out _);
                // *-defer: the target ring is SINGLE_ISSUER|DEFER_TASKRUN, so the CQEs are posted by the target
                // thread's own io_uring_enter (task_work) instead of by the thread that completes the request.
                foreach (var path in new[] { "kernel", "relay", "eventfd", "kernel-defer", "relay-defer" })
                {
                    if (path.StartsWith("kernel",
                        StringComparison.Ordinal)
                            && !kernel) { Emit($"result path={path} skipped=no-feature"); continue; }
                    Deliver(path, Math.Min(count, 2000));
                    // CPU time of the whole process (both threads, user + kernel on their behalf): the
                    // per-completion cost without the waits. Under -icount it is an instruction count.
                    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    var wall = Deliver(path, count);
                    var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
                    Emit(string.Create(CultureInfo.InvariantCulture,
                        $"result path={path} n={count} seconds={wall.TotalSeconds:F6} ns_per_op={wall.TotalNanoseconds / count:F1} ops_per_s={count / wall.TotalSeconds:F0} cpu_ns_per_op={cpu.TotalNanoseconds / count:F1} source_sleeps={sourceSleeps} target_sleeps={targetSleeps}"));
                }
                return 0;
            case "latency":
                LatencyMatrix(count, seconds, only);
                return 0;
            case "handoff":
                HandoffMatrix(count, seconds, only);
                return 0;
            default:
                Console.Error.WriteLine($"unknown mode {args[0]}");
                return 2;
        }
    }

    /// <summary>
    /// Delivery latency, every workload x source setup x compute slice x path (<see cref="LatencyCase"/>): the
    /// default setup with slices 0 (idle source), 100 us, 1 ms and 10 ms, COOP_TASKRUN and DEFER_TASKRUN with 0
    /// and 1 ms. Each case runs for <paramref name="seconds"/> (at least 25 slices) or <paramref name="maxSamples"/>
    /// samples.
    /// </summary>
    static void LatencyMatrix(int maxSamples, double seconds, string? only)
    {
        var kernel = CrossRingCompleter.KernelSupported(out _, out _);
        string[] workloads = ["recv", "recv-multishot", "timeout", "async-read"];
        (string Setup, int[] Slices)[] setups = [("default", [0, 100, 1000, 10000]), ("coop", [0, 1000]),
            ("defer", [0, 1000])];
        var cases = from w in workloads
                    from s in setups
                    from slice in s.Slices
                    from p in new[] { "kernel", "msgring", "eventfd" }
                    select new LatencyCase(w, s.Setup, slice, p);
        foreach (var lc in cases)
        {
            var name = $"workload={lc.Workload} setup={lc.Setup} slice_us={lc.SliceUs} path={lc.Path}";
            if (!Selected(name, only)) continue;
            if (lc.Path == "kernel" && !kernel) { Emit($"result part=latency {name} skipped=no-feature"); continue; }
            // An unrecorded run first (JIT, first touch of the rings), as BestOf5 does: by samples, not time, so
            // that every code path of the case has run once (tiered compilation is off: a first call is a full JIT).
            using (var warm = new LatencyRun(lc, 2, 50)) warm.Run(warmUp: true);
            // At least 25 slices per case: a 10 ms slice case would otherwise have few samples.
            using var run = new LatencyRun(lc, Math.Max(seconds, 25 * lc.SliceUs / 1e6), maxSamples);
            Emit($"result part=latency {name} {run.Run()}");
        }
    }

    /// <summary>
    /// --only: every KEY=VALUE of the comma-separated list must be one of the case's fields (e.g.
    /// "setup=default,slice_us=0").
    /// </summary>
    static bool Selected(string fields, string? only)
        => only == null || only.Split(',').All(f => fields.Split(' ').Contains(f, StringComparer.Ordinal));

    /// <summary>Thread-per-core handoff (<see cref="HandoffRun"/>), per path.</summary>
    static void HandoffMatrix(int maxRequests, double seconds, string? only)
    {
        var kernel = CrossRingCompleter.KernelSupported(out _, out _);
        foreach (var path in new[] { "kernel", "msgring", "eventfd" })
        {
            if (!Selected($"path={path}", only)) continue;
            if (path == "kernel" && !kernel) { Emit($"result part=handoff path={path} skipped=no-feature"); continue; }
            // Warm-up by requests (see LatencyMatrix): the first requests of a path otherwise pay its JIT.
            using (var warm = new HandoffRun(path, 3, 50)) warm.Run(warmUp: true);
            using var run = new HandoffRun(path, seconds, maxRequests);
            Emit($"result part=handoff path={path} {run.Run()}");
        }
    }

    /// <summary>
    /// A warm-up run (JIT, the rings' pages), then the best of 5: under -icount the clock counts every guest
    /// instruction, including other threads' (runtime background work, timer ticks); the minimum is the
    /// loop's own cost. Emits each sample and the result.
    /// </summary>
    static void BestOf5(string path, int count, Func<int, TimeSpan> run)
    {
        run(Math.Min(count, 1000));
        var best = TimeSpan.MaxValue;
        for (var rep = 0; rep < 5; rep++)
        {
            var t = run(count);
            Emit(string.Create(
                CultureInfo.InvariantCulture, $"sample path={path} rep={rep} ns_per_op={t.TotalNanoseconds / count:F1}"));
            if (t < best) best = t;
        }
        Report(path, count, best);
    }

    static void Report(string what, int n, TimeSpan t) =>
        Emit(string.Create(
            CultureInfo.InvariantCulture, $"result path={what} n={n} seconds={t.TotalSeconds:F6} ns_per_op={t.TotalNanoseconds / n:F1} ops_per_s={n / t.TotalSeconds:F0}"));

    static void Emit(string line)
    {
        Console.WriteLine(line);
        if (outFile != null) File.AppendAllText(outFile, line + "\n");
    }

    internal static io_uring* NewRing(uint entries, uint flags = 0)
    {
        var ring = (io_uring*)NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        io_uring_params p = default;
        p.flags = flags;
        var rc = io_uring_queue_init_params(entries, ring, &p);
        if (rc < 0) throw new InvalidOperationException($"io_uring_queue_init_params: {rc}");
        return ring;
    }

    internal static void Free(io_uring* ring)
    {
        io_uring_queue_exit(ring);
        NativeMemory.Free(ring);
    }

    /// <summary>Plain NOPs, 32 per io_uring_enter: the path every request takes, flag or not.</summary>
    static TimeSpan Nop(int n)
    {
        var ring = NewRing(Batch);
        var sw = Stopwatch.StartNew();
        for (var done = 0; done < n;)
        {
            var k = Math.Min(Batch, n - done);
            for (var i = 0; i < k; i++) io_uring_prep_nop(io_uring_get_sqe(ring));
            io_uring_submit_and_wait(ring, (uint)k);
            io_uring_cq_advance(ring, (uint)k);
            done += k;
        }
        var t = sw.Elapsed;
        Free(ring);
        return t;
    }

    /// <summary>NOPs in batches of 32 on one ring, each completion moved to a second ring of the same thread and reaped
    /// there.</summary>
    static TimeSpan Moved(int n, bool viaFlag)
    {
        var ring = NewRing(Batch * 2);
        var other = NewRing(Batch * 2);
        var otherFd = other->ring_fd;
        var sw = Stopwatch.StartNew();
        for (var done = 0; done < n;)
        {
            var k = Math.Min(Batch, n - done);
            for (var i = 0; i < k; i++)
            {
                var sqe = io_uring_get_sqe(ring);
                io_uring_prep_nop(sqe);
                sqe->user_data = (ulong)(done + i);
                if (viaFlag) io_uring_sqe_set_cqe_target(sqe, otherFd);
            }
            if (viaFlag) io_uring_submit(ring);
            else
            {
                io_uring_submit_and_wait(ring, (uint)k);
                io_uring_cqe* cqe;
                for (var i = 0; i < k; i++)
                {
                    io_uring_peek_cqe(ring, &cqe);
                    var ud = cqe->user_data;
                    io_uring_cqe_seen(ring, cqe);
                    var m = io_uring_get_sqe(ring);
                    io_uring_prep_msg_ring(m, otherFd, 0, ud, 0);
                    m->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
                }
                io_uring_submit(ring);
            }
            io_uring_cqe* c;
            if (io_uring_cq_ready(other) < (uint)k) io_uring_wait_cqe_nr(other, &c, (uint)k);
            if (io_uring_cq_ready(
                other) != (uint)k) throw new InvalidOperationException($"expected {k} CQEs on the other ring, got {io_uring_cq_ready(other)}");
            io_uring_cq_advance(other, (uint)k);
            done += k;
        }
        var t = sw.Elapsed;
        Free(ring);
        Free(other);
        return t;
    }

    /// <summary>Voluntary context switches of the calling thread so far: how often it blocked (slept).</summary>
    internal static long Sleeps()
    {
        foreach (var line in File.ReadLines("/proc/thread-self/status"))
            if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan("voluntary_ctxt_switches:".Length).Trim(), CultureInfo.InvariantCulture);
        return -1;
    }

    /// <summary>How often the source and the target thread blocked in the last Deliver run.</summary>
    static long sourceSleeps, targetSleeps;

    /// <summary>
    /// Source thread: NOPs in batches, at most <see cref="Window"/> undelivered. Target thread: reaps its
    /// ring (or the queue) and checks every user_data arrives once. Timed until the target has all N.
    /// </summary>
    static TimeSpan Deliver(string path, int n)
    {
        var run = new DeliveryRun(path, n);
        var consumer = new Thread(run.Consume);
        consumer.Start();
        run.WaitForTargetRing();
        run.Produce();
        consumer.Join();
        return run.Finish();
    }

    /// <summary>One Deliver run: the state the source (this thread) and the target thread share.</summary>
    sealed class DeliveryRun(string path, int n)
    {
        io_uring* _target;
        io_uring* _source;
        int _targetFd;
        long _delivered;
        int _sent;
        string? _error;
        readonly ManualResetEventSlim _ready = new();
        // The consumer's progress, for a source whose window is full (spinCount 0: no sched_yield spin).
        readonly ManualResetEventSlim _progress = new(false, spinCount: 0);
        readonly ConcurrentQueue<io_uring_cqe> _queue = new();
        readonly int _efd = Libc.eventfd(0, 0);
        readonly Stopwatch _sw = new();
        readonly bool[] _seen = new bool[n];

        public void WaitForTargetRing() => _ready.Wait();

        /// <summary>The target thread: creates (and owns) the target ring, reaps until it has all N.</summary>
        public void Consume()
        {
            var defer = path.EndsWith("-defer", StringComparison.Ordinal);
            _target = NewRing(1024, defer ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0);
            _targetFd = _target->ring_fd;
            _ready.Set();
            var sleeps0 = Sleeps();
            long got = 0;
            while (got < n && _error == null)
            {
                var reaped = path == "eventfd" ? ReapQueue(got) : ReapRing(got);
                if (reaped < 0) continue; // the wait was interrupted: nothing reaped, nothing to publish
                got += reaped;
                Volatile.Write(ref _delivered, got);
                _progress.Set();
            }
            _sw.Stop();
            targetSleeps = Sleeps() - sleeps0;
            _progress.Set();
        }

        long ReapQueue(long got)
        {
            long reaped = 0;
            while (_queue.TryDequeue(out var c)) reaped += Check(c);
            // Publish progress before sleeping: the producer's window waits on it.
            Volatile.Write(ref _delivered, got + reaped);
            _progress.Set();
            if (got + reaped < n && _queue.IsEmpty) { ulong v; Libc.read(_efd, &v, 8); }
            return reaped;
        }

        /// <summary>A batch from the target ring; -1 when the wait returned without CQEs.</summary>
        long ReapRing(long got)
        {
            io_uring_cqe* cqe;
            // Reap a producer batch per wakeup, as the eventfd consumer does (one read() per batch):
            // without wait_nr the consumer re-sleeps after every CQE when they are posted one by one.
            if (io_uring_wait_cqe_nr(_target, &cqe, (uint)Math.Min(Batch, n - got)) != 0) return -1;
            long reaped = 0;
            uint head, seenNow = 0;
            // io_uring_for_each_cqe by hand: the macro is not exported.
            head = *_target->cq.khead;
            var tail = Volatile.Read(ref *_target->cq.ktail);
            for (; head != tail; head++, seenNow++)
                reaped += Check(_target->cq.cqes[head & *_target->cq.kring_mask]);
            io_uring_cq_advance(_target, seenNow);
            return reaped;
        }

        int Check(io_uring_cqe c)
        {
            if (c.user_data >= (ulong)n || _seen[c.user_data] || c.res != 0)
            {
                _error ??= $"bad CQE ud={c.user_data} res={c.res}";
                return 0;
            }
            _seen[c.user_data] = true;
            return 1;
        }

        /// <summary>The source: batches of NOPs within the window, until the target has all N.</summary>
        public void Produce()
        {
            _source = NewRing(Window);
            var kernel = path.StartsWith("kernel", StringComparison.Ordinal);
            var completer = new NativeCrossRingCompleter(_source, 0, kernel ? CrossRingPath.Kernel : CrossRingPath.Relay);
            var sourceSleeps0 = Sleeps();
            _sw.Start();
            while (Volatile.Read(ref _delivered) < n && _error == null)
            {
                var k = QueueBatch(completer);
                // Window full: the kernel and eventfd paths block until the consumer makes progress (spinning
                // made whichever path spun look slowest under TCG, and a fixed 1 ms sleep made the throughput
                // depend on when the window filled); the relay blocks in Pump, which has source CQEs to forward.
                if (path.StartsWith("relay", StringComparison.Ordinal)) completer.Pump(null, k == 0 ? 1 : 0);
                else if (path == "eventfd")
                {
                    if (ForwardToQueue() == 0 && k == 0) WaitForProgress();
                }
                // Kernel path: the source ring gets no CQEs (they all go to the target).
                else if (k == 0) WaitForProgress();
            }
            // Wake a consumer blocked on the eventfd if the run failed.
            if (_error != null) { ulong one = 1; Libc.write(_efd, &one, 8); }
            sourceSleeps = Sleeps() - sourceSleeps0;
        }

        /// <summary>Queues and submits up to a batch within the window; returns how many.</summary>
        int QueueBatch(NativeCrossRingCompleter completer)
        {
            var k = 0;
            while (_sent < n && k < Batch && _sent - Volatile.Read(ref _delivered) < Window)
            {
                var sqe = io_uring_get_sqe(_source);
                if (sqe == null) break;
                io_uring_prep_nop(sqe);
                sqe->user_data = (ulong)_sent++;
                if (path != "eventfd") completer.Prepare(sqe, _targetFd);
                k++;
            }
            if (k > 0) io_uring_submit(_source);
            return k;
        }

        /// <summary>eventfd path: the source's CQEs into the queue, one eventfd write per batch.</summary>
        int ForwardToQueue()
        {
            var moved = 0;
            io_uring_cqe* cqe;
            while (io_uring_peek_cqe(_source, &cqe) == 0)
            {
                _queue.Enqueue(*cqe);
                io_uring_cqe_seen(_source, cqe);
                moved++;
            }
            // One wakeup per batch, as a userspace forwarder would do.
            if (moved > 0) { ulong one = 1; Libc.write(_efd, &one, 8); }
            return moved;
        }

        void WaitForProgress()
        {
            _progress.Reset();
            var d = Volatile.Read(ref _delivered);
            if (d < n && _error == null && (_sent == n || _sent - d >= Window)) _progress.Wait(TimeSpan.FromSeconds(1));
        }

        /// <summary>Frees both rings and the eventfd; the time until the target had all N.</summary>
        public TimeSpan Finish()
        {
            Free(_source);
            Free(_target);
            Libc.close(_efd);
            if (_error != null) throw new InvalidOperationException($"{path}: {_error}");
            return _sw.Elapsed;
        }
    }
}
