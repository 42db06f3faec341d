namespace Sync.Engine.Verify;

/// <summary>What the comparison of one key found.</summary>
internal enum KeyVerdict
{
    Clean,

    /// <summary>Drift, of <see cref="DriftFinding.Class"/>.</summary>
    Drift,

    /// <summary>One side's version is past the checkpoint pinned at the start: the key changed while the
    /// verification ran (or is not applied yet), so it is re-checked rather than called drift.</summary>
    Pending,
}

/// <summary>The class of a drifted key, and whether it is residue of an erased subject.</summary>
internal readonly record struct DriftFinding(KeyVerdict Verdict, DriftClass Class = DriftClass.Missing, bool Residue = false)
{
    public static DriftFinding Clean { get; } = new(KeyVerdict.Clean);

    public static DriftFinding Pending { get; } = new(KeyVerdict.Pending);

    public static DriftFinding Of(DriftClass drift, bool residue = false) => new(KeyVerdict.Drift, drift, residue);
}

/// <summary>Classifies one key: the log's latest change of it (null: the log holds nothing of the key,
/// a delete compacted away included) against what the sink holds (null: nothing, not even a marker).</summary>
internal static class DriftClassifier
{
    public static DriftFinding Classify(VerifyEntry? log, VerifyEntry? stored, IReadOnlyDictionary<string, StreamPosition> pinned)
    {
        var sinkRow = stored is { State: EntryState.Row };
        if (log is { State: EntryState.Suppressed })
        {
            return sinkRow ? DriftFinding.Of(DriftClass.Extra, residue: true) : DriftFinding.Clean;
        }

        var logRow = log is { State: EntryState.Row };
        if (!logRow && !sinkRow)
        {
            // A delete marker newer than the log's delete holds the same state: absent.
            return DriftFinding.Clean;
        }

        var finding = Compare(log, stored, logRow, sinkRow);
        return finding.Verdict == KeyVerdict.Drift && (IsPending(log?.Version, pinned) || IsPending(stored?.Version, pinned))
            ? DriftFinding.Pending
            : finding;
    }

    private static DriftFinding Compare(VerifyEntry? log, VerifyEntry? stored, bool logRow, bool sinkRow)
    {
        var order = log?.Version is { } logVersion && stored?.Version is { } storedVersion
            ? logVersion.CompareTo(storedVersion)
            : VersionOrder.Unknown;
        if (logRow && !sinkRow)
        {
            if (stored is { State: EntryState.Absent, Version.Lsn: long.MaxValue })
            {
                // An erasure marker: the ledger erased the key after the change the log still holds.
                return DriftFinding.Clean;
            }

            return order == VersionOrder.Older ? DriftFinding.Of(DriftClass.Ahead) : DriftFinding.Of(DriftClass.Missing);
        }

        if (!logRow)
        {
            return log is not null && order == VersionOrder.Older ? DriftFinding.Of(DriftClass.Ahead) : DriftFinding.Of(DriftClass.Extra);
        }

        return order switch
        {
            VersionOrder.Newer => DriftFinding.Of(DriftClass.Stale),
            VersionOrder.Older => DriftFinding.Of(DriftClass.Ahead),
            _ => SameValues(log!.Image!, stored!.Image!) ? DriftFinding.Clean : DriftFinding.Of(DriftClass.Different),
        };
    }

    /// <summary>Every column of the log's row holds the same value in the sink's row (columns the sink
    /// keeps beside them are not the log's to judge).</summary>
    internal static bool SameValues(Row log, Row stored)
    {
        for (var i = 0; i < log.Count; i++)
        {
            var value = log.Values[i];
            var index = stored.IndexOf(log.Names[i]);
            if (index < 0)
            {
                index = Array.FindIndex(stored.Names, n => string.Equals(n, log.Names[i], StringComparison.OrdinalIgnoreCase));
            }

            if (index < 0 ? !(value.IsNull || value.IsUnavailable) : !ValueEquality.Same(value, stored.Values[index]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPending(ChangeVersion? version, IReadOnlyDictionary<string, StreamPosition> pinned) =>
        version is { } v && pinned.TryGetValue(v.Stream, out var position) && v.Position > position;
}
