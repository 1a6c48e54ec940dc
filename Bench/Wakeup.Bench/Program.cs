using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using IoUring.Interop;
using IoUring.Interop.Wakeup;
using static IoUring.Interop.Liburing;

// Wakeup.Bench notify [--rounds N] [--out FILE]   : notifier cost and wake latency per path
// Wakeup.Bench nops [--total N] [--batch B[,B...]] [--out FILE] : ns per NOP round trip (under -icount: instructions)
// Every result is one JSON object per line, on stdout and appended to --out.
unsafe
{
    var mode = args.Length > 0 ? args[0] : "notify";
    int Opt(string name, int dflt)
    {
        var i = Array.IndexOf(args,
        name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : dflt;
    }
    var outIdx = Array.IndexOf(args, "--out");
    var outFile = outIdx >= 0 && outIdx + 1 < args.Length ? args[outIdx + 1] : null;

    void Emit(Dictionary<string, object> row)
    {
        var line = JsonSerializer.Serialize(row);
        Console.WriteLine(line);
        if (outFile != null) File.AppendAllText(outFile, line + "\n");
    }

    var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
    var batchIdx = Array.IndexOf(args, "--batch");
    var batches = batchIdx >= 0 && batchIdx + 1 < args.Length ? args[batchIdx + 1].Split(',').Select(b => int.Parse(b,
        CultureInfo.InvariantCulture)).ToArray() : [32];
    if (mode == "nops") foreach (var b in batches) Nops.Run(Opt("--total", 200_000), b, kernel, Emit);
    else if (mode == "notify") Paths.Run(Opt("--rounds", 3000), kernel, Emit);
    else
    {
        Console.Error.WriteLine(
        "usage: Wakeup.Bench notify|nops [--rounds N] [--total N] [--batch B] [--out FILE]"); return 2;
    }
    return 0;
}

static unsafe class Nops
{
    public static void Run(int total, int batch, string kernel, Action<Dictionary<string, object>> emit)
    {
        var ring = (io_uring*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        io_uring_params p = default;
        var rc = io_uring_queue_init_params(256, ring, &p);
        if (rc < 0) throw new InvalidOperationException($"io_uring_queue_init_params: {rc}");
        RoundTrips(ring, 20_000, batch); // JIT and caches warm before measuring
        for (var rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            RoundTrips(ring, total, batch);
            var ns = sw.Elapsed.TotalNanoseconds / total;
            emit(new()
            {
                ["kind"] = "nops",
                ["kernel"] = kernel,
                ["user_word"] = (p.features & IoUringConstants.IORING_FEAT_CQ_USER_WORD) != 0,
                ["batch"] = batch,
                ["total"] = total,
                ["rep"] = rep,
                ["ns_per_nop"] = Math.Round(ns, 2)
            });
        }
        io_uring_queue_exit(ring);
    }

    static void RoundTrips(io_uring* ring, int total, int batch)
    {
        for (var done = 0; done < total; done += batch)
        {
            for (var i = 0; i < batch; i++)
            {
                var sqe = LiburingFast.GetSqe(ring);
                LiburingFast.PrepNop(sqe);
                LiburingFast.SqeSetData64(sqe, (ulong)(done + i));
            }
            var rc = io_uring_submit_and_wait(ring, (uint)batch);
            if (rc != batch) throw new InvalidOperationException($"submit_and_wait: {rc}");
            var n = 0;
            while (n < batch && LiburingFast.PeekCqeNowait(ring) is var cqe
                && cqe != null) { LiburingFast.CqeSeen(ring, cqe); n++; }
            if (n != batch) throw new InvalidOperationException($"reaped {n} of {batch}");
        }
    }
}

/// <summary>
/// One waiter thread, one notifier thread, a handoff per round: the notifier waits until the waiter is about to
/// wait (plus a pause so a blocking waiter is really blocked), timestamps, notifies, timestamps again (the
/// notifier's cost), and waits for the ack; the waiter timestamps when it wakes (the wake latency).
/// </summary>
static unsafe class Paths
{
    sealed class Shared
    {
        public long Ready, Ack, T0;
    }

    /// <param name="waitOnce">Waiter: block (or poll) until notified.</param>
    /// <param name="notify">Notifier: wake the waiter.</param>
    static (double[] Cost, double[] Latency) RoundTrips(int rounds, int settleMicros, Action waitOnce, Action notify)
    {
        var s = new Shared();
        var cost = new double[rounds];
        var latency = new double[rounds];
        var tick = 1e9 / Stopwatch.Frequency;
        var waiter = new Thread(() =>
        {
            for (var i = 1; i <= rounds; i++)
            {
                Volatile.Write(ref s.Ready, i);
                waitOnce();
                var now = Stopwatch.GetTimestamp();
                latency[i - 1] = (now - Volatile.Read(ref s.T0)) * tick;
                Volatile.Write(ref s.Ack, i);
            }
        })
        { IsBackground = true };
        waiter.Start();
        for (var i = 1; i <= rounds; i++)
        {
            while (Volatile.Read(ref s.Ready) != i) Thread.SpinWait(4);
            var settle = Stopwatch.GetTimestamp() + settleMicros * Stopwatch.Frequency / 1_000_000;
            while (Stopwatch.GetTimestamp() < settle) Thread.SpinWait(4);
            var t0 = Stopwatch.GetTimestamp();
            Volatile.Write(ref s.T0, t0);
            notify();
            cost[i - 1] = (Stopwatch.GetTimestamp() - t0) * tick;
            var spins = 0;
            while (Volatile.Read(ref s.Ack) != i) if (++spins % 64 == 0) Thread.Yield(); else Thread.SpinWait(4);
        }
        waiter.Join();
        return (cost, latency);
    }

    static io_uring* NewRing(out uint features)
    {
        var ring = (io_uring*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        io_uring_params p = default;
        var rc = io_uring_queue_init_params(8, ring, &p);
        if (rc < 0) throw new InvalidOperationException($"io_uring_queue_init_params: {rc}");
        features = p.features;
        return ring;
    }

    static void Drain(io_uring* ring)
    {
        for (io_uring_cqe* c; (c = LiburingFast.PeekCqeNowait(
            ring)) != null;) LiburingFast.CqeSeen(ring, c);
    }

    static double Median(double[] v) { var s = v.Order().ToArray(); return s[s.Length / 2]; }
    static double P99(double[] v) { var s = v.Order().ToArray(); return s[(int)(s.Length * 0.99)]; }

    public static void Run(int rounds, string kernel, Action<Dictionary<string, object>> emit)
    {
        var paths = new WakeupPaths(rounds, kernel, emit);
        emit(new()
        {
            ["kind"] = "info",
            ["kernel"] = kernel,
            ["wait_instruction"] = WaitInstructions.Best.ToString(),
            ["describe"] = WaitInstructions.Describe(),
            ["cpus"] = Environment.ProcessorCount,
        });
        paths.CqWordStore();
        paths.MsgRing();
        paths.EventfdRead();
        paths.EventfdPoll();
        paths.Futex();
    }

    /// <summary>Each wakeup path measured the same way, one row per path: notifier cost and wake latency.</summary>
    sealed class WakeupPaths(int rounds, string kernel, Action<Dictionary<string, object>> emit)
    {
        readonly int _warm = Math.Max(50, rounds / 10);

        void Report(string path, string waiterSide, (double[] Cost, double[] Latency) r,
            Dictionary<string, object>? extra = null)
        {
            var row = new Dictionary<string, object>
            {
                ["kind"] = "path",
                ["kernel"] = kernel,
                ["path"] = path,
                ["waiter"] = waiterSide,
                ["rounds"] = r.Cost.Length,
                ["notify_ns_median"] = Math.Round(Median(r.Cost)),
                ["notify_ns_mean"] = Math.Round(r.Cost.Average()),
                ["wake_ns_median"] = Math.Round(Median(r.Latency)),
                ["wake_ns_p99"] = Math.Round(P99(r.Latency)),
            };
            if (extra != null) foreach (var kv in extra) row[kv.Key] = kv.Value;
            emit(row);
        }

        (double[], double[]) Measure(int settle, Action wait, Action notify)
        {
            RoundTrips(_warm, settle, wait, notify);
            return RoundTrips(rounds, settle, wait, notify);
        }

        /// <summary>
        /// The word, waiter awake (idle phase never ends: it only polls), notifier on the plain-store path.
        /// </summary>
        public void CqWordStore()
        {
            var ring = NewRing(out var features);
            using var word = CqWord.For(ring, features);
            var waiter = new CqWordWaiter(ring, word) { SpinChecks = int.MaxValue };
            using var notifier = new CqWordNotifier(word, waiter.RingFd);
            var r = Measure(0, () => waiter.Wait(), () => notifier.Notify());
            Report("cq word store", $"{waiter.Instruction} polling the word", r,
                new() { ["word"] = word.Description, ["msg_ring_sent"] = notifier.KernelWakeups });
            // Tight loop: the fast path alone, back to back (the waiter is not acking here).
            const int n = 200_000;
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++) notifier.Notify();
            emit(new()
            {
                ["kind"] = "tight",
                ["kernel"] = kernel,
                ["path"] = "cq word store",
                ["ns_per_notify"] = Math.Round(sw.Elapsed.TotalNanoseconds / n, 1),
                ["n"] = n,
            });
            io_uring_queue_exit(ring);
        }

        /// <summary>
        /// The protocol's slow path: the waiter announced Asleep and blocks in io_uring_enter; Notify() claims
        /// the wakeup (compare-exchange) and sends IORING_OP_MSG_RING.
        /// </summary>
        public void MsgRing()
        {
            var ring = NewRing(out var features);
            using var word = CqWord.For(ring, features);
            var waiter = new CqWordWaiter(ring, word) { SpinChecks = 0, SafetyTimeout = TimeSpan.FromSeconds(30) };
            using var notifier = new CqWordNotifier(word, waiter.RingFd);
            var r = Measure(100, () => { waiter.Wait(); Drain(ring); }, () => notifier.Notify());
            Report("MSG_RING (word protocol, waiter asleep)", "io_uring_wait_cqe", r,
                new() { ["msg_ring_sent"] = notifier.KernelWakeups, ["kernel_sleeps"] = waiter.KernelSleeps });
            io_uring_queue_exit(ring);
        }

        /// <summary>eventfd write, waiter blocked in read(2).</summary>
        public void EventfdRead()
        {
            var efd = Libc.eventfd(0, 0);
            EventfdBuffers(out var buf, out var one);
            var r = Measure(100, () => Libc.read(efd, buf, 8), () => Libc.write(efd, one, 8));
            Report("eventfd write", "read(2) on the eventfd", r);
            Libc.close(efd);
        }

        /// <summary>eventfd write, waiter blocked in io_uring on IORING_OP_POLL_ADD of the eventfd.</summary>
        public void EventfdPoll()
        {
            var efd = Libc.eventfd(0, LibcConstants.EFD_NONBLOCK);
            var ring = NewRing(out _);
            EventfdBuffers(out var buf, out var one);
            var r = Measure(100, () =>
            {
                var sqe = LiburingFast.GetSqe(ring);
                io_uring_prep_poll_add(sqe, efd, 1 /* POLLIN */);
                io_uring_cqe* cqe;
                io_uring_submit_and_wait(ring, 1);
                io_uring_wait_cqe_timeout(ring, &cqe, null);
                Drain(ring);
                Libc.read(efd, buf, 8);
            }, () => Libc.write(efd, one, 8));
            Report("eventfd write", "io_uring POLL_ADD on the eventfd", r);
            io_uring_queue_exit(ring);
            Libc.close(efd);
        }

        /// <summary>A read buffer and a buffer holding 1. Native: lambdas cannot take the address of locals.</summary>
        static void EventfdBuffers(out ulong* buf, out ulong* one)
        {
            buf = (ulong*)System.Runtime.InteropServices.NativeMemory.Alloc(8);
            one = (ulong*)System.Runtime.InteropServices.NativeMemory.Alloc(8);
            *one = 1;
        }

        /// <summary>futex: store + FUTEX_WAKE, waiter in FUTEX_WAIT.</summary>
        public void Futex()
        {
            var futexWord = (int*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(64, 64);
            *futexWord = 0;
            var op = LibcConstants.FUTEX_PRIVATE_FLAG;
            var r = Measure(100, () =>
            {
                while (Volatile.Read(ref *futexWord) == 0)
                    Libc.syscall(LibcConstants.__NR_futex, (long)futexWord, LibcConstants.FUTEX_WAIT | op, 0, 0, 0, 0);
                Volatile.Write(ref *futexWord, 0);
            }, () =>
            {
                Volatile.Write(ref *futexWord, 1);
                Libc.syscall(LibcConstants.__NR_futex, (long)futexWord, LibcConstants.FUTEX_WAKE | op, 1, 0, 0, 0);
            });
            Report("futex wake", "FUTEX_WAIT", r);
        }
    }
}
