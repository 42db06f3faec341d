namespace Sync.Cli.Tests;

/// <summary>Reads the summary table a <c>sync run</c> or <c>backfill</c> prints when it ends.</summary>
internal static class RunSummary
{
    /// <summary>The suppressed column of the row of <paramref name="target"/> (e.g. <c>pg/users</c>).</summary>
    public static long Suppressed(string output, string target)
    {
        var row = output.Split('\n').SkipWhile(line => !line.Contains("summary", StringComparison.Ordinal))
            .FirstOrDefault(line => line.Contains(target, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"no summary row for {target}:\n{output}");
        // materializer, target, read, applied, deleted, stale, collapsed, suppressed, ...
        return long.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], CultureInfo.InvariantCulture);
    }
}
