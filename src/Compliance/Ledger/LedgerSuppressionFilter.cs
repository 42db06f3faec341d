using Sync.Engine.Changes;
using Sync.Engine.Config;
using Sync.Engine.Runtime;

namespace Sync.Compliance.Ledger;

/// <summary>Suppresses the changes of erased subjects in one materializer: each change's subject
/// values (the key column or the row column each subject is bound to) are hashed and looked up in
/// a snapshot of the ledger, reloaded every <see cref="ErasureOptions.RefreshInterval"/>.</summary>
public sealed class LedgerSuppressionFilter : ISuppressionFilter
{
    private readonly string _ledgerPath;
    private readonly SubjectHasher _hasher;
    private readonly (string Subject, SubjectBinding Binding)[] _bindings;
    private readonly TimeSpan _refresh;
    private readonly TimeProvider _time;
    private HashSet<(string Subject, string KeyHash)> _suppressed = [];
    private DateTimeOffset _loadedAt = DateTimeOffset.MinValue;

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

    public bool IsSuppressed(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Refresh();
        if (_suppressed.Count == 0)
        {
            return false;
        }

        foreach (var (subject, binding) in _bindings)
        {
            foreach (var value in SubjectValues.Of(change, binding))
            {
                if (_suppressed.Contains((subject, _hasher.Hash(subject, value))))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private void Refresh()
    {
        var now = _time.GetUtcNow();
        if (now - _loadedAt < _refresh)
        {
            return;
        }

        _loadedAt = now;
        if (File.Exists(_ledgerPath))
        {
            using var ledger = SuppressionLedger.Open(_ledgerPath, readOnly: true);
            _suppressed = ledger.Suppressed();
        }
    }
}

/// <summary>Where a change names its subjects.</summary>
public static class SubjectValues
{
    /// <summary>The subject values a change carries for a binding, as text: the key column's value,
    /// or the row column's value in the after and the before image.</summary>
    public static IEnumerable<string> Of(ChangeEvent change, SubjectBinding binding)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(binding);
        if (binding.Key is { } keyColumn)
        {
            if (change.Key.TryGet(keyColumn, out var key) && key.ToText() is { } text)
            {
                yield return text;
            }

            yield break;
        }

        foreach (var image in new[] { change.After, change.Before })
        {
            if (image is not null && image.TryGet(binding.Field!, out var value) && value.ToText() is { } text)
            {
                yield return text;
            }
        }
    }
}
