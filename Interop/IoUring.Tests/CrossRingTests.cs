using System.Diagnostics;
using IoUring.Interop.CrossRing;

namespace IoUring.Tests;

/// <summary>
/// <see cref="CrossRingCompleter"/> on the managed ring. On kernels without IOSQE_CQE_TARGET (the host's) the relay
/// path runs; the kernel path's tests skip there and run in the patched VM (Validation's ManagedFeatureTests, where
/// a missing feature fails).
/// </summary>
public class CrossRingTests
{
    const int ECANCELED = 125, EBADF = 9, ENOENT = 2;

    /// <summary>Pumps the source until <paramref name="target"/> has a CQE (10 s at most).</summary>
    static Completion Deliver(CrossRingCompleter completer, Ring target, Action<Completion>? local = null)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            completer.Pump(local, TimeSpan.FromMilliseconds(1));
            if (target.TryGetCompletion(out var c)) return c;
        }
        throw new AssertionException("no CQE on the target in 10 s");
    }

    [Test]
    public void TheRelayPathIsChosenOnAKernelWithoutTheFeature()
    {
        using var source = Ring.Create();
        using var completer = new CrossRingCompleter(source);
        Assert.That(completer.Path, Is.EqualTo(source.Features.CqeTarget ? CrossRingPath.Kernel : CrossRingPath.Relay));
    }

    [TestCase(CrossRingPath.Relay)]
    [TestCase(CrossRingPath.Kernel)]
    public void TheTargetSeesTheUserDataAndResultTheSourceWouldHaveSeen(CrossRingPath path)
    {
        using var source = Ring.Create();
        if (path == CrossRingPath.Kernel && !source.Features.CqeTarget)
            Assert.Ignore("the kernel path needs IORING_FEAT_CQE_TARGET (the toolkit's patched kernels); this kernel " +
                "lacks it. Validation's ManagedFeatureTests run it in the VM, where its absence fails.");
        using var target = Ring.Create();
        using var completer = new CrossRingCompleter(source, path);
        completer.Prepare(source.GetSqe().Nop(0x1111, 4242), target);
        completer.Prepare(source.GetSqe().Nop(0x2222, -ENOENT), target);
        source.Submit();
        var got = new[] { Deliver(completer, target), Deliver(completer, target) };
        Assert.That(got.Select(c => (c.UserData, c.Result)),
            Is.EquivalentTo(new[] { (0x1111UL, 4242), (0x2222UL, -ENOENT) }));
        var local = new List<Completion>();
        completer.Pump(local.Add);
        Assert.That(local, Is.Empty, "nothing of the crossed requests shows on the source");
        Assert.That(completer.InFlight, Is.Zero);
    }

    [Test]
    public void LocalCompletionsReachThePumpsCallback()
    {
        using var source = Ring.Create();
        using var target = Ring.Create();
        using var completer = new CrossRingCompleter(source);
        source.GetSqe().Nop(7);
        completer.Prepare(source.GetSqe().Nop(8, 1), target);
        source.Submit();
        var local = new List<Completion>();
        var delivered = Deliver(completer, target, local.Add);
        completer.Pump(local.Add, TimeSpan.FromMilliseconds(10));
        Assert.That(delivered.UserData, Is.EqualTo(8UL));
        Assert.That(local.Select(c => c.UserData), Is.EqualTo(new[] { 7UL }));
    }

    [Test]
    public void ALostRelaySaysWhichCompletionItLost()
    {
        using var source = Ring.Create();
        var target = Ring.Create();
        using var completer = new CrossRingCompleter(source, CrossRingPath.Relay);
        var lost = new List<LostCompletion>();
        completer.RelayFailed = lost.Add;
        completer.Prepare(source.GetSqe().Nop(0xABCD, 99), target);
        var fd = target.Fd;
        source.Submit();
        target.Dispose(); // its fd is closed before the relay forwards
        var clock = Stopwatch.StartNew();
        while (lost.Count == 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
            completer.Pump(wait: TimeSpan.FromMilliseconds(5));
        Assert.That(lost, Has.Count.EqualTo(1));
        Assert.That(lost[0], Is.EqualTo(new LostCompletion(0xABCD, 99, 0, fd, EBADF)), lost[0].ToString());
    }

    [Test]
    public void ARequestThatHoldsABufferIsRefusedAndPostsNothing()
    {
        var (a, b) = Loopback.Connected();
        using var _a = a;
        using var _b = b;
        using var source = Ring.Create();
        using var target = Ring.Create();
        using var completer = new CrossRingCompleter(source);
        var e = Assert.Throws<InvalidOperationException>(() =>
            completer.Prepare(source.GetSqe().Recv(a.SafeHandle, new byte[16], 5), target));
        Assert.That(e!.Message, Does.Contain("user_data 5"));
        Assert.That(source.Holding, Is.Zero, "the refused request gave back what it held");
        source.Submit();
        Assert.That(source.TryWaitCompletion(TimeSpan.FromMilliseconds(50), out var c), Is.False, c.ToString());
    }

    [Test]
    public void AnSqeOfAnotherRingIsRefused()
    {
        using var source = Ring.Create();
        using var other = Ring.Create();
        using var completer = new CrossRingCompleter(source);
        Assert.Throws<ArgumentException>(() => completer.Prepare(other.GetSqe().Nop(1), other));
    }

    [Test]
    public void DisposeCancelsRelayedRequestsAndTheTargetLearnsIt()
    {
        using var source = Ring.Create();
        using var target = Ring.Create();
        var completer = new CrossRingCompleter(source, CrossRingPath.Relay);
        completer.Prepare(source.GetSqe().Timeout(TimeSpan.FromSeconds(30), 0x77), target);
        source.Submit();
        completer.Dispose();
        Assert.That(target.TryWaitCompletion(TimeSpan.FromSeconds(5), out var c), Is.True, "no CQE on the target");
        Assert.That((c.UserData, c.Result), Is.EqualTo((0x77UL, -ECANCELED)), c.ToString());
        Assert.Throws<ObjectDisposedException>(() => completer.Pump());
    }

    [Test]
    public void ARelayIntoAFullTargetCqOverflowsLikeALocalCompletion()
    {
        // What MSG_RING does on this kernel (6.18 and the patched 7.3): a full CQ takes the CQE into its overflow
        // list, as the kernel path does; nothing is lost, the target reaps all of it in order.
        using var source = Ring.Create();
        using var target = Ring.Create(new RingOptions { Entries = 1, CqEntries = 2 });
        using var completer = new CrossRingCompleter(source, CrossRingPath.Relay);
        var lost = new List<LostCompletion>();
        completer.RelayFailed = lost.Add;
        for (var i = 0; i < 6; i++) completer.Prepare(source.GetSqe().Nop((ulong)i + 1, i), target);
        source.Submit();
        var clock = Stopwatch.StartNew();
        while ((completer.InFlight > 0 || source.Ready > 0) && clock.Elapsed < TimeSpan.FromSeconds(10))
            completer.Pump(wait: TimeSpan.FromMilliseconds(5));
        completer.Pump(wait: TimeSpan.FromMilliseconds(20));
        var got = new List<Completion>();
        while (target.TryWaitCompletion(TimeSpan.FromMilliseconds(50), out var c)) got.Add(c);
        Assert.That(lost, Is.Empty);
        Assert.That(got.Select(c => (c.UserData, c.Result)), Is.EqualTo(Enumerable.Range(0, 6).Select(i => ((ulong)i + 1, i))));
    }
}
