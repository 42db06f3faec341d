namespace Sync.Cli.Output;

/// <summary>What <c>sync verify</c> and <c>sync ledger verify</c> share: how a place that cannot be
/// read is reported, and how the result is printed (JSON or text).</summary>
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

    public static async Task WriteAsync(TextWriter output, bool json, Func<string> toJson, Action<TextWriter> writeText)
    {
        if (json)
        {
            await output.WriteLineAsync(toJson());
        }
        else
        {
            writeText(output);
        }
    }
}
