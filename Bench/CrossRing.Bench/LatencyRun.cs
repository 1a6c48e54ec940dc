using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using IoUring.Interop;
using Microsoft.Win32.SafeHandles;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace CrossRing.Bench;

/// <summary>
/// One case of the delivery-latency matrix. <paramref name="Workload"/>: recv (single-shot recv on a socket
/// pair, one byte written by a writer thread at random times), recv-multishot (the same with a multishot recv and
/// a buffer ring), timeout (absolute CLOCK_MONOTONIC deadlines), async-read (IOSQE_ASYNC reads of a tmpfs file,
/// completed by io-wq). <paramref name="Setup"/>: the source ring's setup (default, coop = COOP_TASKRUN,
/// defer = SINGLE_ISSUER|DEFER_TASKRUN). <paramref name="SliceUs"/>: the source thread's compute slice between
/// event-loop iterations, 0 = an idle source that blocks in io_uring_enter. <paramref name="Path"/>: kernel
/// (IOSQE_CQE_TARGET), msgring (the source reaps and re-posts with IORING_OP_MSG_RING), eventfd (the source
/// reaps into a queue and writes an eventfd; the target blocks in read()).
/// </summary>
sealed record LatencyCase(string Workload, string Setup, int SliceUs, string Path);

/// <summary>
/// Runs one <see cref="LatencyCase"/>: a source thread A owning ring A, a target thread B owning ring B, and for the
/// recv workloads a writer thread. Every request of A is aimed at B; a sample is the time from the event (the
/// write, the timer's deadline, the submission of the read) to B holding the CQE. B asks A to re-arm a slot
/// through a queue (and, when A is idle, a MSG_RING wake-up on A), the same way on every path.
/// </summary>
sealed unsafe class LatencyRun(LatencyCase c, double seconds, int maxSamples) : IDisposable
{
    const int Slots = 8;
    const int BufSize = 64;
    const int RingBufs = 64;
    const ulong KindMask = 0xffUL << 32, KindEvent = 1UL << 32, KindWake = 2UL << 32, KindRelay = 3UL << 32;
    static readonly __kernel_timespec WaitTick = new() { tv_nsec = 20_000_000 };

    readonly long[] _eventAt = new long[Slots];
    readonly int[] _ready = new int[Slots];
    readonly (int Rx, int Tx)[] _socks = c.Workload.StartsWith("recv", StringComparison.Ordinal)
        ? Enumerable.Range(0, Slots).Select(_ => Sys.UnixStreamPair()).ToArray() : [];
    readonly ConcurrentQueue<int> _rearm = new();
    readonly ConcurrentQueue<io_uring_cqe> _queue = new();
    readonly int _efd = Libc.eventfd(0, 0);
    readonly long[] _lat = new long[maxSamples];
    readonly byte* _bufs = (byte*)NativeMemory.AllocZeroed(RingBufs * BufSize);
    readonly __kernel_timespec* _deadlines = (__kernel_timespec*)NativeMemory.AllocZeroed(Slots * 16);
    readonly io_uring* _b = Program.NewRing(256);
    readonly ManualResetEventSlim _started = new();
    readonly ManualResetEventSlim _targetDone = new();
    SafeFileHandle? _file;
    io_uring* _a;
    int _aFd;
    io_uring_buf_ring* _br;
    int _count;
    volatile bool _stop;
    string? _error;
    long _cpuA, _cpuB, _cpuW, _sleepsA, _sleepsB;

    bool Recv => _socks.Length > 0;
    bool Idle => c.SliceUs == 0;

