namespace Sync.Compliance.Ledger;

/// <summary>Suppresses the changes of erased subjects in one materializer: each change's subject
/// values (the key column or the row column each subject is bound to) are hashed and looked up in
/// a snapshot of the ledger. The snapshot is reloaded as soon as the ledger's files change (looked
/// at every <see cref="ChangeCheckInterval"/>), so that a change read after an erase recorded its
/// subject is suppressed even when its row was already deleted and the sink holds no erasure
/// marker for it; and at the latest every <see cref="ErasureOptions.RefreshInterval"/>.</summary>
public sealed class LedgerSuppressionFilter : ISuppressionFilter
{
    private readonly string _ledgerPath;
    private readonly SubjectHasher _hasher;
    private readonly (string Subject, SubjectBinding Binding)[] _bindings;
    private readonly TimeSpan _refresh;
    private readonly TimeProvider _time;
    private HashSet<(string Subject, string KeyHash)> _suppressed = [];
    private DateTimeOffset _loadedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;
    private (DateTime, long, DateTime, long) _files;

    /// <summary>How often the ledger's files are looked at for a change (two file stats).</summary>
    public static TimeSpan ChangeCheckInterval { get; } = TimeSpan.FromMilliseconds(20);

    public LedgerSuppressionFilter(string ledgerPath, SubjectHasher hasher, IEnumerable<(string Subject, SubjectBinding Binding)> bindings, TimeSpan refresh, TimeProvider? time = null)
    {
        _ledgerPath = ledgerPath;
        _hasher = hasher;
        _bindings = bindings.ToArray();
        _refresh = refresh;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The filter for a materializer of the config: nothing to check when it carries no subject.</summary>
    public static ISuppressionFilter For(SyncConfig config, string materializer, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var bindings = config.SubjectsOf(materializer).ToList();
        return bindings.Count == 0 || config.Erasure.Secret is not { } secret
            ? NoSuppression.Instance
            : new LedgerSuppressionFilter(config.LedgerPath, new SubjectHasher(secret), bindings, config.Erasure.RefreshInterval, time);
    }

    /// <summary>A subject bound by <c>key:</c>: every change of its key is dropped. A subject bound by
    /// <c>field:</c>: an upsert is suppressed when its after image names an erased subject, the row
    /// being that subject's from then on; a delete never is (applying it cannot bring a subject back,
    /// dropping it could leave a stale row). A suppressed upsert becomes a delete of its key
    /// (<see cref="SuppressionDecision.DeleteInstead"/>) unless it is a create, or its before image
    /// names an erased subject: the row changed owner to the erased subject, and its previous owner's
    /// values must not linger. A before image that is absent (PostgreSQL's default replica identity
    /// writes none for an update) cannot tell the previous owner, and a delete is harmless either way.</summary>
    public SuppressionDecision Decide(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Refresh();
        if (_suppressed.Count == 0)
        {
            return SuppressionDecision.Keep;
        }

        var decision = SuppressionDecision.Keep;
        foreach (var (subject, binding) in _bindings)
        {
            if (binding.Key is not null)
            {
                if (AnyErased(subject, SubjectValues.Of(change, binding)))
                {
                    return SuppressionDecision.Drop;
                }

                continue;
            }

            if (!SubjectValues.IsUpsert(change) || !AnyErased(subject, SubjectValues.In(change.After, binding)))
            {
                continue;
            }

            if (change.Op != ChangeOp.Create && !AnyErased(subject, SubjectValues.In(change.Before, binding)))
            {
                decision = SuppressionDecision.DeleteInstead;
            }
            else if (decision == SuppressionDecision.Keep)
            {
                decision = SuppressionDecision.Drop;
            }
        }

        return decision;
    }

    private bool AnyErased(string subject, IEnumerable<string> values)
    {
        foreach (var value in values)
        {
            if (_suppressed.Contains((subject, _hasher.Hash(subject, value))))
            {
                return true;
            }
        }

        return false;
    }

    private void Refresh()
    {
        var now = _time.GetUtcNow();
        if (now - _checkedAt < ChangeCheckInterval)
        {
            return;
        }

        _checkedAt = now;
        // The ledger is SQLite in WAL mode: a commit appends to the -wal file, a checkpoint rewrites
        // the database file, so their sizes and times change with every erase recorded.
        var files = (Stamp(_ledgerPath), Length(_ledgerPath), Stamp(_ledgerPath + "-wal"), Length(_ledgerPath + "-wal"));
        if (files == _files && now - _loadedAt < _refresh)
        {
            return;
        }

        _files = files;
        _loadedAt = now;
        if (File.Exists(_ledgerPath))
        {
            using var ledger = SuppressionLedger.Open(_ledgerPath, readOnly: true);
            _suppressed = ledger.Suppressed();
        }
    }

    private static DateTime Stamp(string path) => File.GetLastWriteTimeUtc(path);

    private static long Length(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : -1;
    }
}

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
