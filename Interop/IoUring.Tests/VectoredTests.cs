using System.IO.Pipes;
using System.Text;

using static IoUring.Tests.Loopback;

namespace IoUring.Tests;

/// <summary>Vectored and registered-buffer I/O, and what a request's flags may not do to what it holds.</summary>
public class VectoredTests
{
    static FileStream TempFile() => new(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None,
        4096, FileOptions.DeleteOnClose);

    [Test]
    public void WritevThenReadvMoveSegmentsInOrder()
    {
        using var file = TempFile();
        using var ring = Ring.Create();
        ReadOnlyMemory<byte>[] parts = ["one,"u8.ToArray(), "two,"u8.ToArray(), "three"u8.ToArray()];
        ring.GetSqe().Writev(file.SafeFileHandle, parts, 0, 1);
        ring.SubmitAndWait(1);
        Assert.That(Next(ring).Result, Is.EqualTo(13));
        var head = new byte[6];
        var tail = new byte[16];
        ring.GetSqe().Readv(file.SafeFileHandle, new Memory<byte>[] { head, tail }, 0, 2);
        Assert.That(ring.Holding, Is.EqualTo(1));
        ring.SubmitAndWait(1);
        Assert.That(Next(ring).Result, Is.EqualTo(13));
        Assert.That(Encoding.ASCII.GetString(head) + Encoding.ASCII.GetString(tail, 0, 7), Is.EqualTo("one,two,three"));
        Assert.That(ring.Holding, Is.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            ring.GetSqe().Readv(file.SafeFileHandle, ReadOnlySpan<Memory<byte>>.Empty, 0, 3));
    }

    [Test]
    public void FixedBuffersCarryDataAndAreBoundsChecked()
    {
        using var file = TempFile();
        using var ring = Ring.Create();
        var source = new byte[4096];
        var sink = new byte[4096];
        "registered"u8.CopyTo(source.AsSpan(100));
        Assert.Throws<InvalidOperationException>(() => ring.GetSqe().ReadFixed(file.SafeFileHandle, 0, 0, 1, 0, 9),
            "nothing registered yet");
        ring.RegisterBuffers(source, sink);
        Assert.That(Assert.Throws<IoUringException>(() => ring.RegisterBuffers(source))!.ErrnoName, Is.EqualTo("EBUSY"));
        ring.GetSqe().WriteFixed(file.SafeFileHandle, 0, 100, 10, 0, 1);
        ring.SubmitAndWait(1);
        Assert.That(Next(ring).Result, Is.EqualTo(10));
        ring.GetSqe().ReadFixed(file.SafeFileHandle, 1, 4000, 10, 0, 2);
        ring.SubmitAndWait(1);
        Assert.That(Next(ring).Result, Is.EqualTo(10));
        Assert.That(Encoding.ASCII.GetString(sink, 4000, 10), Is.EqualTo("registered"));
        var handle = file.SafeFileHandle;
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.GetSqe().ReadFixed(handle, 1, 4090, 10, 0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.GetSqe().ReadFixed(handle, 2, 0, 1, 0, 3));
        ring.UnregisterBuffers();
        ring.RegisterBuffers(sink);
        ring.Submit();
        Assert.That(ring.Ready, Is.Zero, "the refused preparations left NOPs that post nothing");
    }

    [Test]
    public void RegisteredBuffersStayWhileAFixedReadIsInFlight()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle);
        using var ring = Ring.Create();
        var buffer = new byte[64];
        ring.RegisterBuffers(buffer);
        ring.GetSqe().ReadFixed(pipe.SafePipeHandle, 0, 0, 64, ulong.MaxValue, 1);
        ring.Submit();
        Assert.Throws<InvalidOperationException>(() => ring.UnregisterBuffers(), "the kernel may still copy into it");
        writer.Write("late"u8);
        writer.Flush();
        Assert.That(Next(ring).Result, Is.EqualTo(4));
        Assert.That(Encoding.ASCII.GetString(buffer, 0, 4), Is.EqualTo("late"));
        ring.UnregisterBuffers();
    }

    [Test]
    public void SkipSuccessIsRefusedOnARequestThatHoldsSomething()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle);
        using var ring = Ring.Create();
        var e = Assert.Throws<InvalidOperationException>(() =>
            ring.GetSqe().Write(writer.SafePipeHandle, "x"u8.ToArray(), ulong.MaxValue, 1)
                .WithFlags(SqeFlags.SkipSuccess))!;
        Assert.That(e.Message, Does.Contain("user_data 1"));
        Assert.That(ring.Holding, Is.Zero, "the refused request gave its buffer and handle back");

        // An in-flight read holds user data 2; a cancel with the same user data and skip-success holds nothing
        // and must not give the read's hold away.
        ring.GetSqe().Read(pipe.SafePipeHandle, new byte[8], ulong.MaxValue, 2);
        ring.Submit();
        ring.GetSqe().Nop(2).WithFlags(SqeFlags.SkipSuccess);
        ring.Submit();
        Assert.That(ring.Holding, Is.EqualTo(1));
        Assert.That(ring.Ready, Is.Zero, "the refused write became a NOP that posts nothing; the NOP skipped too");
        ring.GetSqe().Nop(3).WithFlags(SqeFlags.SkipSuccess);
        ring.Submit();
        Assert.That(ring.Ready, Is.Zero);
    }
}
