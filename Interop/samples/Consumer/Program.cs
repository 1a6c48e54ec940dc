using IoUring.Interop;
using static IoUring.Interop.Liburing;

// One NOP through a fresh ring with the raw bindings, then one through the managed layer (IoUring.Ring): proves the
// package's assemblies and its native liburing load and work.
// The package is Linux-only ([SupportedOSPlatform("linux")]): the guard tells the platform analyzer so.
if (!OperatingSystem.IsLinux())
{
    Console.Error.WriteLine("io_uring needs Linux");
    return 1;
}
unsafe
{
    io_uring ring;
    var ret = io_uring_queue_init(8, &ring, 0);
    if (ret < 0)
    {
        Console.Error.WriteLine($"io_uring_queue_init failed: {ret}");
        return 1;
    }
    try
    {
        var sqe = io_uring_get_sqe(&ring);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, 42);
        ret = io_uring_submit(&ring);
        if (ret != 1)
        {
            Console.Error.WriteLine($"io_uring_submit returned {ret}");
            return 1;
        }
        io_uring_cqe* cqe;
        ret = io_uring_wait_cqe(&ring, &cqe);
        if (ret < 0)
        {
            Console.Error.WriteLine($"io_uring_wait_cqe failed: {ret}");
            return 1;
        }
        var userData = io_uring_cqe_get_data64(cqe);
        var res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        Console.WriteLine($"NOP round trip ok: user_data={userData} res={res} liburing={io_uring_major_version()}.{io_uring_minor_version()}");
        Console.WriteLine($"liburing-ffi loaded from {NativeResolver.Loaded[NativeLibraryNames.LiburingFfi]}");
        return userData == 42 && res == 0 && ManagedNop() ? 0 : 1;
    }
    finally
    {
        io_uring_queue_exit(&ring);
    }
}

static bool ManagedNop()
{
    using var ring = IoUring.Ring.Create();
    ring.GetSqe().Nop(userData: 7);
    ring.SubmitAndWait(1);
    var c = ring.WaitCompletion();
    Console.WriteLine($"managed NOP ok: {c}; cross-ring kernel path {ring.Features.CqeTarget}, " +
        $"CQ user word {ring.Features.CqUserWord}");
    return c.UserData == 7 && c.Result == 0;
}
