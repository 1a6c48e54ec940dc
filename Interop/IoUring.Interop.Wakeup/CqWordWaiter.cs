using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using static IoUring.Interop.Liburing;

namespace IoUring.Interop.Wakeup;

/// <summary>Why <see cref="CqWordWaiter.Wait"/> returned.</summary>
public enum WakeReason
{
    /// <summary>The CQ has entries (application completions and/or wakeup tokens: drop those with <see
    /// cref="CqWordWaiter.IsWakeup(in Completion)"/>).</summary>
    Completion,
    /// <summary>A notifier stored a new sequence into the word.</summary>
    Notified,
    /// <summary>The caller's work predicate is true.</summary>
    Work,
    /// <summary>Blocked for the whole safety timeout and nothing arrived (an idle period, or a lost wakeup if work was
    /// pending).</summary>
    SafetyTimeout,
}

/// <summary>
/// The waiting side of the seed's protocol for the thread that reaps one ring:
/// <list type="number">
/// <item>busy: return as soon as the CQ, the word's sequence or the caller's predicate shows something;</item>
/// <item>idle: wait on the word's line for a bounded time (<see cref="WaitInstruction"/>: UMWAIT, MWAITX or a pause
/// loop), re-checking after every wake, since any store to the line (cq.tail, sq_flags, the word) wakes a
/// monitor;</item>
/// <item>long idle: announce <see cref="CqWord.Asleep"/> in the word, full fence, re-check everything, and only then
/// block in io_uring_enter (io_uring_wait_cqe_timeout with <see cref="SafetyTimeout"/>). A notifier that sees Asleep
/// posts a CQE into this ring with IORING_OP_MSG_RING, which ends the kernel wait.</item>
/// </list>
/// No lost wakeup (Dekker): the waiter stores Asleep, fences, then reads the notifier's publication; a notifier
/// publishes, fences, then reads the state. With both fences at least one of them sees the other's store: either
/// the waiter's re-check finds the work (it does not sleep), or the notifier reads Asleep and sends MSG_RING; the
/// kernel checks for CQEs under its wait-queue protocol before it sleeps, so a CQE posted after the re-check still
/// wakes it. docs/models/cq-word-wakeup.pml checks this (and that dropping either fence or the re-check loses wakeups).
/// One waiter thread per instance; not thread-safe.
/// </summary>
public sealed unsafe class CqWordWaiter : IDisposable
{
    /// <summary>user_data of the wakeup CQEs notifiers post (ASCII "CQWAKEUP"); the reaper drops them.</summary>
    public const ulong WakeupUserData = 0x4351_5741_4B45_5550UL;

    readonly io_uring* ring;
    readonly Ring? managed;
    readonly bool ownsWord;
    ushort lastSequence;

    /// <summary>The word this waiter announces its state in.</summary>
    public CqWord Word { get; }
    /// <summary>What the idle phase runs (see <see cref="WaitInstructions.Describe()"/>).</summary>
    public WaitInstruction Instruction { get; }

    /// <summary>Idle checks (each a PAUSE, or one monitor wait of <see cref="MonitorTscTicks"/>) before blocking in the
    /// kernel.</summary>
    public int SpinChecks { get; set; } = 4096;

    /// <summary>TSC ticks one UMWAIT/MWAITX may last before the waiter re-checks anyway.</summary>
    public uint MonitorTscTicks { get; set; } = 100_000;

    /// <summary>Upper bound of one kernel wait; the protocol never relies on it (the stress tests count when it fires
    /// with work pending).</summary>
    public TimeSpan SafetyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Statistics: returns from the idle phase, kernel sleeps, safety timeouts.</summary>
    public long IdleWakeups, KernelSleeps, SafetyTimeouts;

    /// <param name="ring">The ring this thread reaps.</param>
    /// <param name="word">Its word (<see cref="CqWord.For(io_uring*, uint)"/>).</param>
    /// <param name="instruction">Override the idle instruction (default: <see cref="WaitInstructions.Best"/>; a word
    /// outside the ring always uses the pause loop, since completions would not touch a monitored line).</param>
    public CqWordWaiter(io_uring* ring, CqWord word, WaitInstruction? instruction = null)
    {
        this.ring = ring;
        Word = word;
        var wanted = instruction ?? WaitInstructions.Best;
        if (!word.InRing || WaitInstructions.Stubs == null) wanted = WaitInstruction.Pause;
        Instruction = wanted;
        lastSequence = word.ReadSequence();
        Volatile.Write(ref *word.State, CqWord.Awake);
    }

    /// <summary>
    /// A waiter for the thread that owns <paramref name="ring"/>, with its own word (<see cref="CqWord.For(Ring)"/>:
    /// the reserved CQ user word on kernels with IORING_FEAT_CQ_USER_WORD, else the fallback), freed by
    /// <see cref="Dispose"/>. Notifiers come from <see cref="CreateNotifier"/>. The thread reaps the ring as usual
    /// after each <see cref="Wait"/> and drops the completions <see cref="IsWakeup(in Completion)"/> names.
    /// </summary>
    public CqWordWaiter(Ring ring, WaitInstruction? instruction = null)
        : this(ring.Raw, CqWord.For(ring), instruction)
    {
        managed = ring;
        ownsWord = true;
    }

