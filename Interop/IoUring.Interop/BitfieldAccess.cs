using System.Runtime.CompilerServices;

namespace IoUring.Interop;

/// <summary>
/// Reads and writes C bitfields at the bit positions clang reported (x86-64 SysV: little-endian,
/// allocated from the least significant bit). Used by generated bitfield properties.
/// </summary>
public static class BitfieldAccess
{
    /// <summary>The value of <paramref name="width"/> bits starting at bit <paramref name="bitStart"/> of byte
    /// <paramref name="byteOffset"/>, sign-extended when <paramref name="signed"/>.</summary>
    public static ulong Read(ref byte record, int byteOffset, int bitStart, int width, bool signed)
    {
        ulong value = 0;
        for (var i = 0; i < width; i++)
        {
            var bit = bitStart + i;
            var b = Unsafe.Add(ref record, byteOffset + bit / 8);
            value |= (ulong)((b >> (bit % 8)) & 1) << i;
        }
        if (signed && width < 64 && (value >> (width - 1) & 1) != 0)
            value |= ulong.MaxValue << width; // two's complement sign extension, as C reads a signed bitfield
        return value;
    }

    /// <summary>Stores the low <paramref name="width"/> bits of <paramref name="value"/>, leaving neighbouring bits
    /// alone.</summary>
    public static void Write(ref byte record, int byteOffset, int bitStart, int width, ulong value)
    {
        for (var i = 0; i < width; i++)
        {
            var bit = bitStart + i;
            ref var b = ref Unsafe.Add(ref record, byteOffset + bit / 8);
            var mask = (byte)(1 << (bit % 8));
            b = (value >> i & 1) != 0 ? (byte)(b | mask) : (byte)(b & ~mask);
        }
    }
}
