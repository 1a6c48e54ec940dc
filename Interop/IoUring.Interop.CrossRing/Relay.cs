using static IoUring.Interop.IoUringConstants;

namespace IoUring.Interop.CrossRing;

/// <summary>
/// The relay's book-keeping, shared by both completers: which source user_data values are relay tokens, what each
/// relayed request's original user_data and target are, and which MSG_RING forward carries which completion (so a
/// failed forward says which completion it lost). Every forward posts a CQE on the source, also on success: that
/// CQE is what retires the forward's entry (with IOSQE_CQE_SKIP_SUCCESS a success would leave no trace, and the
/// table could never be trimmed).
/// </summary>
sealed class Relay
{
    /// <summary>Top 16 bits of the source-ring user_data values the relay owns.</summary>
    public const ulong Tag = 0xC7A6_0000_0000_0000UL;
    const ulong TagMask = 0xFFFF_0000_0000_0000UL;
    /// <summary>Bit 47: a forward's token; clear: a relayed request's token.</summary>
    const ulong ForwardBit = 0x0000_8000_0000_0000UL;
    /// <summary>Tokens count modulo this, which keeps clear of the few fixed values at the top of the tag's range
    /// (the managed ring's dispose-cancel, <see cref="CancelToken"/>).</summary>
    const ulong Period = 0x0000_7FFF_FFFF_FF00UL;
    /// <summary>user_data of the cancels a completer's Dispose submits.</summary>
    public const ulong CancelToken = Tag | 0x0000_7FFF_FFFF_FFF0UL;

    readonly Dictionary<ulong, Pending> pending = [];
    readonly Dictionary<ulong, Forward> forwards = [];
    ulong nextRelayed, nextForward;

    public readonly record struct Pending(ulong UserData, int TargetFd, bool SkipSuccess);

    /// <summary>A completion on its way to <see cref="TargetFd"/>.</summary>
    public readonly record struct Forward(ulong UserData, int Result, uint Flags, int TargetFd);

    /// <summary>Forwards found by the current pump, to be turned into MSG_RING SQEs.</summary>
    public readonly List<Forward> Queue = [];

    public int InFlight => pending.Count;

    public IEnumerable<ulong> PendingTokens => pending.Keys;

    /// <summary>Registers a request; returns the token that replaces its user_data on the source.</summary>
    public ulong Add(ulong userData, int targetFd, bool skipSuccess)
    {
        var token = Tag | (nextRelayed++ % Period);
        pending[token] = new Pending(userData, targetFd, skipSuccess);
        return token;
    }

    /// <summary>The source token of the pending request with <paramref name="userData"/>, if any.</summary>
    public bool TryFindToken(ulong userData, out ulong token)
    {
        foreach (var (t, p) in pending)
            if (p.UserData == userData)
            {
                token = t;
                return true;
            }
        token = 0;
        return false;
    }

    /// <summary>
    /// Routes one source CQE: false when it is the application's own (not a token of this relay); true when the
    /// relay consumed it: a relayed request's CQE (queued in <see cref="Queue"/> unless skipped), a forward's
    /// CQE (a failure reported to <paramref name="lost"/>), or a dispose-cancel's.
    /// </summary>
    public bool Route(ulong userData, int res, uint flags, Action<LostCompletion>? lost)
    {
        if ((userData & TagMask) != Tag) return false;
        if (userData == CancelToken) return true;
        if ((userData & ForwardBit) != 0)
        {
            if (!forwards.Remove(userData, out var f)) return false;
            if (res < 0) lost?.Invoke(new LostCompletion(f.UserData, f.Result, f.Flags, f.TargetFd, -res));
            return true;
        }
        if (!pending.TryGetValue(userData, out var p)) return false;
        var more = (flags & IORING_CQE_F_MORE) != 0;
        if (!more) pending.Remove(userData);
        if (!(p.SkipSuccess && res >= 0 && !more)) Queue.Add(new Forward(p.UserData, res, flags, p.TargetFd));
        return true;
    }

    /// <summary>Remembers <paramref name="f"/> until its MSG_RING's CQE; returns that MSG_RING's user_data.</summary>
    public ulong Track(in Forward f)
    {
        var token = Tag | ForwardBit | (nextForward++ % Period);
        forwards[token] = f;
        return token;
    }

    /// <summary>Forwards in flight (MSG_RINGs submitted, CQE not reaped yet).</summary>
    public int Forwarding => forwards.Count;
}
