using System.Runtime.InteropServices;

namespace IoUring;

/// <summary>
/// A failed io_uring call: <see cref="Errno"/> is the positive errno the kernel or liburing returned, and the
/// message names the operation, the errno's symbolic name and the C library's text for it.
/// </summary>
public sealed class IoUringException : Exception
{
    /// <summary>The positive errno value (e.g. 22 for EINVAL).</summary>
    public int Errno { get; }

    /// <summary>The errno's symbolic name ("EINVAL"), or "errno N" for one this library has no name for.</summary>
    public string ErrnoName => IoUring.Errno.Name(Errno);

    /// <summary>What failed, e.g. "io_uring_queue_init_params".</summary>
    public string Operation { get; }

    /// <param name="errno">Positive errno; a negative one (a liburing return value) is negated.</param>
    /// <param name="operation">What failed.</param>
    public IoUringException(int errno, string operation)
        : base($"{operation}: {IoUring.Errno.Name(Math.Abs(errno))} ({Marshal.GetPInvokeErrorMessage(Math.Abs(errno))})")
    {
        Errno = Math.Abs(errno);
        Operation = operation;
    }

    /// <summary>Returns <paramref name="ret"/> when it is not negative, else throws for -ret.</summary>
    public static int ThrowIfNegative(int ret, string operation) =>
        ret < 0 ? throw new IoUringException(-ret, operation) : ret;
}
