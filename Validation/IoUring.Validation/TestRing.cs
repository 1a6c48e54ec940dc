using IoUring.Interop;
using static IoUring.Interop.Liburing;

namespace IoUring.Validation;

/// <summary>An io_uring set up through liburing for one test, torn down with it. Fails the test on setup
/// errors.</summary>
public sealed unsafe class TestRing : IDisposable
{
    readonly io_uring* ring;
    public io_uring_params Params;

    public TestRing(uint entries = 8, uint flags = 0, uint cqEntries = 0)
    {
        ring = Setup(entries, flags, cqEntries, out Params, out var rc);
        if (ring == null)
            Assert.Fail($"io_uring_queue_init_params({entries}, flags 0x{flags:x}) failed: {Errno.Describe(rc)}");
    }

    TestRing(io_uring* ring, io_uring_params p)
    {
        this.ring = ring;
        Params = p;
    }

    /// <summary>A ring, or null and the setup error in <paramref name="rc"/>: for setup flags a kernel may not
    /// know (it refuses those with -EINVAL), where the test skips rather than fails.</summary>
    public static TestRing? TryCreate(uint entries, uint flags, out int rc)
    {
        var r = Setup(entries, flags, 0, out var p, out rc);
        return r == null ? null : new TestRing(r, p);
    }

    static io_uring* Setup(uint entries, uint flags, uint cqEntries, out io_uring_params p, out int rc)
    {
        var r = (io_uring*)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)sizeof(io_uring));
        p = default;
        p.flags = flags;
        if (cqEntries != 0)
        {
            p.flags |= IoUringConstants.IORING_SETUP_CQSIZE;
            p.cq_entries = cqEntries;
        }
        fixed (io_uring_params* pp = &p) rc = io_uring_queue_init_params(entries, r, pp);
        if (rc >= 0) return r;
        System.Runtime.InteropServices.NativeMemory.Free(r);
        return null;
    }

    public io_uring* Ring => ring;
    public int Fd => ring->ring_fd;

    public io_uring_sqe* Sqe()
    {
        var sqe = io_uring_get_sqe(ring);
        Assert.That((nint)sqe, Is.Not.Zero, "submission queue full");
        return sqe;
    }

    public int Submit() => io_uring_submit(ring);

    /// <summary>Waits (bounded) for one completion and returns a copy of it.</summary>
    public io_uring_cqe Wait(double seconds = 10)
    {
        io_uring_cqe* cqe;
        __kernel_timespec ts = default;
        ts.tv_sec = (long)seconds;
        ts.tv_nsec = (long)((seconds - Math.Floor(seconds)) * 1e9);
        var rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
        Assert.That(rc, Is.Zero, $"waiting for a completion: {Errno.Describe(rc)}");
        var copy = *cqe;
        io_uring_cqe_seen(ring, cqe);
        return copy;
    }

    /// <summary>A completion if one is ready now, else null.</summary>
    public io_uring_cqe? Peek()
    {
        io_uring_cqe* cqe;
        if (io_uring_peek_cqe(ring, &cqe) != 0) return null;
        var copy = *cqe;
        io_uring_cqe_seen(ring, cqe);
        return copy;
    }

    public void Dispose()
    {
        io_uring_queue_exit(ring);
        System.Runtime.InteropServices.NativeMemory.Free(ring);
    }
}

public static class Errno
{
    public static string Describe(int negErrno) =>
        negErrno >= 0 ? negErrno.ToString()
            : $"{negErrno} ({new System.ComponentModel.Win32Exception(-negErrno).Message})";
}

/// <summary>The running kernel's release, for tests whose expectations depend on it.</summary>
public static class RunningKernel
{
    public static string Release => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    public static Version Version
    {
        get
        {
            var parts = Release.Split('.', '-');
            return new Version(int.Parse(parts[0]), int.Parse(parts[1]));
        }
    }
}