    /// <summary>
    /// The result line's fields: sample count, percentiles, CPU per completion by thread. A warm-up run may end
    /// without samples (a loaded machine); a measured one may not.
    /// </summary>
    public string Run(bool warmUp = false)
    {
        if (c.Workload == "async-read") _file = TempFile();
        var threads = new List<Thread> { new(Source), new(c.Path == "eventfd" ? QueueTarget : RingTarget) };
        if (Recv) threads.Add(new Thread(Writer));
        var cpu0 = Sys.ProcessCpuNs();
        threads[0].Start();
        if (!_started.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("source thread did not start");
        foreach (var t in threads.Skip(1)) t.Start();
        var end = Sys.NowNs() + (long)(seconds * 1e9);
        while (Sys.NowNs() < end && Volatile.Read(ref _count) < maxSamples && _error == null) Thread.Sleep(10);
        _stop = true;
        ulong one = 1;
        Libc.write(_efd, &one, 8);
        foreach (var t in threads)
            if (!t.Join(TimeSpan.FromSeconds(10))) throw new TimeoutException($"{c}: a thread did not stop");
        var cpu = Sys.ProcessCpuNs() - cpu0;
        if (_error != null) throw new InvalidOperationException($"{c}: {_error}");
        return _count == 0 && warmUp ? "" : Summary(cpu);
    }

    string Summary(long processCpu)
    {
        var n = Math.Min(_count, maxSamples);
        if (n == 0) throw new InvalidOperationException($"{c}: no samples");
        Array.Sort(_lat, 0, n);
        double Us(double q) => QuantileUs(_lat, n, q);
        var cdf = string.Join(",", Percentiles.Select(p => Us(p / 100).ToString("F1", Inv)));
        var other = processCpu - _cpuA - _cpuB - _cpuW;
        return string.Create(Inv, $"n={n} p50_us={Us(0.5):F1} p99_us={Us(0.99):F1} p999_us={Us(0.999):F1} " +
            $"max_us={_lat[n - 1] / 1000.0:F1} cpu_a_ns={_cpuA / n} cpu_b_ns={_cpuB / n} " +
            $"cpu_writer_ns={_cpuW / n} cpu_other_ns={other / n} sleeps_a={(double)_sleepsA / n:F2} " +
            $"sleeps_b={(double)_sleepsB / n:F2} cdf_us={cdf}");
    }

    /// <summary>Quantile <paramref name="q"/> of the first <paramref name="n"/> (sorted) ns samples, in us.</summary>
    internal static double QuantileUs(long[] sorted, int n, double q) => sorted[Math.Min(n - 1, (int)(q * n))] / 1000.0;

    /// <summary>The percentiles of every case's `cdf_us` list (the plot's points).</summary>
    public static readonly double[] Percentiles = [.. Enumerable.Range(0, 100).Select(i => (double)i), 99.5, 99.9];

    static readonly IFormatProvider Inv = System.Globalization.CultureInfo.InvariantCulture;

    static SafeFileHandle TempFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"crossring-read-{Environment.ProcessId}");
        File.WriteAllBytes(path, new byte[4096]);
        var h = File.OpenHandle(path);
        File.Delete(path);
        return h;
    }

    // ---- thread A: the source ring's event loop ----

    void Source()
    {
        uint flags = c.Setup switch
        {
            "default" => 0,
            "coop" => IORING_SETUP_COOP_TASKRUN,
            "defer" => IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            _ => throw new ArgumentException($"unknown setup {c.Setup}"),
        };
        _a = Program.NewRing(64, flags);
        _aFd = _a->ring_fd;
        if (c.Workload == "recv-multishot") SetUpBufferRing();
        var cpu0 = Sys.ThreadCpuNs();
        var sleeps0 = Program.Sleeps();
        var armed = 0;
        for (var s = 0; s < Slots; s++) armed |= Arm(s);
        Submit(armed);
        _started.Set();
        while (!_stop && _error == null)
        {
            if (!Idle) Sys.Spin(c.SliceUs * 1000L);
            armed = 0;
            while (_rearm.TryDequeue(out var s)) armed |= Arm(s);
            Submit(armed);
            if (Idle)
            {
                io_uring_cqe* cqe;
                var tick = WaitTick;
                io_uring_wait_cqe_timeout(_a, &cqe, &tick);
            }
            Forward();
        }
        _cpuA = Sys.ThreadCpuNs() - cpu0;
        _sleepsA = Program.Sleeps() - sleeps0;
        // B recycles into A's buffer ring and reaps A's cancelled requests (kernel path): tear down after it.
        _targetDone.Wait(TimeSpan.FromSeconds(10));
        if (_br != null) io_uring_free_buf_ring(_a, _br, RingBufs, 0);
        Program.Free(_a);
    }

    void SetUpBufferRing()
    {
        int err;
        _br = io_uring_setup_buf_ring(_a, RingBufs, 0, 0, &err);
        if (_br == null) throw new InvalidOperationException($"io_uring_setup_buf_ring: {err}");
        for (var i = 0; i < RingBufs; i++)
            io_uring_buf_ring_add(_br, _bufs + i * BufSize, BufSize, (ushort)i, io_uring_buf_ring_mask(RingBufs), i);
        io_uring_buf_ring_advance(_br, RingBufs);
    }

    /// <summary>Prepares slot <paramref name="s"/>'s request; returns its bit in the "armed" mask.</summary>
    int Arm(int s)
    {
        var sqe = io_uring_get_sqe(_a);
        switch (c.Workload)
        {
            case "recv": io_uring_prep_recv(sqe, _socks[s].Rx, _bufs + s * BufSize, BufSize, 0); break;
            case "recv-multishot":
                io_uring_prep_recv_multishot(sqe, _socks[s].Rx, null, 0, 0);
                sqe->flags |= (byte)IOSQE_BUFFER_SELECT;
                sqe->buf_group = 0;
                break;
            case "timeout":
                // A random deadline 0.1-2 ms ahead, absolute: the event time is exactly the deadline.
                var at = Sys.NowNs() + Random.Shared.NextInt64(100_000, 2_000_000);
                _deadlines[s] = new __kernel_timespec { tv_sec = at / 1_000_000_000, tv_nsec = at % 1_000_000_000 };
                _eventAt[s] = at;
                io_uring_prep_timeout(sqe, _deadlines + s, 0, IORING_TIMEOUT_ABS);
                break;
            case "async-read":
                io_uring_prep_read(sqe, (int)_file!.DangerousGetHandle(), _bufs + s * BufSize, BufSize, 0);
                sqe->flags |= (byte)IOSQE_ASYNC;
                break;
            default: throw new ArgumentException($"unknown workload {c.Workload}");
        }
        sqe->user_data = KindEvent | (uint)s;
        if (c.Path == "kernel") io_uring_sqe_set_cqe_target(sqe, _b->ring_fd);
        return 1 << s;
    }

    /// <summary>Submits (and runs A's task_work); then the writer may write to the slots just armed.</summary>
    void Submit(int armed)
    {
        if (c.Workload == "async-read")
        {
            var now = Sys.NowNs();
            for (var s = 0; s < Slots; s++) if ((armed & (1 << s)) != 0) _eventAt[s] = now;
        }
        var rc = io_uring_submit_and_get_events(_a);
        if (rc < 0 && rc != -LibcConstants.EINTR) _error ??= $"io_uring_submit_and_get_events on A: {rc}";
        if (Recv) for (var s = 0; s < Slots; s++) if ((armed & (1 << s)) != 0) Volatile.Write(ref _ready[s], 1);
    }

    /// <summary>A's CQEs: wake-ups are dropped; events are relayed (msgring, eventfd) or an error (kernel).</summary>
    void Forward()
    {
        io_uring_cqe* cqe;
        int events = 0, relays = 0;
        while (io_uring_peek_cqe(_a, &cqe) == 0)
        {
            var e = *cqe;
            io_uring_cqe_seen(_a, cqe);
            var kind = e.user_data & KindMask;
            if (kind == KindWake) continue;
            if (kind != KindEvent || c.Path == "kernel")
            {
                _error ??= $"unexpected CQE on the source: user_data={e.user_data:x} res={e.res}";
                continue;
            }
            events++;
            if (c.Path == "eventfd") { _queue.Enqueue(e); continue; }
            var m = io_uring_get_sqe(_a);
            io_uring_prep_msg_ring_cqe_flags(m, _b->ring_fd, (uint)e.res, e.user_data, 0, e.flags);
            m->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
            m->user_data = KindRelay;
            relays++;
        }
        if (relays > 0) io_uring_submit(_a);
        if (events > 0 && c.Path == "eventfd") { ulong one = 1; Libc.write(_efd, &one, 8); }
    }

    // ---- thread B: the target ----

    void RingTarget()
    {
        var cpu0 = Sys.ThreadCpuNs();
        var sleeps0 = Program.Sleeps();
        while (!_stop && _error == null)
        {
            io_uring_cqe* cqe;
            var tick = WaitTick;
            if (io_uring_wait_cqe_timeout(_b, &cqe, &tick) != 0) continue;
            var now = Sys.NowNs();
            uint head = *_b->cq.khead, seen = 0, rearms = 0;
            var tail = Volatile.Read(ref *_b->cq.ktail);
            for (; head != tail; head++, seen++) rearms += Handle(_b->cq.cqes[head & *_b->cq.kring_mask], now);
            io_uring_cq_advance(_b, seen);
            WakeSource(rearms);
        }
        _cpuB = Sys.ThreadCpuNs() - cpu0;
        _sleepsB = Program.Sleeps() - sleeps0;
        _targetDone.Set();
    }

    void QueueTarget()
    {
        var cpu0 = Sys.ThreadCpuNs();
        var sleeps0 = Program.Sleeps();
        while (!_stop && _error == null)
        {
            ulong v;
            Libc.read(_efd, &v, 8);
            var now = Sys.NowNs();
            uint rearms = 0;
            while (_queue.TryDequeue(out var e)) rearms += Handle(e, now);
            WakeSource(rearms);
        }
        _cpuB = Sys.ThreadCpuNs() - cpu0;
        _sleepsB = Program.Sleeps() - sleeps0;
        _targetDone.Set();
    }

    /// <summary>One CQE on B: a sample, then the slot's next state. Returns 1 when A must re-arm the slot.</summary>
    uint Handle(io_uring_cqe e, long now)
    {
        if ((e.user_data & KindMask) != KindEvent) return 0;
        var s = (int)(e.user_data & 0xff);
        if (e.res != ExpectedRes)
        {
            if (!_stop) _error ??= $"slot {s}: res {e.res}, expected {ExpectedRes}";
            return 0;
        }
        var i = Interlocked.Increment(ref _count) - 1;
        if (i < _lat.Length) _lat[i] = now - _eventAt[s];
        if (c.Workload != "recv-multishot") return Rearm(s);
        var bid = (ushort)(e.flags >> IORING_CQE_BUFFER_SHIFT);
        io_uring_buf_ring_add(_br, _bufs + bid * BufSize, BufSize, bid, io_uring_buf_ring_mask(RingBufs), 0);
        io_uring_buf_ring_advance(_br, 1);
        if ((e.flags & IORING_CQE_F_MORE) == 0) return Rearm(s);
        Volatile.Write(ref _ready[s], 1);
        return 0;
    }

    int ExpectedRes => c.Workload switch
    {
        "timeout" => -LibcConstants.ETIME,
        "async-read" => BufSize,
        _ => 1,
    };

    uint Rearm(int s)
    {
        _rearm.Enqueue(s);
        return 1;
    }

    /// <summary>An idle source sleeps in io_uring_enter: one MSG_RING per batch of re-arms wakes it.</summary>
    void WakeSource(uint rearms)
    {
        if (rearms == 0 || !Idle) return;
        var m = io_uring_get_sqe(_b);
        io_uring_prep_msg_ring(m, _aFd, 0, KindWake, 0);
        m->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
        m->user_data = KindWake;
        io_uring_submit(_b);
    }

    // ---- the writer: one byte to a random armed socket at random times (exponential, mean 300 us) ----

    void Writer()
    {
        var cpu0 = Sys.ThreadCpuNs();
        var rnd = new Random(12345);
        byte one = 1;
        while (!_stop && _error == null)
        {
            Sys.SleepNs((long)Math.Min(3_000_000, -Math.Log(1 - rnd.NextDouble()) * 300_000));
            var start = rnd.Next(Slots);
            for (var i = 0; i < Slots; i++)
            {
                var s = (start + i) % Slots;
                if (Interlocked.CompareExchange(ref _ready[s], 0, 1) != 1) continue;
                _eventAt[s] = Sys.NowNs();
                if (Libc.write(_socks[s].Tx, &one, 1) != 1) _error ??= $"write to slot {s} failed";
                break;
            }
        }
        _cpuW = Sys.ThreadCpuNs() - cpu0;
    }

    public void Dispose()
    {
        Program.Free(_b);
        foreach (var (rx, tx) in _socks) { Libc.close(rx); Libc.close(tx); }
        Libc.close(_efd);
        _file?.Dispose();
        NativeMemory.Free(_bufs);
        NativeMemory.Free(_deadlines);
        _started.Dispose();
        _targetDone.Dispose();
    }
}
