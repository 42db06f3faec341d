namespace Sync.Compliance.Ledger;

/// <summary>A process's suppression: one view of the ledger, opened when the first materializer
/// that carries a subject asks for its filter, shared by all of them, closed with the process.</summary>
public sealed class LedgerSuppression : IAsyncDisposable
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private ISuppressionLedger? _ledger;
    private ISuppressionView? _view;

    public LedgerSuppression(SyncConfig config, SyncComponents components, TimeProvider? time = null)
    {
        _config = config;
        _components = components;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The filter of a materializer: nothing to check when it carries no subject.</summary>
    public ISuppressionFilter Filter(string materializer)
    {
        var bindings = _config.SubjectsOf(materializer).ToList();
        return bindings.Count == 0 || _config.Erasure.Secret is not { } secret
            ? NoSuppression.Instance
            : new LedgerSuppressionFilter(View(), new SubjectHasher(secret), bindings);
    }

    public async ValueTask DisposeAsync()
    {
        if (_view is not null)
        {
            await _view.DisposeAsync();
        }

        if (_ledger is not null)
        {
            await _ledger.DisposeAsync();
        }
    }

    private ISuppressionView View()
    {
        lock (_lock)
        {
            if (_view is null)
            {
                // A file ledger is not created by a run: a process that never erased reads it as empty.
                if (_config.Erasure.Ledger.Kind == LedgerKind.File)
                {
                    _view = new SqliteSuppressionView(_config.LedgerPath, _config.Erasure.RefreshInterval, _time);
                }
                else
                {
                    _ledger = SuppressionLedgers.Open(_config, _components);
                    _view = _ledger.OpenView(_config.Erasure.RefreshInterval, _time);
                }
            }

            return _view;
        }
    }
}
