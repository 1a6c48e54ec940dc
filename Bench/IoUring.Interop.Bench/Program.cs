using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using IoUring.Interop;
using static IoUring.Interop.Liburing;

// Usage: IoUring.Interop.Bench VARIANT BATCH SECONDS → "VARIANT BATCH OPS_PER_SECOND".
// VARIANT: pinvoke (every liburing helper through its liburing-ffi export), fast (LiburingFast
// for get_sqe/prep/CQ reaping; submit_and_wait stays native, as in C where it is a library call) or managed (the
// managed layer: Ring.GetSqe().Nop, SubmitAndWait, foreach over Ring.Completions()). The same program published
// with NativeAOT is the "managed-aot" variant of `bench interop`.
if (args.Length != 3 || args[0] is not ("pinvoke" or "fast" or "managed"))
{
    Console.Error.WriteLine("usage: IoUring.Interop.Bench pinvoke|fast|managed BATCH SECONDS");
    return 2;
}
var batch = uint.Parse(args[1], CultureInfo.InvariantCulture);
var seconds = double.Parse(args[2], CultureInfo.InvariantCulture);
if (Environment.GetEnvironmentVariable(
    "IOURING_INTEROP_NATIVE_DIR") is { Length: > 0 } dir) NativeResolver.OverrideDirectory = dir;
var fast = args[0] == "fast";
Func<double, double> run = args[0] == "managed" ? s => ManagedNopBench.Run(batch, s)
    : s => NopBench.Run(fast, batch, s);
// Warm up (JIT tiers, page faults in the rings) before the measured run.
run(Math.Min(0.3, seconds / 4));
var rate = run(seconds);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{args[0]} {batch} {rate:F0}"));
return 0;

static unsafe class NopBench
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Run(bool fast, uint batch, double seconds)
    {
        io_uring ring;
        var ret = io_uring_queue_init(256, &ring, 0);
        if (ret < 0) throw new InvalidOperationException($"io_uring_queue_init: {ret}");
        try
        {
            long ops = 0;
            var limit = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            var start = Stopwatch.GetTimestamp();
            var now = start;
            while (now < limit)
            {
                for (var round = 0; round < 64; round++)
                {
                    ops += fast ? FastRound(&ring, batch) : PInvokeRound(&ring, batch);
                }
                now = Stopwatch.GetTimestamp();
            }
            return ops / ((now - start) / (double)Stopwatch.Frequency);
        }
        finally
        {
            io_uring_queue_exit(&ring);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static uint PInvokeRound(io_uring* ring, uint batch)
    {
        for (uint i = 0; i < batch; i++)
        {
            var sqe = io_uring_get_sqe(ring);
            io_uring_prep_nop(sqe);
            sqe->user_data = i;
        }
        var ret = io_uring_submit_and_wait(ring, batch);
        if (ret != batch) throw new InvalidOperationException($"submit_and_wait: {ret}");
        uint seen = 0;
        io_uring_cqe* cqe;
        while (io_uring_peek_cqe(ring, &cqe) == 0 && cqe != null)
        {
            if (cqe->res != 0) throw new InvalidOperationException($"NOP failed: {cqe->res}");
            io_uring_cqe_seen(ring, cqe);
            seen++;
            if (seen == batch) break;
        }
        return seen;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static uint FastRound(io_uring* ring, uint batch)
    {
        for (uint i = 0; i < batch; i++)
        {
            var sqe = LiburingFast.GetSqe(ring);
            LiburingFast.PrepNop(sqe);
            sqe->user_data = i;
        }
        var ret = io_uring_submit_and_wait(ring, batch);
        if (ret != batch) throw new InvalidOperationException($"submit_and_wait: {ret}");
        // Like io_uring_for_each_cqe + io_uring_cq_advance in the C loop: one acquire of the tail, one release of the
        // head.
        var ready = LiburingFast.CqReady(ring);
        var head = *ring->cq.khead;
        var shift = (ring->flags & IoUringConstants.IORING_SETUP_CQE32) != 0 ? 1 : 0;
        for (uint i = 0; i < ready; i++)
        {
            var cqe = ring->cq.cqes + (((head + i) & ring->cq.ring_mask) << shift);
            if (cqe->res != 0) throw new InvalidOperationException($"NOP failed: {cqe->res}");
        }
        LiburingFast.CqAdvance(ring, ready);
        var seen = ready;
        return seen;
    }
}

/// <summary>The same rounds through the managed layer: what a user of <see cref="IoUring.Ring"/> pays.</summary>
static class ManagedNopBench
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Run(uint batch, double seconds)
    {
        using var ring = IoUring.Ring.Create(new IoUring.RingOptions { Entries = 256 });
        long ops = 0;
        var limit = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var start = Stopwatch.GetTimestamp();
        var now = start;
        while (now < limit)
        {
            for (var round = 0; round < 64; round++) ops += Round(ring, batch);
            now = Stopwatch.GetTimestamp();
        }
        return ops / ((now - start) / (double)Stopwatch.Frequency);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static uint Round(IoUring.Ring ring, uint batch)
    {
        for (uint i = 0; i < batch; i++) ring.GetSqe().Nop(i);
        var ret = ring.SubmitAndWait(batch);
        if (ret != batch) throw new InvalidOperationException($"SubmitAndWait: {ret}");
        uint seen = 0;
        foreach (var c in ring.Completions())
        {
            if (c.Result != 0) throw new InvalidOperationException($"NOP failed: {c}");
            seen++;
        }
        return seen;
    }
}
