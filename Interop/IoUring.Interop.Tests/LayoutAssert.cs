namespace IoUring.Interop.Tests;

/// <summary>The comparison every generated expectation goes through (also exercised with wrong values by a
/// test).</summary>
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
