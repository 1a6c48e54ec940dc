using System.Net;
using System.Runtime.InteropServices;
using IoUring.Interop;
using static IoUring.Interop.IoUringConstants;

namespace IoUring;

public readonly unsafe ref partial struct Sqe
{
    /// <summary>accept4(2)'s SOCK_CLOEXEC: an accepted fd is not inherited by a program the process executes.</summary>
    const uint SockCloexec = 0x80000;

    /// <summary>
    /// IORING_OP_ACCEPT on a listening socket: each CQE's result is a new connection's fd (close-on-exec), for
    /// <see cref="Completion.TakeSocket"/>. <paramref name="multishot"/> (IORING_ACCEPT_MULTISHOT): one CQE per
    /// connection with <see cref="Completion.More"/> set, until one without it ends the request (an error, or a
    /// cancel). <paramref name="listener"/> stays referenced until that last CQE.
    /// </summary>
    public Sqe Accept(SafeHandle listener, ulong userData, bool multishot = false)
    {
        ring.AddHold(userData, new Hold { First = AddRef(listener, userData) }, Checked);
        Prep(io_uring_op.IORING_OP_ACCEPT, (int)listener.DangerousGetHandle(), null, 0, 0, userData);
        sqe->accept_flags = SockCloexec;
        if (multishot) sqe->ioprio |= (ushort)IORING_ACCEPT_MULTISHOT;
        return this;
    }

    /// <summary>
    /// IORING_OP_CONNECT of <paramref name="socket"/> to <paramref name="endPoint"/> (IPv4 or IPv6): result 0 once
    /// connected. The address is copied into native memory that lives until the CQE, so the kernel may read it
    /// whenever it prepares the request (also with SQPOLL); the socket stays referenced until then.
    /// </summary>
    public Sqe Connect(SafeHandle socket, IPEndPoint endPoint, ulong userData)
    {
        var hold = new Hold { First = AddRef(socket, userData) };
        var (address, length) = SockAddr.Alloc(endPoint);
        hold.Native = (void*)address;
        ring.AddHold(userData, hold, Checked);
        return Prep(io_uring_op.IORING_OP_CONNECT, (int)socket.DangerousGetHandle(), (void*)address, 0,
            (ulong)length, userData);
    }

    /// <summary>
    /// IORING_OP_CLOSE of a raw fd, such as one an <see cref="Accept"/> returned and nobody owns yet: result 0 or
    /// -errno (EBADF for an fd that is not open). There is no overload for a <see cref="SafeHandle"/>: the handle
    /// would still own the fd (and close it again, maybe reused by then), and marking it invalid instead leaves a
    /// SafeSocketHandle's Dispose waiting forever for a release that never comes. Dispose a handle to close it.
    /// </summary>
    public Sqe Close(int fd, ulong userData) => Prep(io_uring_op.IORING_OP_CLOSE, fd, null, 0, 0, userData);

    /// <summary>
    /// IORING_OP_RECV with buffer selection from <paramref name="buffers"/>: the kernel picks a buffer when data
    /// arrives; the CQE names it (<see cref="Completion.BufferId"/>, read it with <see cref="BufferRing.Data"/> and
    /// give it back with <see cref="BufferRing.Recycle"/>). <paramref name="multishot"/> (IORING_RECV_MULTISHOT):
    /// one CQE per arrival with <see cref="Completion.More"/>, until one without it (end of stream with result 0,
    /// an error, -ENOBUFS when the ring ran out of buffers, or a cancel). The socket and the buffer ring are held
    /// until that last CQE.
    /// </summary>
    public Sqe Recv(SafeHandle socket, BufferRing buffers, ulong userData, bool multishot = false, int flags = 0)
    {
        try
        {
            buffers.CheckOwner(ring);
        }
        catch
        {
            Discard();
            throw;
        }
        ring.AddHold(userData, new Hold { First = AddRef(socket, userData), Buffers = buffers }, Checked);
        Prep(io_uring_op.IORING_OP_RECV, (int)socket.DangerousGetHandle(), null, 0, 0, userData);
        sqe->msg_flags = (uint)flags;
        sqe->flags |= (byte)IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffers.Group;
        if (multishot) sqe->ioprio |= (ushort)IORING_RECV_MULTISHOT;
        return this;
    }
}
