namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="SinkEraseStep"/>.</summary>
public sealed record SinkEraseInput(ErasureScope Scope, ErasurePlan Plan);

/// <summary>Output of <see cref="SinkEraseStep"/>, per materializer.</summary>
/// <param name="Deleted">Rows deleted.</param>
/// <param name="ErasureMarkers">Erasure markers written for the tombstoned keys.</param>
/// <param name="Unmarkable">Materializers whose sink cannot write erasure markers, with the sink's reason.</param>
/// <param name="CannotMatch">Notes, by key hash, for keys no row of a target can hold.</param>
public sealed record SinkErasure(
    IReadOnlyDictionary<string, long> Deleted,
    IReadOnlyDictionary<string, long> ErasureMarkers,
    IReadOnlyDictionary<string, string?> Unmarkable,
    IReadOnlyList<string> CannotMatch);

/// <summary>Deletes the subjects' rows from every sink target, turns the delete markers of the
/// tombstoned keys into erasure markers, and notes the keys that no row of a target can hold.</summary>
public sealed class SinkEraseStep : IErasureStep<SinkEraseInput, SinkErasure>
{
    public async Task<SinkErasure> RunAsync(SinkEraseInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        // A key the plan found nowhere gets no erasure marker: nothing of it is there to keep out,
        // the ledger suppresses its changes, and a marker would outlive a revocation of a mistyped key.
        var found = input.Plan.KeysFound;
        var keys = scope.Keys.Where(found.Contains).ToList();
        // The subject's tables in one consistency group are erased together, in one sink transaction,
        // so that a reader never sees the subject gone from one of them and still in another.
        var groups = scope.Bindings.GroupBy(b => scope.Config.ConsistencyGroupOf(b.Materializer))
            .Where(g => g.Key is not null && g.Count() > 1)
            .Select(g => g.ToList())
            .ToList();
        var grouped = groups.SelectMany(g => g).Select(b => b.Materializer).ToHashSet(StringComparer.Ordinal);
        var erase = !scope.DryRun && keys.Count > 0;
        var deleted = await scope.PerSinkAsync(bound => !erase || grouped.Contains(bound.Materializer) ? Task.FromResult(0L) : EraseAsync(scope.SinkOf(bound), bound, keys, cancellationToken));
        foreach (var members in groups.Where(_ => erase))
        {
            var counts = await EraseTogetherAsync(scope.SinkOf(members[0]), members, keys, cancellationToken);
            for (var i = 0; i < members.Count; i++)
            {
                deleted[members[i].Materializer] = counts[i];
            }
        }

        var unmarkable = new Dictionary<string, string?>(StringComparer.Ordinal);
        var marked = await scope.PerSinkAsync(async bound =>
        {
            var planned = input.Plan.TombstonedRows[bound.Materializer];
            if (scope.DryRun || planned.Count == 0)
            {
                return 0L;
            }

            var outcome = await scope.SinkOf(bound).MarkErasedManyAsync(bound.Target, [.. planned.Values], cancellationToken);
            if (!outcome.Supported)
            {
                lock (unmarkable)
                {
                    unmarkable[bound.Materializer] = outcome.Reason;
                }
            }

            return outcome.Written;
        });

        // A key that no row of a target can hold (text where the subject column is a number): it
        // counted 0 and did not stop the others; the report says so, by the key's hash.
        var cannotMatch = new List<string>();
        await scope.PerSinkAsync(async bound =>
        {
            var offset = 0;
            foreach (var matches in SubjectRows.MatchesFor(bound.Binding, scope.Keys))
            {
                var reasons = await scope.SinkOf(bound).CannotMatchAsync(bound.Target, matches, cancellationToken);
                for (var i = 0; i < reasons.Count; i++)
                {
                    if (reasons[i] is { } reason)
                    {
                        lock (cannotMatch)
                        {
                            cannotMatch.Add($"sink target of {bound.Materializer}: key {scope.Hashes[scope.Keys[offset + i]]} {reason} in column {matches.Column}: no row can hold it there, so none was erased for it");
                        }
                    }
                }

                offset += matches.Values.Count;
            }

            return 0L;
        });

        return new SinkErasure(deleted, marked, unmarkable, cannotMatch);
    }

    private static async Task<long> EraseAsync(ISink sink, BoundMaterializer bound, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        long count = 0;
        foreach (var matches in SubjectRows.MatchesFor(bound.Binding, keys))
        {
            count += (await sink.EraseManyAsync(bound.Target, matches, cancellationToken)).Sum();
        }

        return count;
    }

    /// <summary>Erases the keys from the members' targets (one sink: a group has one), each chunk of keys
    /// from every target in one sink transaction. Rows removed per member, in order.</summary>
    private static async Task<long[]> EraseTogetherAsync(ISink sink, IReadOnlyList<BoundMaterializer> members, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var counts = new long[members.Count];
        // Every member's matches are chunked alike (by key), so chunk c of each names the same keys.
        var chunks = members.Select(m => SubjectRows.MatchesFor(m.Binding, keys).ToList()).ToList();
        for (var c = 0; c < chunks[0].Count; c++)
        {
            var erased = await sink.EraseTogetherAsync([.. members.Select((m, i) => (m.Target, chunks[i][c]))], cancellationToken);
            for (var i = 0; i < members.Count; i++)
            {
                counts[i] += erased[i].Sum();
            }
        }

        return counts;
    }
}
