namespace Sync.Compliance.Ledger;

/// <summary>Suppresses the changes of erased subjects in one materializer: each change's subject
/// values (the key column or the row column each subject is bound to) are hashed and looked up in
/// the process's view of the ledger, brought up to date before each batch is decided
/// (<see cref="RefreshAsync"/>), so that a change read after an erase recorded its subject is
/// suppressed even when its row was already deleted and the sink holds no erasure marker for it.</summary>
public sealed class LedgerSuppressionFilter : ISuppressionFilter
{
    private readonly ISuppressionView _view;
    private readonly SubjectHasher _hasher;
    private readonly (string Subject, SubjectBinding Binding)[] _bindings;
    private IReadOnlySet<(string Subject, string KeyHash)> _suppressed = new HashSet<(string, string)>();

    public LedgerSuppressionFilter(ISuppressionView view, SubjectHasher hasher, IEnumerable<(string Subject, SubjectBinding Binding)> bindings)
    {
        _view = view;
        _hasher = hasher;
        _bindings = bindings.ToArray();
    }

    /// <summary>Reads the ledger's current state; throws <see cref="LedgerUnavailableException"/>
    /// when it cannot, and then the batch must not be applied.</summary>
    public async ValueTask RefreshAsync(CancellationToken cancellationToken) =>
        _suppressed = await _view.CurrentAsync(cancellationToken);

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
}
