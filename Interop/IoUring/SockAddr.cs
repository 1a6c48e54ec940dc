using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace IoUring;

/// <summary>An <see cref="IPEndPoint"/> as Linux's struct sockaddr_in / sockaddr_in6, in native memory.</summary>
static unsafe class SockAddr
{
    const ushort AfInet = 2, AfInet6 = 10;
    const int InSize = 16, In6Size = 28;

    /// <summary>A NativeMemory block holding the address (free it with NativeMemory.Free) and its length.</summary>
    public static (nint Address, int Length) Alloc(IPEndPoint endPoint)
    {
        var v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        if (!v6 && endPoint.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{endPoint.AddressFamily} is not an IP address family", nameof(endPoint));
        var length = v6 ? In6Size : InSize;
        var p = (byte*)NativeMemory.AllocZeroed((nuint)length);
        var span = new Span<byte>(p, length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, v6 ? AfInet6 : AfInet);
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)endPoint.Port);
        if (v6)
        {
            endPoint.Address.TryWriteBytes(span[8..24], out _);
            BinaryPrimitives.WriteUInt32LittleEndian(span[24..], (uint)endPoint.Address.ScopeId);
        }
        else
        {
            endPoint.Address.TryWriteBytes(span[4..8], out _);
        }
        return ((nint)p, length);
    }
}
