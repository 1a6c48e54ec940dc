using System.IO.Pipes;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace IoUring.Tests;

/// <summary>The ring type and its operations on the running kernel (the host's, or a booted guest's).</summary>
public class RingTests
{
    static (AnonymousPipeServerStream Read, AnonymousPipeClientStream Write) Pipe()
    {
        var server = new AnonymousPipeServerStream(PipeDirection.In);
        return (server, new AnonymousPipeClientStream(PipeDirection.Out, server.ClientSafePipeHandle));
    }

    static List<Completion> Reap(Ring ring, int n)
    {
        var got = new List<Completion>();
        while (got.Count < n) got.Add(ring.WaitCompletion());
        return got;
    }

    [Test]
    public void NopsCompleteOnceEachWithTheirUserData()
    {
        using var ring = Ring.Create(new RingOptions { Entries = 32 });
        for (ulong i = 1; i <= 32; i++) ring.GetSqe().Nop(i);
        Assert.That(ring.SubmitAndWait(32), Is.EqualTo(32));
        var seen = new List<ulong>();
        foreach (var c in ring.Completions())
        {
            Assert.That(c.Result, Is.Zero, c.ToString());
            seen.Add(c.UserData);
        }
        Assert.That(seen, Is.EquivalentTo(Enumerable.Range(1, 32).Select(i => (ulong)i)));
        Assert.That(ring.Ready, Is.Zero, "the loop gave every CQE back");
    }

    [Test]
    public void AWriteAndAReadThroughAPipeHoldTheirBuffersUntilTheirCompletions()
    {
        var (r, w) = Pipe();
        using var _r = r;
        using var _w = w;
        using var ring = Ring.Create();
        var input = Encoding.ASCII.GetBytes("hello, ring");
        var output = new byte[64];
        ring.GetSqe().Write(w.SafePipeHandle, input, ulong.MaxValue, 1);
        ring.GetSqe().Read(r.SafePipeHandle, output, ulong.MaxValue, 2);
        Assert.That(ring.Holding, Is.EqualTo(2));
        ring.Submit();
        var got = Reap(ring, 2).ToDictionary(c => c.UserData);
        Assert.That(got[1].Result, Is.EqualTo(input.Length), got[1].ToString());
        Assert.That(got[2].Result, Is.EqualTo(input.Length), got[2].ToString());
        Assert.That(output.AsSpan(0, input.Length).SequenceEqual(input));
        Assert.That(ring.Holding, Is.Zero, "buffers unpinned, handles released once the CQEs were taken");
    }

    [Test]
    public void SendAndRecvOnLoopbackSocketsAfterAPollSaysReadable()
    {
        var (a, b) = Loopback.Connected();
        using var _a = a;
        using var _b = b;
        using var ring = Ring.Create();
        ring.GetSqe().Poll(b.SafeHandle, 1 /* POLLIN */, 1);
        ring.Submit();
        Assert.That(ring.Ready, Is.Zero, "nothing to read yet");
        var message = Encoding.ASCII.GetBytes("over tcp");
        ring.GetSqe().Send(a.SafeHandle, message, 2);
        ring.Submit();
        var got = Reap(ring, 2).ToDictionary(c => c.UserData);
        Assert.That(got[1].Result & 1, Is.EqualTo(1), got[1].ToString());
        Assert.That(got[2].Result, Is.EqualTo(message.Length), got[2].ToString());
        var buffer = new byte[32];
        ring.GetSqe().Recv(b.SafeHandle, buffer, 3);
        ring.Submit();
        var recv = ring.WaitCompletion();
        Assert.That((recv.UserData, recv.Result), Is.EqualTo((3UL, message.Length)), recv.ToString());
        Assert.That(buffer.AsSpan(0, message.Length).SequenceEqual(message));
        Assert.That(ring.Holding, Is.Zero);
    }

    [Test]
    public void ATimeoutCancelledByUserDataCompletesWithECanceled()
    {
        using var ring = Ring.Create();
        ring.GetSqe().Timeout(TimeSpan.FromSeconds(30), 1);
        ring.Submit();
        ring.GetSqe().Cancel(1, 2);
        ring.Submit();
        var got = Reap(ring, 2).ToDictionary(c => c.UserData);
        Assert.That(got[1].Errno, Is.EqualTo(125), got[1].ToString());
        Assert.That(Errno.Name(got[1].Errno), Is.EqualTo("ECANCELED"));
        Assert.That(got[2].Result, Is.Zero, got[2].ToString());
    }

    [Test]
    public void AnExpiredLinkedTimeoutCancelsTheRestOfTheLink()
    {
        using var ring = Ring.Create();
        ring.GetSqe().Timeout(TimeSpan.FromMilliseconds(1), 1).WithFlags(SqeFlags.Link);
        ring.GetSqe().Nop(2);
        ring.Submit();
        var got = Reap(ring, 2).ToDictionary(c => c.UserData);
        Assert.That(Errno.Name(got[1].Errno), Is.EqualTo("ETIME"));
        Assert.That(Errno.Name(got[2].Errno), Is.EqualTo("ECANCELED"), "a failed link member cancels the next");
    }

    [Test]
    public void MsgRingPostsOnTheTargetAndHoldsItUntilItsOwnCompletion()
    {
        using var source = Ring.Create();
        using var target = Ring.Create();
        source.GetSqe().MsgRing(target, 7, 0x1234, 9);
        Assert.That(source.Holding, Is.EqualTo(1));
        source.Submit();
        var own = source.WaitCompletion();
        Assert.That((own.UserData, own.Result), Is.EqualTo((9UL, 0)), own.ToString());
        var posted = target.WaitCompletion();
        Assert.That((posted.UserData, posted.Result), Is.EqualTo((0x1234UL, 7)), posted.ToString());
        Assert.That(source.Holding, Is.Zero);
    }

