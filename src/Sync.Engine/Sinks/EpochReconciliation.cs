namespace Sync.Engine.Sinks;

/// <summary>For sinks that reconcile a new source epoch (<see cref="ISink.ReconcileEpochAsync"/>) by
/// sending deletes through their own never-regress path: the delete of a stored key, at order
/// <c>epochStart</c> of its stream.</summary>
public static class EpochReconciliation
{
    /// <summary>The delete of the key whose canonical JSON (<see cref="Row.ToJson"/>) is
    /// <paramref name="keyText"/>: newer than any state of the key below the epoch's start, older than
    /// every change of the epoch (its first lies 2^30 above the start: SourceEpochs.Begin).</summary>
    public static ChangeEvent DeleteOf(string keyText, string stream, StreamPosition position, long epochStart)
    {
        using var document = JsonDocument.Parse(keyText);
        var names = new List<string>();
        var values = new List<FieldValue>();
        foreach (var column in document.RootElement.EnumerateObject())
        {
            names.Add(column.Name);
            values.Add(column.Value.ValueKind switch
            {
                JsonValueKind.Number when column.Value.TryGetInt64(out var n) => FieldValue.FromInt64(n),
                JsonValueKind.Number => FieldValue.FromDecimalText(column.Value.GetRawText()),
                JsonValueKind.String => FieldValue.FromString(column.Value.GetString()!),
                JsonValueKind.True => FieldValue.FromBoolean(true),
                JsonValueKind.False => FieldValue.FromBoolean(false),
                JsonValueKind.Null => FieldValue.Null,
                _ => FieldValue.FromJson(column.Value.GetRawText()),
            });
        }

        return new ChangeEvent
        {
            Op = ChangeOp.Delete,
            Key = new Row([.. names], [.. values]),
            Source = new SourceInfo { Lsn = epochStart },
            Origin = new Origin { Topic = stream, Position = position },
        };
    }
}
