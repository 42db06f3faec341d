namespace Sync.Cli.Output;

/// <summary>What <c>sync verify</c> and <c>sync ledger verify</c> share: how a place that cannot be
/// read is reported.</summary>
internal static class VerificationReport
{
    /// <summary>Whether <paramref name="e"/> is a place that could not be read (exit 1), not the
    /// process running out of memory or being cancelled.</summary>
    public static bool IsReadFailure(Exception e) => e is not OutOfMemoryException and not OperationCanceledException;

    public static async Task<int> FailedAsync(TextWriter error, Exception e)
    {
        await error.WriteLineAsync($"error: the verification failed: {e.Message}");
        return ExitCodes.Failure;
    }
}
