namespace Sync.Engine.Verify;

/// <summary>The last <c>sync verify</c> of a materializer, stored in its sink next to its checkpoint so
/// that <c>sync status</c> and the metrics of <c>sync run</c> can tell when it ran and what it found.
/// Entries <see cref="Entry"/> (ledger = end time in Unix seconds, entry = keys compared) and
/// <see cref="DriftPrefix"/> + class (ledger = drifted keys of that class), and the secret of the sample
/// hashes when the verification generated it (<see cref="SampleKey"/>). Only the verify command
/// writes them, and they are no stream's position (<see cref="IsEntry"/>), as the epoch bump's
/// declarations are not (<see cref="Runtime.SourceEpochs.BumpPrefix"/>).</summary>
public sealed record LastVerification(DateTimeOffset At, long Keys, IReadOnlyDictionary<DriftClass, long> Drift)
{
    public const string Entry = "#verify";

    public const string DriftPrefix = "#verify-drift/";

    public long DriftCount => Drift.Values.Sum();

    /// <summary>Whether a checkpoint entry records a verification rather than a stream's position.</summary>
    public static bool IsEntry(string name) =>
        name == Entry || name.StartsWith(DriftPrefix, StringComparison.Ordinal) || SampleKey.IsEntry(name);

    /// <summary>The checkpoint entries recording <paramref name="result"/> (after a repair: what the
    /// verification after it found).</summary>
    public static IReadOnlyDictionary<string, StreamPosition> EntriesOf(VerificationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var last = result.AfterRepair ?? result;
        var entries = new Dictionary<string, StreamPosition>(StringComparer.Ordinal)
        {
            [Entry] = new(last.At.ToUnixTimeSeconds(), last.Keys, 0),
        };
        foreach (var drift in DriftClasses.All)
        {
            entries[DriftPrefix + drift.Name()] = new(last.Drift.GetValueOrDefault(drift), 0, 0);
        }

        foreach (var (name, word) in result.SampleKey?.Entries() ?? new Dictionary<string, StreamPosition>())
        {
            entries[name] = word;
        }

        return entries;
    }

    /// <summary>The verification recorded in a checkpoint, or null when none was.</summary>
    public static LastVerification? FromCheckpoint(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (!checkpoint.TryGetValue(Entry, out var entry))
        {
            return null;
        }

        var drift = DriftClasses.All.ToDictionary(d => d, d => checkpoint.TryGetValue(DriftPrefix + d.Name(), out var count) ? count.Ledger : 0);
        return new LastVerification(DateTimeOffset.FromUnixTimeSeconds(entry.Ledger), entry.Entry, drift);
    }

    /// <summary>The line <c>sync status</c> shows for it.</summary>
    public static string Describe(LastVerification? last) => last is null
        ? "never verified"
        : string.Create(CultureInfo.InvariantCulture, $"last verified {last.At:yyyy-MM-ddTHH:mm:ssZ}: {last.Keys} keys, {last.DriftCount} drift")
            + (last.DriftCount == 0 ? string.Empty : " (" + string.Join(", ", DriftClasses.All.Where(d => last.Drift[d] > 0).Select(d => string.Create(CultureInfo.InvariantCulture, $"{last.Drift[d]} {d.Name()}"))) + ")");
}
