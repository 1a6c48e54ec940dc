namespace IoUring.Interop.Tests;

/// <summary>Every generated expectation (clang's numbers) against the C# types.</summary>
public sealed class LayoutTests
{
    static IEnumerable<TestCaseData> Records() => LayoutExpectations.Records.Select(e =>
        new TestCaseData(e).SetArgDisplayNames(e.Name));
    static IEnumerable<TestCaseData> Fields() => LayoutExpectations.Fields.Select(e =>
        new TestCaseData(e).SetArgDisplayNames($"{e.Record}.{e.Field}"));
    static IEnumerable<TestCaseData> Enums() => LayoutExpectations.Enums.Select(e =>
        new TestCaseData(e).SetArgDisplayNames(e.Name));
    static IEnumerable<TestCaseData> Constants() => LayoutExpectations.Constants.Select(e =>
        new TestCaseData(e).SetArgDisplayNames(e.Name));

    [TestCaseSource(nameof(Records))] public void RecordSizeAndAlignment(RecordExpectation e) => LayoutAssert.Record(e);
    [TestCaseSource(nameof(Fields))] public void FieldOffsetAndSize(FieldExpectation e) => LayoutAssert.Field(e);
    [TestCaseSource(nameof(Enums))] public void EnumWidth(EnumExpectation e) => LayoutAssert.Enum(e);
    [TestCaseSource(nameof(Constants))]
    public void ConstantValueAndWidth(ConstantExpectation e) =>
        LayoutAssert.Constant(e);

    [Test]
    public void TablesCoverTheCoreTypes()
    {
        var names = LayoutExpectations.Records.Select(r => r.Name).ToHashSet();
        Assert.That(names, Is.SupersetOf(new[] { "io_uring_sqe", "io_uring_cqe", "io_uring_params", "io_uring",
            "io_uring_sq", "io_uring_cq", "io_uring_buf_ring" }));
        Assert.That(LayoutExpectations.Fields.Any(f => f.Record == "io_uring_sqe" && f.Field == "addr3"),
            "fields of anonymous members are listed");
        Assert.That(LayoutExpectations.Constants.Select(c => c.Name),
            Does.Contain("IORING_SETUP_SQPOLL").And.Contain("IORING_OP_NOP").And.Contain("IORING_FEAT_NODROP"));
    }

    /// <summary>Test of the test: a deliberately wrong offset, size, alignment or value must fail the same
    /// comparison.</summary>
    [Test]
    public void ComparisonRejectsWrongValues()
    {
        var field = LayoutExpectations.Fields.First(f => f.Record == "io_uring_sqe" && f.Field == "user_data");
        Assert.DoesNotThrow(() => LayoutAssert.Field(field));
        Assert.Throws<AssertionException>(() => LayoutAssert.Field(field with { Offset = field.Offset + 1 }));
        Assert.Throws<AssertionException>(() => LayoutAssert.Field(field with { Size = field.Size * 2 }));
        var record = LayoutExpectations.Records.First(r => r.Name == "io_uring_cqe");
        Assert.Throws<AssertionException>(() => LayoutAssert.Record(record with { Size = record.Size + 8 }));
        Assert.Throws<AssertionException>(() => LayoutAssert.Record(record with { Align = 4 }));
        var constant = LayoutExpectations.Constants.First(c => c.Name == "IORING_SETUP_SQPOLL");
        Assert.Throws<AssertionException>(() => LayoutAssert.Constant(constant with { Raw = constant.Raw + 1 }));
        Assert.Throws<AssertionException>(() => LayoutAssert.Constant(constant with { Size = 8 }));
    }
}
