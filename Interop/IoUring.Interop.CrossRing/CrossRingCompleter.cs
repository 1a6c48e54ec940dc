using System.Diagnostics;
using static IoUring.Interop.IoUringConstants;
using static IoUring.Interop.Liburing;

namespace IoUring.Interop.CrossRing;

/// <summary>
/// "Complete this request on that ring" for the requests of one source <see cref="Ring"/>, used by the thread that
/// owns it (not thread safe, like the ring). The receiver sees the same (user_data, result, flags) on the target
/// whichever path is used, and needs no code of this class: it reaps its ring as usual.
/// <para>
/// <b>Path.</b> <see cref="CrossRingPath.Kernel"/> when the source ring reports IORING_FEAT_CQE_TARGET (the toolkit's
/// patched kernels): <see cref="Prepare"/> sets IOSQE_CQE_TARGET and the kernel posts the CQE on the target; nothing
/// appears on the source, and <see cref="Pump"/> is only the source's ordinary reaping. Otherwise
/// <see cref="CrossRingPath.Relay"/>: the request completes on the source under a token user_data (top 16 bits
/// <see cref="RelayTag"/>: the application must not use that range on the source ring) and <see cref="Pump"/>
/// re-posts it on the target with IORING_OP_MSG_RING (IORING_MSG_RING_FLAGS_PASS carries the flags, len the result).
/// </para>
/// <para>
/// <b>What the receiver sees on the relay path</b>, beyond the same triple: a CQE only after the source thread has
/// pumped (latency is bounded by how often it does); order per source ring in source CQ order, not completion order
/// across rings; IOSQE_CQE_SKIP_SUCCESS is emulated (a success is dropped by the pump, so it still costs a source
/// CQE); each forward costs one SQE and one CQE on the source.
/// </para>
/// <para>
/// <b>Sizing the target's CQ.</b> A full target CQ takes the CQE into the target's overflow list on both paths
/// (the relay's MSG_RING does so on 6.18 and the patched 7.3; tested), so nothing is lost, but the target then runs
/// the kernel's overflow slow path, and on the kernel path a multishot request ends once the target has no room. So
/// give a target CQ entries for everything that may be in flight towards it at once: its own requests plus the
/// cross-ring requests of every source (a multishot one counts once per CQE it may post before the target reaps),
/// with <c>RingOptions.CqEntries</c>.
/// </para>
/// <para>
/// <b>A lost relay</b> (the target fd closed or not an io_uring, no SQE for the forward, no memory for an overflow) is reported to
/// <see cref="RelayFailed"/> with the completion it lost (<see cref="LostCompletion"/>: user_data, result, flags,
/// target fd, errno); the kernel path reports such failures on the source at submission instead (EBADF, EBADFD).
/// </para>
/// <para>
/// <b>What may cross.</b> Only requests that hold nothing on the source ring (NOP, timeout, cancel, close of a raw
/// fd, or raw bindings): on the kernel path the source ring never sees the CQE that would give a pinned buffer or
/// a referenced handle back, so <see cref="Prepare"/> refuses such a request on both paths (the same code must work
/// on both kernels). A target ring must stay open until the requests sent to it have completed.
/// </para>
/// </summary>
public sealed unsafe class CrossRingCompleter : IDisposable
{
    /// <summary>Top 16 bits of the source-ring user_data values the relay path owns.</summary>
    public const ulong RelayTag = Relay.Tag;

    readonly Ring source;
    readonly Relay relay = new();
    bool disposed;

    /// <summary>A completer for requests of <paramref name="source"/>: the kernel path when the ring reports
    /// IORING_FEAT_CQE_TARGET, else the relay, unless <paramref name="forcePath"/> says which (forcing
    /// <see cref="CrossRingPath.Kernel"/> on a kernel without it makes every prepared request fail with
    /// EINVAL).</summary>
    public CrossRingCompleter(Ring source, CrossRingPath? forcePath = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        this.source = source;
        Path = forcePath ?? (source.Features.CqeTarget ? CrossRingPath.Kernel : CrossRingPath.Relay);
    }

    /// <summary>The path this completer uses (fixed at construction).</summary>
    public CrossRingPath Path { get; }

    /// <summary>Relayed requests whose final CQE has not been forwarded yet (0 on the kernel path).</summary>
    public int InFlight => relay.InFlight;

    /// <summary>Called by <see cref="Pump"/> for each completion a forward failed to deliver.</summary>
    public Action<LostCompletion>? RelayFailed { get; set; }

