using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace IoUring.Interop.Wakeup;

/// <summary>Which instruction an idle <see cref="CqWordWaiter"/> waits with before it blocks in the kernel.</summary>
public enum WaitInstruction
{
    /// <summary>Bounded loop of PAUSE (X86Base.Pause) and re-checks: works everywhere, burns the core.</summary>
    Pause,
    /// <summary>UMONITOR/UMWAIT (Intel WAITPKG, CPUID.7.0:ECX[5]): sleeps in C0.2 until the line is written or a TSC
    /// deadline.</summary>
    Umwait,
    /// <summary>MONITORX/MWAITX (AMD, CPUID.80000001h:ECX[29]): same idea with a TSC-relative timer.</summary>
    Mwaitx,
}

/// <summary>
/// CPU support for user-mode monitor/wait and the tiny code stubs that execute it.
/// .NET 10 has no intrinsic for UMONITOR/UMWAIT, MONITORX/MWAITX or RDTSC (System.Runtime.Intrinsics.X86 has
/// X86Base.CpuId and X86Base.Pause only), so the instructions are emitted as machine code into one anonymous
/// page (written, then made read+execute: never writable and executable at once) and called through unmanaged
/// function pointers. Neither the build machine nor QEMU TCG has either extension, so on them the Pause path runs
/// (<see cref="Describe()"/> says so) and the stubs are checked by disassembly (a host test runs objdump over <see
/// cref="StubBytes"/>); the MWAITX stub runs for real under Bochs (`vm test --emulator bochs --suite waiter`, which
/// executes exactly <see cref="StubBytes"/>).
/// </summary>
public static unsafe partial class WaitInstructions
{
    /// <summary>CPUID.(EAX=7,ECX=0):ECX bit 5.</summary>
    public static bool HasWaitPkg => X86Base.IsSupported && MaxLeaf >= 7 && (X86Base.CpuId(7, 0).Ecx & (1 << 5)) != 0;

    /// <summary>CPUID.(EAX=80000001h):ECX bit 29 (MONITORX/MWAITX usable at CPL 3).</summary>
    public static bool HasMonitorX => X86Base.IsSupported && MaxExtendedLeaf >= 0x8000_0001u &&
        (X86Base.CpuId(unchecked((int)0x8000_0001), 0).Ecx & (1 << 29)) != 0;

    static int MaxLeaf => X86Base.CpuId(0, 0).Eax;
    static uint MaxExtendedLeaf => (uint)X86Base.CpuId(unchecked((int)0x8000_0000), 0).Eax;

    /// <summary>
    /// The instruction a waiter uses: UMWAIT, else MWAITX, else pause. <c>IOURING_WAKEUP_WAIT=pause</c> forces the
    /// pause loop (e.g. to compare), and so does a failure to map the stub page.
    /// </summary>
    public static WaitInstruction Best => Choose(HasWaitPkg, HasMonitorX, Stubs != null, ForcedPause);

    static bool ForcedPause => Environment.GetEnvironmentVariable("IOURING_WAKEUP_WAIT") == "pause";

    /// <summary>One line for logs and reports: what the CPU offers and which path runs.</summary>
    public static string Describe() => Describe(HasWaitPkg, HasMonitorX, Stubs != null, ForcedPause);

    /// <summary>
    /// <see cref="Best"/>'s decision for a CPU with these CPUID bits, whether the stub page could be mapped and
    /// whether the pause loop is forced: the same rule for this machine and for a guest that reports its CPUID bits
    /// without running .NET (the Bochs waiter suite).
    /// </summary>
    public static WaitInstruction Choose(bool hasWaitPkg, bool hasMonitorX, bool stubsMapped, bool forcedPause)
    {
        if (forcedPause) return WaitInstruction.Pause;
        if (hasWaitPkg && stubsMapped) return WaitInstruction.Umwait;
        if (hasMonitorX && stubsMapped) return WaitInstruction.Mwaitx;
        return WaitInstruction.Pause;
    }

    /// <summary><see cref="Describe()"/>'s line for the given CPUID bits and circumstances (see <see
    /// cref="Choose"/>).</summary>
    public static string Describe(bool hasWaitPkg, bool hasMonitorX, bool stubsMapped, bool forcedPause)
    {
        var best = Choose(hasWaitPkg, hasMonitorX, stubsMapped, forcedPause);
        var why = best switch
        {
            WaitInstruction.Umwait => "UMONITOR/UMWAIT on the word's cache line",
            WaitInstruction.Mwaitx => "MONITORX/MWAITX on the word's cache line",
            _ => hasWaitPkg
                || hasMonitorX ? "pause loop (forced, or the stub page could not be mapped)"
                    : "pause loop (CPU has neither WAITPKG nor MONITORX)",
        };
        return $"wait instruction: {best} — {why}; cpuid waitpkg={(hasWaitPkg ? "yes" : "no")} monitorx={(hasMonitorX ? "yes" : "no")}";
    }

