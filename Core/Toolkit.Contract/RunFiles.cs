namespace Toolkit.Contract;

/// <summary>The results files the guest writes into the run directory (KTAP), named once for both sides.</summary>
public static class RunFiles
{
    /// <summary>The in-guest harness's own results (C tests, harness-level failures).</summary>
    public const string GuestResults = "guest.ktap";
    /// <summary>The Validation runner's results, next to the harness's.</summary>
    public const string ValidationResults = "validation.ktap";
}
