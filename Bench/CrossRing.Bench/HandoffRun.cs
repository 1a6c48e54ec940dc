using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace CrossRing.Bench;

/// <summary>
/// Thread-per-core handoff on 127.0.0.1: an acceptor thread owns a ring with a multishot accept; each accepted
/// connection goes to one of two worker rings (round robin), which echo what it sends. <paramref name="path"/>:
/// kernel = the acceptor submits the connection's first recv with IOSQE_CQE_TARGET aimed at the worker ring;
/// msgring = the acceptor posts the fd to the worker ring with IORING_OP_MSG_RING and the worker submits the recv;
/// eventfd = the acceptor queues the fd and writes the worker's eventfd, which the worker reads through its ring.
/// Clients: <see cref="Clients"/> threads, each a loop of connect, one 32-byte request, its echo, close (RST),
/// for <paramref name="seconds"/> or <paramref name="maxRequests"/> requests in all.
/// </summary>
sealed unsafe class HandoffRun(string path, double seconds, int maxRequests) : IDisposable
{
    const int Clients = 2, Workers = 2, MaxFd = 4096, BufSize = 64, RequestSize = 32;
    const ulong KindMask = 0xffUL << 32, KindAccept = 1UL << 32, KindRecv = 2UL << 32, KindSend = 3UL << 32,
        KindConn = 4UL << 32, KindEfd = 5UL << 32, KindRelay = 6UL << 32;
    static readonly __kernel_timespec WaitTick = new() { tv_nsec = 20_000_000 };

    readonly Socket _listener = Listen();
    readonly byte* _bufs = (byte*)NativeMemory.AllocZeroed(MaxFd * BufSize);
    readonly Worker[] _workers = [.. Enumerable.Range(0, Workers).Select(_ => new Worker())];
    readonly long[] _lat = new long[maxRequests];
    readonly ManualResetEventSlim _ready = new();
    int _count, _readyWorkers;
    volatile bool _stop;
    string? _error;
    long _cpuClients;

    /// <summary>A worker's ring, created on its own thread, and its eventfd relay queue.</summary>
    sealed class Worker
    {
        public io_uring* Ring;
        public readonly ConcurrentQueue<int> Queue = new();
        public readonly int Efd = Libc.eventfd(0, 0);
        public readonly ulong* EfdValue = (ulong*)NativeMemory.Alloc(8); // the kernel writes it later
    }

