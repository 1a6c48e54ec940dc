using static IoUring.Interop.Liburing;
using static IoUring.Interop.LiburingFast;

namespace IoUring.Interop.Tests;

/// <summary>
/// Both static classes imported together compile: the managed fast helpers have C# names, so a liburing name such as
/// io_uring_get_sqe is never ambiguous (CS0121). This file is the test; the assertion only checks the two are
/// different methods. Nothing native is loaded.
/// </summary>
public sealed class UsingStaticTests
{
    [Test]
    public unsafe void LiburingAndLiburingFastImportTogether()
    {
        delegate*<io_uring*, io_uring_sqe*> native = &io_uring_get_sqe;
        delegate*<io_uring*, io_uring_sqe*> managed = &GetSqe;
        delegate*<io_uring*, uint> ready = &CqReady;
        Assert.That((nint)native, Is.Not.EqualTo((nint)managed));
        Assert.That((nint)ready, Is.Not.Zero);
    }
}