    [Test]
    public void ABoundedWaitReturnsFalseWhenNothingCompletes()
    {
        using var ring = Ring.Create();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.That(ring.TryWaitCompletion(TimeSpan.FromMilliseconds(50), out _), Is.False);
        Assert.That(sw.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(45)), "it waited");
        ring.GetSqe().Nop(4);
        ring.Submit();
        Assert.That(ring.TryWaitCompletion(TimeSpan.FromSeconds(10), out var c) && c.UserData == 4, Is.True);
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.TryWaitCompletion(TimeSpan.FromTicks(-1), out _));
    }

    [Test]
    public void SetupErrorsCarryTheErrnoAndItsName()
    {
        var e = Assert.Throws<IoUringException>(() => Ring.Create(new RingOptions { Entries = 0 }))!;
        Assert.That((e.Errno, e.ErrnoName, e.Operation), Is.EqualTo((22, "EINVAL", "io_uring_queue_init_params")));
        Assert.That(e.Message, Does.StartWith("io_uring_queue_init_params: EINVAL (").And.Contain("nvalid"));
        e = Assert.Throws<IoUringException>(() => Ring.Create(new RingOptions { Flags = (SetupFlags)(1u << 31) }))!;
        Assert.That(e.ErrnoName, Is.EqualTo("EINVAL"), "an unknown setup flag");
    }

    [Test]
    public unsafe void FeaturesAreTheBitsTheKernelReported()
    {
        using var ring = Ring.Create();
        Assert.That(ring.Features.Bits, Is.EqualTo(ring.Raw->features));
        Assert.That(ring.Features.NoDrop && ring.Features.SingleMmap && ring.Features.ExtArg, Is.True,
            "every kernel io_uring runs on here (6.12 and later) has these");
        Assert.That((ring.SqEntries, ring.CqEntries), Is.EqualTo((64u, 128u)));
    }

    [Test]
    public void AFullSubmissionQueueIsReportedAndGetSqeSubmitsIt()
    {
        using var ring = Ring.Create(new RingOptions { Entries = 4 });
        for (ulong i = 0; i < 4; i++)
        {
            Assert.That(ring.TryGetSqe(out var sqe), Is.True);
            sqe.Nop(i);
        }
        Assert.That(ring.TryGetSqe(out _), Is.False);
        ring.GetSqe().Nop(4);
        Assert.That(ring.Unsubmitted, Is.EqualTo(1u), "the four were submitted to make room");
        ring.SubmitAndWait(5);
        Assert.That(ring.Ready, Is.EqualTo(5u));
    }

    [Test]
    public void TheSubmitAndCompletionLoopAllocatesNothing()
    {
        using var ring = Ring.Create(new RingOptions { Entries = 32 });
        var bad = Round(ring);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++) bad += Round(ring);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That((allocated, bad), Is.EqualTo((0L, 0)), "bytes allocated and failed NOPs over 3,200 NOPs");
    }

    /// <summary>32 NOPs submitted, waited for and reaped; returns how many failed.</summary>
    static int Round(Ring ring)
    {
        for (ulong i = 0; i < 32; i++) ring.GetSqe().Nop(i).WithFlags(SqeFlags.None);
        ring.SubmitAndWait(32);
        var bad = 0;
        foreach (var c in ring.Completions()) bad += c.Failed ? 1 : 0;
        return bad;
    }

    [Test]
    public void AUserDataHoldingABufferCannotBeReusedWhileInFlight()
    {
        var (r, w) = Pipe();
        using var _r = r;
        using var _w = w;
        using var ring = Ring.Create();
        ring.GetSqe().Read(r.SafePipeHandle, new byte[8], ulong.MaxValue, 5);
        var e = Assert.Throws<InvalidOperationException>(() =>
            ring.GetSqe().Read(r.SafePipeHandle, new byte[8], ulong.MaxValue, 5))!;
        Assert.That(e.Message, Does.Contain("user_data 5"));
        Assert.That(ring.Holding, Is.EqualTo(1));
    }

    [Test]
    public void DisposingTheRingInsideTheCompletionLoopEndsTheLoop()
    {
        var ring = Ring.Create();
        for (ulong i = 0; i < 4; i++) ring.GetSqe().Nop(i);
        ring.SubmitAndWait(4);
        var seen = 0;
        foreach (var c in ring.Completions())
        {
            seen++;
            ring.Dispose();
        }
        Assert.That(seen, Is.EqualTo(1), "no CQE read from unmapped rings");
    }

    [Test]
    public void DisposeCancelsAReadInFlightAndReleasesItsHandle()
    {
        var (r, w) = Pipe();
        using var _w = w;
        var ring = Ring.Create();
        ring.GetSqe().Read(r.SafePipeHandle, new byte[8], ulong.MaxValue, 1);
        ring.Submit();
        var fd = (int)r.SafePipeHandle.DangerousGetHandle();
        ring.Dispose();
        ring.Dispose();
        r.Dispose();
        Assert.That(File.Exists($"/proc/self/fd/{fd}"), Is.False,
            "the pipe's fd closed: the ring gave its reference back after the read was cancelled");
        Assert.Throws<ObjectDisposedException>(() => ring.GetSqe());
    }
}