    /// <summary>A notifier for this waiter, for any other thread (each thread may have its own, or share one). It
    /// keeps the word and the ring's memory alive until it is disposed, so it may outlive the waiter.</summary>
    public CqWordNotifier CreateNotifier() => new(Word, RingFd, retain: true);

    /// <summary>True for a wakeup token posted by a notifier.</summary>
    public static bool IsWakeup(in Completion completion) => completion.UserData == WakeupUserData;

    /// <summary>Frees the word this waiter created (once its notifiers are disposed too).</summary>
    public void Dispose()
    {
        if (ownsWord) Word.Dispose();
    }

    /// <summary>The fd notifiers address their MSG_RING to.</summary>
    public int RingFd => ring->ring_fd;

    /// <summary>True for a wakeup token posted by a notifier.</summary>
    public static bool IsWakeup(in io_uring_cqe cqe) => cqe.user_data == WakeupUserData;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    bool Ready(Func<bool>? hasWork, out WakeReason reason)
    {
        // The sequence is absorbed whatever the reason: the caller handles everything after any return, and a
        // stale difference would make the next Wait return at once without a new notification.
        var seq = Word.ReadSequence();
        var notified = seq != lastSequence;
        lastSequence = seq;
        if (LiburingFast.CqReady(ring) != 0) { reason = WakeReason.Completion; return true; }
        if (notified) { reason = WakeReason.Notified; return true; }
        if (hasWork != null && hasWork()) { reason = WakeReason.Work; return true; }
        reason = default;
        return false;
    }

    /// <summary>
    /// Returns when there is something to do. The caller then reaps the CQ (dropping <see cref="IsWakeup(in Completion)"/> CQEs)
    /// and drains its own queues. <paramref name="hasWork"/> must read what notifiers publish before they call
    /// <see cref="CqWordNotifier.Notify"/> (the sequence in the word is only a hint: concurrent notifiers may
    /// lose increments).
    /// </summary>
    public WakeReason Wait(Func<bool>? hasWork = null)
    {
        // A disposed managed ring has no CQ left to watch (its memory may be gone): fail instead of reading it.
        if (managed != null && managed.IsClosed) throw new ObjectDisposedException(nameof(Ring));
        if (Ready(hasWork, out var reason)) return reason;
        for (; ; )
        {
            if (IdleWait(hasWork, out reason)) { IdleWakeups++; return reason; }

            // Announce the sleep, then re-check: the store-load order here needs the full fence (x86 TSO may
            // otherwise satisfy the loads before the Asleep store leaves the store buffer).
            Volatile.Write(ref *Word.State, CqWord.Asleep);
            Interlocked.MemoryBarrier();
            if (Ready(hasWork, out reason))
            {
                Volatile.Write(ref *Word.State, CqWord.Awake);
                return reason;
            }
            KernelSleeps++;
            io_uring_cqe* cqe;
            var ts = new __kernel_timespec
            {
                tv_sec = (long)SafetyTimeout.TotalSeconds,
                tv_nsec = (long)(SafetyTimeout.Ticks % TimeSpan.TicksPerSecond * 100)
            };
            var rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
            // Awake again: from here on notifiers use the plain store. A notifier that claimed Waking just before
            // this store still sends its MSG_RING: a spare token the reaper drops.
            Volatile.Write(ref *Word.State, CqWord.Awake);
            if (Ready(hasWork, out reason)) return reason;
            if (rc == -LibcConstants.ETIME) { SafetyTimeouts++; return WakeReason.SafetyTimeout; }
            // -EINTR or a spurious return: go round again (idle phase first, then announce again).
        }
    }

    bool IdleWait(Func<bool>? hasWork, out WakeReason reason)
    {
        var stubs = WaitInstructions.Stubs;
        for (var i = 0; i < SpinChecks; i++)
        {
            switch (Instruction)
            {
                case WaitInstruction.Umwait:
                    stubs!.Umonitor(Word.Address);
                    // A store between the last check and arming the monitor would not wake UMWAIT: check again.
                    if (Ready(hasWork, out reason)) return true;
                    stubs.Umwait(0, MonitorTscTicks);
                    break;
                case WaitInstruction.Mwaitx:
                    stubs!.Monitorx(Word.Address);
                    if (Ready(hasWork, out reason)) return true;
                    stubs.Mwaitx(MonitorTscTicks);
                    break;
                default:
                    if (X86Base.IsSupported) X86Base.Pause();
                    else Thread.SpinWait(1);
                    break;
            }
            if (Ready(hasWork, out reason)) return true;
        }
        reason = default;
        return false;
    }
}