    static Socket Listen()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        s.Listen(256);
        return s;
    }

    /// <summary>The result line's fields; a warm-up run may end without requests, a measured one may not.</summary>
    public string Run(bool warmUp = false)
    {
        var server = new List<Thread> { new(Acceptor) };
        for (var w = 0; w < Workers; w++) { var i = w; server.Add(new Thread(() => WorkerLoop(i))); }
        foreach (var t in server.Skip(1)) t.Start();
        server[0].Start();
        if (!_ready.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("handoff: server did not start");
        var clients = Enumerable.Range(0, Clients).Select(_ => new Thread(Client)).ToList();
        var cpu0 = Sys.ProcessCpuNs();
        var t0 = Sys.NowNs();
        clients.ForEach(t => t.Start());
        var end = t0 + (long)(seconds * 1e9);
        while (Sys.NowNs() < end && Volatile.Read(ref _count) < maxRequests && _error == null) Thread.Sleep(10);
        _stop = true;
        foreach (var t in clients.Concat(server))
            if (!t.Join(TimeSpan.FromSeconds(10))) throw new TimeoutException($"handoff {path}: a thread did not stop");
        var wall = Sys.NowNs() - t0;
        var serverCpu = Sys.ProcessCpuNs() - cpu0 - _cpuClients;
        if (_error != null) throw new InvalidOperationException($"handoff {path}: {_error}");
        var n = Math.Min(_count, maxRequests);
        if (n == 0 && warmUp) return "";
        if (n == 0) throw new InvalidOperationException($"handoff {path}: no requests");
        Array.Sort(_lat, 0, n);
        double Us(double q) => LatencyRun.QuantileUs(_lat, n, q);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"n={n} requests_per_s={n / (wall / 1e9):F0} p50_us={Us(0.5):F1} p99_us={Us(0.99):F1} " +
            $"p999_us={Us(0.999):F1} max_us={_lat[n - 1] / 1000.0:F1} server_cpu_ns={serverCpu / n}");
    }

    // ---- the acceptor ----

    void Acceptor()
    {
        var ring = Program.NewRing(256);
        while (Volatile.Read(ref _readyWorkers) < Workers) Thread.Sleep(1);
        ArmAccept(ring);
        io_uring_submit(ring);
        _ready.Set();
        var next = 0;
        while (!_stop && _error == null)
        {
            io_uring_cqe* cqe;
            var tick = WaitTick;
            if (io_uring_wait_cqe_timeout(ring, &cqe, &tick) != 0) continue;
            var relayed = 0;
            while (io_uring_peek_cqe(ring, &cqe) == 0)
            {
                var e = *cqe;
                io_uring_cqe_seen(ring, cqe);
                if ((e.user_data & KindMask) != KindAccept) { Fail($"acceptor: CQE {e.user_data:x} res {e.res}"); continue; }
                if ((e.flags & IORING_CQE_F_MORE) == 0) ArmAccept(ring);
                if (e.res < 0) { Fail($"accept: {e.res}"); continue; }
                relayed |= HandOff(ring, e.res, _workers[next++ % Workers]);
            }
            WakeWorkers(relayed);
            io_uring_submit(ring);
        }
        Program.Free(ring);
    }

    /// <summary>eventfd path: one write per worker given connections in this batch.</summary>
    void WakeWorkers(int mask)
    {
        ulong one = 1;
        for (var i = 0; i < Workers; i++) if ((mask & (1 << i)) != 0) Libc.write(_workers[i].Efd, &one, 8);
    }

    void ArmAccept(io_uring* ring)
    {
        var sqe = io_uring_get_sqe(ring);
        io_uring_prep_multishot_accept(sqe, (int)_listener.Handle, null, null, 0);
        sqe->user_data = KindAccept;
    }

    /// <summary>Gives connection <paramref name="fd"/> to <paramref name="w"/>; returns its bit for eventfd.</summary>
    int HandOff(io_uring* ring, int fd, Worker w)
    {
        if (fd >= MaxFd) { Fail($"fd {fd} >= {MaxFd}"); Libc.close(fd); return 0; }
        if (path == "eventfd")
        {
            w.Queue.Enqueue(fd);
            return 1 << Array.IndexOf(_workers, w);
        }
        var sqe = io_uring_get_sqe(ring);
        if (path == "kernel")
        {
            PrepRecv(sqe, fd);
            io_uring_sqe_set_cqe_target(sqe, w.Ring->ring_fd);
            return 0;
        }
        io_uring_prep_msg_ring(sqe, w.Ring->ring_fd, 0, KindConn | (uint)fd, 0);
        sqe->flags |= (byte)IOSQE_CQE_SKIP_SUCCESS;
        sqe->user_data = KindRelay;
        return 0;
    }

    void PrepRecv(io_uring_sqe* sqe, int fd)
    {
        io_uring_prep_recv(sqe, fd, _bufs + fd * BufSize, BufSize, 0);
        sqe->user_data = KindRecv | (uint)fd;
    }

    // ---- a worker: echoes every connection it is given ----

    void WorkerLoop(int index)
    {
        var w = _workers[index];
        w.Ring = Program.NewRing(512);
        if (path == "eventfd") ArmEfd(w);
        io_uring_submit(w.Ring);
        Interlocked.Increment(ref _readyWorkers);
        while (!_stop && _error == null)
        {
            io_uring_cqe* cqe;
            var tick = WaitTick;
            if (io_uring_wait_cqe_timeout(w.Ring, &cqe, &tick) != 0) continue;
            while (io_uring_peek_cqe(w.Ring, &cqe) == 0)
            {
                var e = *cqe;
                io_uring_cqe_seen(w.Ring, cqe);
                Serve(w, e);
            }
            io_uring_submit(w.Ring);
        }
        Program.Free(w.Ring);
    }

    void ArmEfd(Worker w)
    {
        var sqe = io_uring_get_sqe(w.Ring);
        io_uring_prep_read(sqe, w.Efd, w.EfdValue, 8, 0);
        sqe->user_data = KindEfd;
    }

    void Serve(Worker w, io_uring_cqe e)
    {
        var fd = (int)(e.user_data & 0xffffffff);
        switch (e.user_data & KindMask)
        {
            case KindConn: PrepRecv(io_uring_get_sqe(w.Ring), fd); break;
            case KindEfd:
                while (w.Queue.TryDequeue(out var q)) PrepRecv(io_uring_get_sqe(w.Ring), q);
                ArmEfd(w);
                break;
            case KindRecv when e.res > 0:
                var sqe = io_uring_get_sqe(w.Ring);
                io_uring_prep_send(sqe, fd, _bufs + fd * BufSize, (nuint)e.res, (int)SocketFlagsNoSignal);
                sqe->user_data = KindSend | (uint)fd;
                break;
            case KindSend when e.res > 0: PrepRecv(io_uring_get_sqe(w.Ring), fd); break;
            case KindRecv or KindSend: Libc.close(fd); break; // EOF, reset or error: the client is gone
            default: Fail($"worker: CQE {e.user_data:x} res {e.res}"); break;
        }
    }

    const uint SocketFlagsNoSignal = 0x4000; // MSG_NOSIGNAL

    // ---- a client: connect, request, echo, close with RST (no TIME_WAIT pile-up) ----

    void Client()
    {
        var cpu0 = Sys.ThreadCpuNs();
        var request = new byte[RequestSize];
        var reply = new byte[RequestSize];
        var ep = (IPEndPoint)_listener.LocalEndPoint!;
        while (!_stop && _error == null)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            {
                NoDelay = true,
                ReceiveTimeout = 1000,
                SendTimeout = 1000,
                LingerState = new LingerOption(true, 0),
            };
            var t0 = Sys.NowNs();
            try
            {
                s.Connect(ep);
                s.Send(request);
                for (var got = 0; got < RequestSize;)
                {
                    var k = s.Receive(reply, got, RequestSize - got, SocketFlags.None);
                    if (k == 0) throw new SocketException((int)SocketError.ConnectionReset);
                    got += k;
                }
            }
            catch (SocketException ex)
            {
                if (!_stop) Fail($"client: {ex.SocketErrorCode}");
                break;
            }
            var i = Interlocked.Increment(ref _count) - 1;
            if (i < _lat.Length) _lat[i] = Sys.NowNs() - t0;
            if (i + 1 >= _lat.Length) break;
        }
        Interlocked.Add(ref _cpuClients, Sys.ThreadCpuNs() - cpu0);
    }

    void Fail(string why) => _error ??= why;

    public void Dispose()
    {
        _listener.Dispose();
        foreach (var w in _workers) { Libc.close(w.Efd); NativeMemory.Free(w.EfdValue); }
        NativeMemory.Free(_bufs);
        _ready.Dispose();
    }
}
