using System.Net.Sockets;
using IoUring;
using IoUring.Interop.CrossRing;

namespace Echo;

/// <summary>
/// The first thread: a worker that also owns the listener. One multishot accept on its ring posts a CQE per new
/// connection; each is handed to the next worker round robin (itself included) with a NOP whose result is the fd,
/// completed on that worker's ring by the <see cref="CrossRingCompleter"/>: directly by the kernel on a kernel with
/// IOSQE_CQE_TARGET, through this thread's pump (MSG_RING) otherwise. The fd belongs to the receiver from then on.
/// </summary>
sealed class Acceptor(SharedState shared, Socket listener) : Worker(shared)
{
    /// <summary>The other workers' rings; set before <see cref="Worker.Start"/> (starting the thread publishes
    /// it).</summary>
    public Ring[] Others { get; set; } = [];

    const ulong AcceptData = 3;
    CrossRingCompleter completer = null!;
    int next;

    public CrossRingPath Path { get; private set; }
    public long Accepted { get; private set; }
    public long Refused { get; private set; }

    protected override void Setup()
    {
        completer = new CrossRingCompleter(Ring)
        {
            // A lost handoff still has its fd in the result: close it, or it leaks.
            RelayFailed = lost => CloseLost(lost),
        };
        Path = completer.Path;
        Ring.GetSqe().Accept(listener.SafeHandle, AcceptData, multishot: true);
    }

    // Pump, not Ring.Completions(): on the relay path the handoffs complete here first and are forwarded.
    protected override int Reap() => completer.Pump(c => Handle(c));

    protected override void Local(in Completion c)
    {
        if (c.UserData != AcceptData) return;
        if (!c.More && !Stopping) Ring.GetSqe().Accept(listener.SafeHandle, AcceptData, multishot: true);
        if (c.Failed) return; // e.g. EMFILE: the accept is re-armed, the listener keeps the connection queued
        if (!Shared.TryOpen())
        {
            Refused++;
            new SafeSocketHandle(c.Result, ownsHandle: true).Dispose();
            return;
        }
        Accepted++;
        HandOver(c.Result);
    }

    void HandOver(int fd)
    {
        var index = next++ % (Others.Length + 1);
        if (index == Others.Length)
        {
            Adopt(fd); // this thread's turn
            return;
        }
        completer.Prepare(Ring.GetSqe().Nop(Handoff, fd), Others[index]);
    }

    void CloseLost(LostCompletion lost)
    {
        Shared.Fail(lost.ToString());
        if (lost.UserData == Handoff && lost.Result >= 0) new SafeSocketHandle(lost.Result, ownsHandle: true).Dispose();
        Shared.Closed();
    }

    protected override void Teardown()
    {
        completer.Dispose();
        base.Teardown();
    }
}
