using Toolkit.Vm;

namespace Toolkit.Tests;

public class ConsoleAnalyzerTests
{
    static ConsoleAnalyzer.Result Analyze(string text) => ConsoleAnalyzer.Analyze(text.Replace("\r", "").Split('\n'));

    [Test]
    public void FollowsInitMarkers()
    {
        var r = Analyze("""
            [    0.000000] Linux version 6.12.117-patched
            toolkit-init: start uptime=0.91 clocksource=tsc
            toolkit-init: exec uptime=1.02 kernel=6.12.117-patched
            hello
            toolkit-init: exit 3
            """);
        Assert.That(r.InitStarted && r.CommandStarted, Is.True);
        Assert.That(r.InitReportedExit, Is.EqualTo(3));
        Assert.That(r.Clocksource, Is.EqualTo("tsc"));
        Assert.That(r.Splats, Is.Empty);
        Assert.That(r.Panic, Is.Null);
    }

    [TestCase("[   12.345678] BUG: KASAN: slab-use-after-free in io_req_task_work_add+0x1c/0x40", "KASAN")]
    [TestCase("[    3.1] WARNING: possible circular locking dependency detected", "lockdep")]
    [TestCase("[    3.1] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:283", "lockdep")]
    [TestCase("[   30.0] rcu: INFO: rcu_preempt self-detected stall on CPU", "RCU stall")]
    [TestCase("[   30.0] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "RCU stall")]
    [TestCase("[    5.0] Oops: general protection fault, probably for non-canonical address", "Oops")]
    [TestCase("[    5.0] BUG: kernel NULL pointer dereference, address: 0000000000000008", "BUG")]
    [TestCase("[    5.0] kernel BUG at io_uring/io_uring.c:1234!", "BUG")]
    [TestCase("[    5.0] WARNING: CPU: 1 PID: 77 at io_uring/msg_ring.c:88 io_msg_ring+0x1/0x2", "WARNING")]
    public void RecognisesSplats(string line, string kind)
    {
        var r = Analyze($"toolkit-init: start uptime=1 clocksource=tsc\n{line}\n[ 5.1] some context\n[ 5.2] ---[ end " +
            $"trace 0000000000000000 ]---\ntoolkit-init: exit 0");
        Assert.That(r.Splats, Has.Count.EqualTo(1));
        Assert.That(r.Splats[0].Kind, Is.EqualTo(kind));
        Assert.That(r.Splats[0].Text[0], Is.EqualTo(line));
        Assert.That(r.Splats[0].Text, Has.Some.Contains("end trace"));
    }

    [Test]
    public void CutHereIsClassifiedByTheLineThatFollows()
    {
        var r = Analyze("""
            [ 1.0] ------------[ cut here ]------------
            [ 1.0] WARNING: CPU: 0 PID: 1 at fs/x.c:1 f+0x0/0x1
            [ 1.0] Modules linked in:
            [ 1.1] ---[ end trace 0000000000000000 ]---
            [ 2.0] BUG: KASAN: use-after-free in g
            """);
        Assert.That(r.Splats.Select(s => s.Kind), Is.EqualTo(new[] { "WARNING", "KASAN" }));
    }

    [Test]
    public void OrdinaryMessagesAreNotSplats()
    {
        var r = Analyze("""
            [ 0.5] io_uring: something informational
            [ 0.6] 9pnet: Installing 9P2000 support
            a test printing 'warning: deprecated' in lower case
            toolkit-init: exit 0
            """);
        Assert.That(r.Splats, Is.Empty);
    }

    [Test]
    public void RecognisesPanic()
    {
        var r = Analyze("""
            [ 2.0] sysrq: Trigger a crash
            [ 2.0] Kernel panic - not syncing: sysrq triggered crash
            [ 2.0] Rebooting in -1 seconds..
            """);
        Assert.That(r.Panic, Is.EqualTo("sysrq triggered crash"));
    }
}