    // ---- the stubs (System V x86-64 calling convention: args in rdi, rsi; result in eax) ----

    /// <summary><c>void umonitor(void* addr)</c>: arm the monitor on addr's line.</summary>
    static ReadOnlySpan<byte> UmonitorCode =>
    [
        0xF3, 0x0F, 0xAE, 0xF7,             // umonitor rdi
        0xC3,                               // ret
    ];

    /// <summary><c>int umwait(uint control, ulong tscTicks)</c>: wait until the line is written or rdtsc()+tscTicks;
    /// returns CF (1 = deadline).</summary>
    static ReadOnlySpan<byte> UmwaitCode =>
    [
        0x0F, 0x31,                         // rdtsc                 edx:eax = TSC
        0x48, 0xC1, 0xE2, 0x20,             // shl rdx, 32
        0x48, 0x09, 0xD0,                   // or  rax, rdx
        0x48, 0x01, 0xF0,                   // add rax, rsi          deadline
        0x48, 0x89, 0xC2,                   // mov rdx, rax
        0x48, 0xC1, 0xEA, 0x20,             // shr rdx, 32           edx:eax = deadline
        0xF2, 0x0F, 0xAE, 0xF7,             // umwait edi            control: 0 = C0.2, 1 = C0.1
        0x0F, 0x92, 0xC0,                   // setc al
        0x0F, 0xB6, 0xC0,                   // movzx eax, al
        0xC3,                               // ret
    ];

    /// <summary><c>void monitorx(void* addr)</c>.</summary>
    static ReadOnlySpan<byte> MonitorxCode =>
    [
        0x48, 0x89, 0xF8,                   // mov rax, rdi          address
        0x31, 0xC9,                         // xor ecx, ecx          no extensions
        0x31, 0xD2,                         // xor edx, edx          no hints
        0x0F, 0x01, 0xFA,                   // monitorx
        0xC3,                               // ret
    ];

    /// <summary><c>void mwaitx(uint tscTicks)</c>: wait for a store to the monitored line or tscTicks.</summary>
    static ReadOnlySpan<byte> MwaitxCode =>
    [
        0x53,                               // push rbx              callee-saved
        0x89, 0xFB,                         // mov ebx, edi          timer value
        0xB9, 0x02, 0x00, 0x00, 0x00,       // mov ecx, 2            enable the timer
        0x31, 0xC0,                         // xor eax, eax          hints: C1
        0x0F, 0x01, 0xFB,                   // mwaitx
        0x5B,                               // pop rbx
        0xC3,                               // ret
    ];

    /// <summary>All four stubs, each at a 32-byte aligned offset, as they are placed in the page (for the disassembly
    /// test).</summary>
    public static byte[] StubBytes
    {
        get
        {
            var page = new byte[4 * 32];
            page.AsSpan().Fill(0xCC); // int3 between the stubs: a stray jump traps, and disassembly stays aligned
            UmonitorCode.CopyTo(page.AsSpan(0));
            UmwaitCode.CopyTo(page.AsSpan(32));
            MonitorxCode.CopyTo(page.AsSpan(64));
            MwaitxCode.CopyTo(page.AsSpan(96));
            return page;
        }
    }

    internal sealed class StubTable
    {
        public delegate* unmanaged<void*, void> Umonitor;
        public delegate* unmanaged<uint, ulong, int> Umwait;
        public delegate* unmanaged<void*, void> Monitorx;
        public delegate* unmanaged<uint, void> Mwaitx;
    }

    static readonly Lazy<StubTable?> stubs = new(MapStubs);

    internal static StubTable? Stubs => stubs.Value;

    // PROT_EXEC, MAP_PRIVATE and MAP_ANONYMOUS are not in the generated LibcConstants (its selection is the
    // bindings engineer's); values from Linux's asm-generic/mman-common.h and linux/mman.h, x86-64.
    const int ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;

    [LibraryImport(NativeLibraryNames.Libc, EntryPoint = "mprotect")]
    private static partial int Mprotect(void* addr, nuint len, int prot);

    static StubTable? MapStubs()
    {
        if (!(HasWaitPkg || HasMonitorX)) return null; // nothing to run: do not map an executable page at all
        var page = Libc.mmap(null, 4096, LibcConstants.PROT_READ | LibcConstants.PROT_WRITE,
            MapPrivate | MapAnonymous, -1, 0);
        if (page == (void*)-1) return null;
        StubBytes.CopyTo(new Span<byte>(page, 4096));
        if (Mprotect(page, 4096, LibcConstants.PROT_READ | ProtExec) != 0) return null;
        var b = (byte*)page;
        return new StubTable
        {
            Umonitor = (delegate* unmanaged<void*, void>)b,
            Umwait = (delegate* unmanaged<uint, ulong, int>)(b + 32),
            Monitorx = (delegate* unmanaged<void*, void>)(b + 64),
            Mwaitx = (delegate* unmanaged<uint, void>)(b + 96),
        };
    }
}
