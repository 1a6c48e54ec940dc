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

    public static bool IsSigned<T>() where T : unmanaged, Enum => IsSignedUnderlying(typeof(T));

    static bool IsSignedUnderlying(Type enumType) => Type.GetTypeCode(Enum.GetUnderlyingType(enumType)) is TypeCode.SByte or TypeCode.Int16 or TypeCode.Int32 or TypeCode.Int64;

    /// <summary>A constant as C's probe printed it: converted to unsigned long long (sign-extended), plus its width and signedness.</summary>
    public static (ulong Raw, int Size, bool Signed) Constant<T>(T value) where T : unmanaged, IBinaryInteger<T>
    {
        var signed = T.IsNegative(T.Zero - T.One);
        var raw = signed ? unchecked((ulong)long.CreateTruncating(value)) : ulong.CreateTruncating(value);
        return (raw, Unsafe.SizeOf<T>(), signed);
    }
}

public sealed record RecordExpectation(string Name, long Size, long Align, Func<int> ActualSize, Func<long> ActualAlign);
public sealed record FieldExpectation(string Record, string Field, long Offset, long Size, Func<long> ActualOffset, Func<long> ActualSize);
public sealed record EnumExpectation(string Name, int Size, bool Signed, Func<int> ActualSize, Func<bool> ActualSigned);
public sealed record ConstantExpectation(string Name, ulong Raw, int Size, bool Signed, Func<(ulong Raw, int Size, bool Signed)> Actual);

/// <summary>The comparison every generated expectation goes through (also exercised with wrong values by a test).</summary>
public static class LayoutAssert
{
    public static void Record(RecordExpectation e)
    {
        Assert.That(e.ActualSize(), Is.EqualTo(e.Size), $"sizeof {e.Name}");
        Assert.That(e.ActualAlign(), Is.EqualTo(e.Align), $"alignment of {e.Name}");
    }

    public static void Field(FieldExpectation e)
    {
        Assert.That(e.ActualOffset(), Is.EqualTo(e.Offset), $"offset of {e.Record}.{e.Field}");
        Assert.That(e.ActualSize(), Is.EqualTo(e.Size), $"size of {e.Record}.{e.Field}");
    }

    public static void Enum(EnumExpectation e)
    {
        Assert.That(e.ActualSize(), Is.EqualTo(e.Size), $"sizeof enum {e.Name}");
        Assert.That(e.ActualSigned(), Is.EqualTo(e.Signed), $"signedness of enum {e.Name}");
    }

    public static void Constant(ConstantExpectation e)
    {
        var (raw, size, signed) = e.Actual();
        Assert.That(raw, Is.EqualTo(e.Raw), $"value of {e.Name}");
        Assert.That(size, Is.EqualTo(e.Size), $"width of {e.Name}");
        Assert.That(signed, Is.EqualTo(e.Signed), $"signedness of {e.Name}");
    }
}
