using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IoUring.Interop.Tests;

/// <summary>Measures the C# side of the layout: alignment, field sizes, constant values and widths.</summary>
public static class LayoutProbe
{
    [StructLayout(LayoutKind.Sequential)]
    struct AlignProbe<T> where T : unmanaged
    {
        public byte Pad;
        public T Value;
    }

    /// <summary>Alignment as the runtime places T after a byte: the same definition as C's _Alignof.</summary>
    public static unsafe long AlignOf<T>() where T : unmanaged
    {
        AlignProbe<T> p = default;
        return (byte*)&p.Value - (byte*)&p;
    }

    public static long SizeOfField<T>(ref T field) => Unsafe.SizeOf<T>();

    /// <summary>Index of the lowest set bit in the record's bytes (little-endian bit numbering), -1 if none.</summary>
    public static unsafe long FirstSetBit(void* record, int size)
    {
        for (var i = 0; i < size * 8; i++)
            if ((((byte*)record)[i / 8] >> (i % 8) & 1) != 0) return i;
        return -1;
    }

    public static unsafe long SetBitCount(void* record, int size)
    {
        long count = 0;
        for (var i = 0; i < size; i++) count += BitOperations.PopCount(((byte*)record)[i]);
        return count;
    }

    public static bool IsSigned<T>() where T : unmanaged, Enum => IsSignedUnderlying(typeof(T));

    static bool IsSignedUnderlying(Type enumType) =>
        Type.GetTypeCode(Enum.GetUnderlyingType(
            enumType)) is TypeCode.SByte or TypeCode.Int16 or TypeCode.Int32 or TypeCode.Int64;

    /// <summary>A constant as C's probe printed it: converted to unsigned long long (sign-extended), plus its width and
    /// signedness.</summary>
    public static (ulong Raw, int Size, bool Signed) Constant<T>(T value) where T : unmanaged, IBinaryInteger<T>
    {
        var signed = T.IsNegative(T.Zero - T.One);
        var raw = signed ? unchecked((ulong)long.CreateTruncating(value)) : ulong.CreateTruncating(value);
        return (raw, Unsafe.SizeOf<T>(), signed);
    }
}

public sealed record RecordExpectation(string Name, long Size, long Align, Func<int> ActualSize,
    Func<long> ActualAlign);
public sealed record FieldExpectation(string Record, string Field, long Offset, long Size, Func<long> ActualOffset,
    Func<long> ActualSize);
public sealed record EnumExpectation(string Name, int Size, bool Signed, Func<int> ActualSize, Func<bool> ActualSigned);
public sealed record ConstantExpectation(string Name, ulong Raw, int Size, bool Signed,
    Func<(ulong Raw, int Size, bool Signed)> Actual);

