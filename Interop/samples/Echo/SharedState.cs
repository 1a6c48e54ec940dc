namespace Echo;

/// <summary>What the server's threads share: the open-connection count against the limit, errors.</summary>
sealed class SharedState(int maxConnections, int bufferSize)
{
    int open;
    readonly List<string> errors = [];

    public int BufferSize { get; } = bufferSize;

    /// <summary>Counts a new connection; false (and not counted) when the limit is reached.</summary>
    public bool TryOpen()
    {
        if (Interlocked.Increment(ref open) <= maxConnections) return true;
        Interlocked.Decrement(ref open);
        return false;
    }

    public void Closed() => Interlocked.Decrement(ref open);

    public void Fail(string error)
    {
        lock (errors) errors.Add(error);
    }

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (errors) return [.. errors];
        }
    }
}
