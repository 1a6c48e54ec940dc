using System.Net;
using System.Net.Sockets;
using System.Text;

using static IoUring.Tests.Loopback;

namespace IoUring.Tests;

/// <summary>Accept, connect, close and buffer-selecting receives on loopback TCP, on the running kernel.</summary>
public class NetworkTests
{
    [Test]
    public void MultishotAcceptPostsOneCompletionPerConnectionUntilCancelled()
    {
        using var listener = Listener();
        using var ring = Ring.Create();
        ring.GetSqe().Accept(listener.SafeHandle, 1, multishot: true);
        ring.Submit();
        var clients = new List<Socket>();
        var accepted = new List<Socket>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var c = Socket();
                clients.Add(c);
                c.Connect(listener.LocalEndPoint!);
                var done = Next(ring);
                Assert.That(done.More, Is.True, done.ToString());
                accepted.Add(new Socket(done.TakeSocket()));
                c.Send([(byte)i]);
                var one = new byte[1];
                Assert.That(accepted[i].Receive(one), Is.EqualTo(1));
                Assert.That(one[0], Is.EqualTo((byte)i), "each accepted fd is that client's connection");
            }
            Assert.That(ring.Holding, Is.EqualTo(1), "the listener stays referenced while the accept goes on");
            ring.GetSqe().Cancel(1, 2);
            ring.Submit();
            var rest = new[] { Next(ring), Next(ring) }.ToDictionary(c => c.UserData);
            Assert.That(Errno.Name(rest[1].Errno), Is.EqualTo("ECANCELED"), rest[1].ToString());
            Assert.That(rest[1].More, Is.False, "the cancel's CQE ends the multishot request");
            Assert.That(ring.Holding, Is.Zero);
        }
        finally
        {
            foreach (var s in clients.Concat(accepted)) s.Dispose();
        }
    }

    [Test]
    public void AnAcceptedFdIsCloseOnExec()
    {
        using var listener = Listener();
        using var ring = Ring.Create();
        ring.GetSqe().Accept(listener.SafeHandle, 1);
        ring.Submit();
        using var client = Socket();
        client.Connect(listener.LocalEndPoint!);
        var c = Next(ring);
        Assert.That(c.More, Is.False, "single shot");
        using var handle = c.TakeSocket();
        var flags = File.ReadAllLines($"/proc/self/fdinfo/{c.Result}").Single(l => l.StartsWith("flags:"));
        var octal = Convert.ToInt32(flags.Split(':')[1].Trim(), 8);
        Assert.That(octal & 0x80000 /* O_CLOEXEC, 02000000 */, Is.Not.Zero, flags);
    }

    [Test]
    public void ConnectReachesAListenerAndAFailedConnectSaysWhy()
    {
        using var listener = Listener();
        using var socket = Socket();
        using var ring = Ring.Create();
        ring.GetSqe().Connect(socket.SafeHandle, (IPEndPoint)listener.LocalEndPoint!, 1);
        Assert.That(ring.Holding, Is.EqualTo(1), "the address and the socket are held until the CQE");
        ring.Submit();
        var c = Next(ring);
        Assert.That(c.Result, Is.Zero, c.ToString());
        using var server = listener.Accept();
        server.ReceiveTimeout = 10_000;
        Assert.That(ring.Holding, Is.Zero);
        ring.GetSqe().Send(socket.SafeHandle, "via ring"u8.ToArray(), 3);
        ring.Submit();
        Assert.That(Next(ring).Result, Is.EqualTo(8));
        var got = new byte[16];
        Assert.That(Encoding.ASCII.GetString(got, 0, server.Receive(got)), Is.EqualTo("via ring"),
            "the socket the ring connected is the listener's peer");

        // A port nobody listens on: the one the listener had, after it is closed.
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        listener.Dispose();
        using var refused = Socket();
        ring.GetSqe().Connect(refused.SafeHandle, new IPEndPoint(IPAddress.Loopback, port), 2);
        ring.Submit();
        Assert.That(Errno.Name(Next(ring).Errno), Is.EqualTo("ECONNREFUSED"));
    }

    [Test]
    public void SocketAddressesHaveLinuxsLayout()
    {
        foreach (var ep in new[]
                 {
                     new IPEndPoint(IPAddress.Parse("10.1.2.3"), 4660),
                     new IPEndPoint(IPAddress.Parse("fe80::1:2"), 443) { Address = { ScopeId = 3 } },
                 })
        {
            var (address, length) = SockAddr.Alloc(ep);
            try
            {
                var ours = Ours(address, length);
                // .NET on Linux keeps a SocketAddress as the kernel's own sockaddr bytes.
                var theirs = ep.Serialize().Buffer.ToArray();
                Assert.That(ours, Is.EqualTo(theirs.AsSpan(0, length).ToArray()), ep.ToString());
            }
            finally
            {
                unsafe { System.Runtime.InteropServices.NativeMemory.Free((void*)address); }
            }
        }
    }

    static unsafe byte[] Ours(nint address, int length) => new ReadOnlySpan<byte>((void*)address, length).ToArray();

    [Test]
    public void CloseOfAnAcceptedFdEndsTheConnection()
    {
        using var listener = Listener();
        using var ring = Ring.Create();
        ring.GetSqe().Accept(listener.SafeHandle, 1);
        ring.Submit();
        using var client = Socket();
        client.Connect(listener.LocalEndPoint!);
        var fd = Next(ring).ResultOrThrow("accept");
        ring.GetSqe().Close(fd, 2);
        ring.Submit();
        Assert.That(Next(ring).Result, Is.Zero);
        Assert.That(client.Receive(new byte[1]), Is.Zero, "the client sees end of stream: the fd was closed");
        ring.GetSqe().Close(fd, 3);
        ring.Submit();
        Assert.That(Errno.Name(Next(ring).Errno), Is.EqualTo("EBADF"), "closed once");
    }

    /// <summary>A buffer ring of <paramref name="count"/> x <paramref name="size"/> bytes and a multishot receive
    /// from <paramref name="socket"/> selecting from it (user data 1), submitted.</summary>
    static BufferRing MultishotRecv(Ring ring, Socket socket, int count, int size)
    {
        var buffers = ring.CreateBufferRing(group: 1, count, size);
        ring.GetSqe().Recv(socket.SafeHandle, buffers, 1, multishot: true);
        ring.Submit();
        return buffers;
    }

    [Test]
    public void MultishotRecvTakesProvidedBuffersUntilEndOfStream()
    {
        var (a, b) = Connected();
        using var _a = a;
        using var _b = b;
        using var ring = Ring.Create();
        var buffers = MultishotRecv(ring, b, count: 4, size: 64);
        var received = new StringBuilder();
        for (var i = 0; i < 10; i++)
        {
            a.Send(Encoding.ASCII.GetBytes($"m{i};"));
            var c = Next(ring);
            Assert.That(c.More && c.HasBuffer, Is.True, c.ToString());
            received.Append(Encoding.ASCII.GetString(buffers.Data(c)));
            buffers.Recycle(c.BufferId);
        }
        Assert.That(received.ToString(), Is.EqualTo(string.Concat(Enumerable.Range(0, 10).Select(i => $"m{i};"))),
            "ten messages through four buffers, each recycled");
        Assert.Throws<InvalidOperationException>(() => buffers.Dispose(), "a receive may still take a buffer");
        a.Shutdown(SocketShutdown.Send);
        var end = Next(ring);
        Assert.That((end.Result, end.More), Is.EqualTo((0, false)), end.ToString());
        Assert.That(ring.Holding, Is.Zero);
        buffers.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ring.GetSqe().Recv(b.SafeHandle, buffers, 2));
    }

    [Test]
    public void AMultishotRecvOutOfBuffersEndsWithENOBUFS()
    {
        var (a, b) = Connected();
        using var _a = a;
        using var _b = b;
        using var ring = Ring.Create();
        var buffers = MultishotRecv(ring, b, count: 1, size: 16);
        a.Send("first"u8.ToArray());
        var first = Next(ring);
        Assert.That(Encoding.ASCII.GetString(buffers.Data(first)), Is.EqualTo("first"));
        a.Send("second"u8.ToArray());
        var last = Next(ring);
        Assert.That((Errno.Name(last.Errno), last.More), Is.EqualTo(("ENOBUFS", false)), last.ToString());
        Assert.That(ring.Holding, Is.Zero);
    }

    [Test]
    public void BufferRingsAreCheckedAndFreedWithTheRing()
    {
        using var ring = Ring.Create();
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.CreateBufferRing(0, 3, 16), "not a power of two");
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.CreateBufferRing(0, 65536, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.CreateBufferRing(0, 4, 0));
        ring.CreateBufferRing(3, 4, 16);
        var e = Assert.Throws<IoUringException>(() => ring.CreateBufferRing(3, 4, 16))!;
        Assert.That(e.ErrnoName, Is.EqualTo("EEXIST"), "one buffer ring per group");
        using var other = Ring.Create();
        var foreign = other.CreateBufferRing(3, 4, 16);
        var (a, b) = Connected();
        using var _a = a;
        using var _b = b;
        Assert.Throws<ArgumentException>(() => ring.GetSqe().Recv(b.SafeHandle, foreign, 1));
        Assert.Throws<ArgumentException>(() => foreign.Data(new Completion(1, 4, 0)), "no buffer flag");
    }
}
