using Sync.Engine.Changes;

namespace Sync.Engine.Runtime;

/// <summary>Collapses a batch to the newest change per key. A later change of a key replaces an
/// earlier one unless it is older by version (a redelivered or replayed event), so a delete after
/// an upsert of the same key in one batch is a delete, and an upsert after a delete is an upsert.
/// A truncate splits the batch: changes before it stay before it.</summary>
public static class Collapser
{
    public static List<ChangeEvent> Collapse(IReadOnlyList<ChangeEvent> changes)
    {
        var result = new List<ChangeEvent>(changes.Count);
        var segment = new Dictionary<string, int>(StringComparer.Ordinal);
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
                    result[index] = change.Source?.Lsn is null && current.Source?.Lsn is { } lsn ? change.WithInheritedLsn(lsn) : change;
                }
            }
            else
            {
                segment[change.KeyText] = result.Count;
                result.Add(change);
            }
        }

        return result;
    }
}
