namespace Sync.Engine.Runtime;

/// <summary>Collapses a batch to the newest change per key. A later change of a key replaces an
/// earlier one unless it is older by version (a redelivered or replayed event), so a delete after
/// an upsert of the same key in one batch is a delete, and an upsert after a delete is an upsert.
/// A truncate splits the batch: changes before it stay before it.</summary>
/// <remarks>Unavailable columns (<see cref="FieldValue.Unavailable"/>, an unchanged TOASTed value the
/// source did not send) of a newer upsert take the value of the change it replaces: an earlier upsert's
/// value survives; after an earlier delete, where the sink will hold no row to keep a value from, the
/// column becomes null and the change counts in <see cref="Result.UnavailableNulled"/>.</remarks>
public static class Collapser
{
    /// <summary>The collapsed changes, and how many of them had an unavailable column set to null
    /// because an earlier delete of their key in the batch left no stored value to keep.</summary>
    public readonly record struct Result(List<ChangeEvent> Changes, int UnavailableNulled);

    public static List<ChangeEvent> Collapse(IReadOnlyList<ChangeEvent> changes) => CollapseCounting(changes).Changes;

    // Reused by each thread from batch to batch: a key index sized for a batch of thousands is a
    // large-object-heap allocation, and one per batch showed in the allocation profile.
    [ThreadStatic]
    private static Dictionary<string, int>? t_segment;

    [ThreadStatic]
    private static HashSet<int>? t_nulled;

    public static Result CollapseCounting(IReadOnlyList<ChangeEvent> changes)
    {
        var result = new List<ChangeEvent>(changes.Count);
        var segment = t_segment ??= new Dictionary<string, int>(StringComparer.Ordinal);
        var nulled = t_nulled ??= [];
        segment.Clear();
        nulled.Clear();
        segment.EnsureCapacity(changes.Count);
        foreach (var change in changes)
        {
            if (change.Op == ChangeOp.Truncate)
            {
                segment.Clear();
                result.Add(change);
                continue;
            }

            if (segment.TryGetValue(change.KeyText, out var index))
            {
                var current = result[index];
                if (change.Version.Supersedes(current.Version))
                {
                    // As a sink does: a change without an LSN keeps the LSN known for its key.
                    var next = change.Source?.Lsn is null && current.Source?.Lsn is { } lsn ? change.WithInheritedLsn(lsn) : change;
                    var merged = FillUnavailable(next, current, out var nulledNow);
                    result[index] = merged;
                    if (nulledNow)
                    {
                        nulled.Add(index);
                    }
                    else if (next.IsDelete || !HasUnavailable(next.After))
                    {
                        // A later change that sends every column (or deletes) leaves nothing nulled;
                        // one that inherits the nulled columns keeps the count.
                        nulled.Remove(index);
                    }
                }
            }
            else
            {
                segment[change.KeyText] = result.Count;
                result.Add(change);
            }
        }

        var nulledCount = nulled.Count;
        segment.Clear();
        nulled.Clear();
        return new Result(result, nulledCount);
    }

    /// <summary><paramref name="next"/> with each unavailable column of its after image taken from
    /// <paramref name="replaced"/>: its value when that was an upsert holding one, null when it was a
    /// delete (<paramref name="nulled"/> true then).</summary>
    private static ChangeEvent FillUnavailable(ChangeEvent next, ChangeEvent replaced, out bool nulled)
    {
        nulled = false;
        if (next.IsDelete || next.After is not { } after || !HasUnavailable(after))
        {
            return next;
        }

        var values = (FieldValue[])after.Values.Clone();
        var earlier = replaced.IsDelete ? null : replaced.After;
        var changed = false;
        for (var i = 0; i < values.Length; i++)
        {
            if (!values[i].IsUnavailable)
            {
                continue;
            }

            if (replaced.IsDelete)
            {
                values[i] = FieldValue.Null;
                nulled = true;
                changed = true;
            }
            else if (earlier is not null && earlier.TryGet(after.Names[i], out var value) && !value.IsUnavailable)
            {
                values[i] = value;
                changed = true;
            }
        }

        if (!changed)
        {
            return next;
        }

        return new ChangeEvent
        {
            Op = next.Op,
            Key = next.Key,
            Before = next.Before,
            After = new Row(after.Names, values, after.Schema),
            Source = next.Source,
            Origin = next.Origin,
            TsMs = next.TsMs,
        };
    }

    private static bool HasUnavailable(Row? row)
    {
        if (row is null)
        {
            return false;
        }

        foreach (var value in row.Values)
        {
            if (value.IsUnavailable)
            {
                return true;
            }
        }

        return false;
    }
}
