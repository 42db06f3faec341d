namespace Sync.Engine.Runtime;

/// <summary>What a materializer does with a change, given the erased data subjects.</summary>
public enum SuppressionDecision
{
    /// <summary>Apply it: it does not bring an erased subject back.</summary>
    Keep,

    /// <summary>Count it as suppressed and never apply it.</summary>
    Drop,

    /// <summary>Count it as suppressed and apply, instead of it, a delete of its key at its version
    /// (<see cref="SuppressionFilter.AsDelete"/>): the change gives the row to an erased subject, and
    /// the row's previous owner's values must not stay behind either.</summary>
    DeleteInstead,
}

/// <summary>Tells whether a change belongs to an erased data subject; such changes are counted as
/// suppressed and never applied, so no replay brings an erased subject back.</summary>
public interface ISuppressionFilter
{
    /// <summary>Brings the filter up to date with the ledger; called before each batch is decided.
    /// Throws <see cref="Ledger.LedgerUnavailableException"/> when the ledger cannot be read: the
    /// batch must then not be applied.</summary>
    ValueTask RefreshAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Decides with the state of the last <see cref="RefreshAsync"/>.</summary>
    SuppressionDecision Decide(ChangeEvent change);
}

/// <summary>Helpers for <see cref="ISuppressionFilter"/>'s decisions.</summary>
public static class SuppressionFilter
{
    /// <summary>A delete of the change's key with the change's version (same source and origin), and
    /// no after image: what <see cref="SuppressionDecision.DeleteInstead"/> applies. Its before image
    /// is the change's, which the filter found naming no erased subject.</summary>
    public static ChangeEvent AsDelete(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return new ChangeEvent
        {
            Op = ChangeOp.Delete,
            Key = change.Key,
            Before = change.Before,
            After = null,
            Source = change.Source,
            Origin = change.Origin,
            TsMs = change.TsMs,
        };
    }
}

/// <summary>Suppresses nothing: materializers that carry no subject.</summary>
public sealed class NoSuppression : ISuppressionFilter
{
    public static NoSuppression Instance { get; } = new();

    public SuppressionDecision Decide(ChangeEvent change) => SuppressionDecision.Keep;
}
