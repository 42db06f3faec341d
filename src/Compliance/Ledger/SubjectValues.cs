namespace Sync.Compliance.Ledger;

/// <summary>Where a change names its subjects.</summary>
public static class SubjectValues
{
    /// <summary>The subject values a change carries for a binding, as text: the key column's value,
    /// or the row column's value in the after and the before image. What a topic must no longer hold
    /// once the subject is erased.</summary>
    public static IEnumerable<string> Of(ChangeEvent change, SubjectBinding binding)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(binding);
        return binding.Key is not null ? InKey(change, binding.Key) : In(change.After, binding).Concat(In(change.Before, binding));
    }

    /// <summary>The subject values that own the key's state after the change: the key column's value;
    /// for a row column, the after image of an upsert, or the before image of a delete (the row that
    /// was deleted). A tombstone or a truncate names no owner.</summary>
    public static IEnumerable<string> Owning(ChangeEvent change, SubjectBinding binding)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(binding);
        return binding.Key is not null ? InKey(change, binding.Key)
            : IsUpsert(change) ? In(change.After, binding)
            : change.Op == ChangeOp.Delete ? In(change.Before, binding)
            : [];
    }

    /// <summary>The row column's value in an image (nothing for a <c>key:</c> binding or no image).</summary>
    public static IEnumerable<string> In(Row? image, SubjectBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (binding.Field is { } field && image is not null && image.TryGet(field, out var value) && !value.IsUnavailable && value.ToText() is { } text)
        {
            yield return text;
        }
    }

    /// <summary>Create, update or snapshot read: the change leaves the row present with its after image.</summary>
    public static bool IsUpsert(ChangeEvent change) => change.Op is ChangeOp.Create or ChangeOp.Update or ChangeOp.Read;

    private static IEnumerable<string> InKey(ChangeEvent change, string keyColumn)
    {
        if (change.Key.TryGet(keyColumn, out var key) && key.ToText() is { } text)
        {
            yield return text;
        }
    }
}
