using System.Net;

namespace Echo;

/// <summary>What Program needs of either server.</summary>
interface IEchoServer : IDisposable
{
    IPEndPoint EndPoint { get; }
    string Describe { get; }
    IReadOnlyList<string> Errors { get; }
    void Start();
    void Stop();
    string Summary();
}