    /// <summary>
    /// Makes the request prepared in <paramref name="sqe"/> complete on <paramref name="target"/>. Call it last,
    /// after the operation and <see cref="Sqe.WithFlags"/>. Refused (<see cref="InvalidOperationException"/>; the
    /// SQE becomes a NOP that posts nothing) for a request that holds a buffer or handle, and
    /// (<see cref="ArgumentException"/>) for an SQE of another ring. A target that is the source ring is a plain
    /// local completion.
    /// </summary>
    public void Prepare(Sqe sqe, Ring target)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(target);
        if (sqe.Owner != source) throw new ArgumentException("the SQE belongs to another ring", nameof(sqe));
        var raw = sqe.Raw;
        if (source.HoldsFor(raw))
        {
            var userData = raw->user_data;
            source.DropHold(userData);
            sqe.Discard();
            throw new InvalidOperationException($"user_data {userData}: a request that holds a buffer or handle " +
                "can't complete on another ring (on the kernel path its CQE never comes back to give them back)");
        }
        var fd = target.Fd;
        if (target == source) return;
        if (Path == CrossRingPath.Kernel)
        {
            io_uring_sqe_set_cqe_target(raw, fd);
            return;
        }
        var skip = (raw->flags & IOSQE_CQE_SKIP_SUCCESS) != 0;
        // The pump has to see the success to retire the token, so the skip is done by it.
        raw->flags = (byte)(raw->flags & ~IOSQE_CQE_SKIP_SUCCESS);
        raw->user_data = relay.Add(raw->user_data, fd, skip);
    }

    /// <summary>The user_data a request prepared with <paramref name="userData"/> has on the source ring, for a
    /// <see cref="Sqe.Cancel"/> there: the relay's token, or <paramref name="userData"/> itself on the kernel path or
    /// when no such request is pending.</summary>
    public ulong SourceUserData(ulong userData) =>
        Path == CrossRingPath.Relay && relay.TryFindToken(userData, out var token) ? token : userData;

    /// <summary>
    /// Reaps every CQE ready on the source ring (waiting up to <paramref name="wait"/> for the first one when none
    /// is), forwards the relayed ones, hands the others to <paramref name="local"/>, and submits the forwards.
    /// Returns the number of CQEs reaped, the relay's own included. The source thread calls it in its loop instead
    /// of reaping the source ring itself.
    /// </summary>
    public int Pump(Action<Completion>? local = null, TimeSpan wait = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var reaped = 0;
        if (wait > TimeSpan.Zero && source.Ready == 0 && source.TryWaitCompletion(wait, out var first))
        {
            reaped++;
            Route(first, local);
        }
        foreach (var c in source.Completions())
        {
            reaped++;
            Route(c, local);
        }
        NativeCrossRingCompleter.SubmitForwards(source.Raw, relay, RelayFailed);
        return reaped;
    }

    void Route(in Completion c, Action<Completion>? local)
    {
        if (!relay.Route(c.UserData, c.Result, c.Flags, RelayFailed)) local?.Invoke(c);
    }

    /// <summary>How long <see cref="Dispose"/> pumps for the cancelled relayed requests.</summary>
    public static TimeSpan DisposeWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Relay path: cancels the relayed requests still in flight and pumps (up to <see cref="DisposeWait"/>) so that
    /// their final CQEs (-ECANCELED, or their result if they finished first) still reach their targets; what is left
    /// after that is reported to <see cref="RelayFailed"/> as lost (ECANCELED). Kernel path: nothing to do, the
    /// kernel delivers. Local CQEs reaped meanwhile are dropped, so reap the source ring before.
    /// </summary>
    public void Dispose()
    {
        if (disposed) return;
        if (Path == CrossRingPath.Relay && relay.InFlight > 0 && !source.IsClosed) CancelRelayed();
        disposed = true;
    }

    void CancelRelayed()
    {
        foreach (var token in relay.PendingTokens.ToList()) source.GetSqe().Cancel(token, Relay.CancelToken);
        source.Submit();
        var clock = Stopwatch.StartNew();
        while ((relay.InFlight > 0 || relay.Forwarding > 0) && clock.Elapsed < DisposeWait)
            Pump(null, TimeSpan.FromMilliseconds(10));
        foreach (var token in relay.PendingTokens.ToList())
            if (relay.Route(token, -LibcConstants.ECANCELED, 0, null))
                foreach (var f in relay.Queue)
                    RelayFailed?.Invoke(new LostCompletion(f.UserData, f.Result, f.Flags, f.TargetFd,
                        LibcConstants.ECANCELED));
        relay.Queue.Clear();
    }

    /// <summary>
    /// Whether this kernel supports IOSQE_CQE_TARGET: the feature bit, and a self-targeted injected NOP that must
    /// not fail. <paramref name="probeRes"/> is the NOP's res (-EINVAL on kernels without it).
    /// </summary>
    public static bool KernelSupported(out uint features, out int probeRes) =>
        NativeCrossRingCompleter.KernelSupported(out features, out probeRes);
}
