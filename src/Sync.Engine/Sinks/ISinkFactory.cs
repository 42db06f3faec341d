namespace Sync.Engine.Sinks;

/// <summary>Opens sinks of one type from their config.</summary>
public interface ISinkFactory
{
    /// <summary>The <c>type</c> value in the config, e.g. <c>sqlite</c>.</summary>
    string Type { get; }

    /// <summary>The options type the config section binds to.</summary>
    Type OptionsType { get; }

    /// <summary>The options type of a materializer's <c>target:</c> block for this sink type
    /// (e.g. a Redis key template), or null when the sink takes none.</summary>
    Type? TargetOptionsType => null;

    /// <summary>True when the sinks it opens keep a dead-letter table (<see cref="IDeadLetterStore"/>),
    /// so that <c>deadLetterTarget: table</c> is allowed for them.</summary>
    bool KeepsDeadLetterTable => false;

    /// <summary>True when the sinks it opens apply several materializers' batches in one transaction
    /// (<see cref="ISink.ApplyTransactionAsync"/>), so that they can be a consistency group's sink.</summary>
    bool AppliesTransactions => false;

    /// <summary>True when the sinks it opens can keep a shared suppression ledger (<c>erasure.ledger: { postgres: SINK }</c>).</summary>
    bool HostsLedger => false;

    /// <summary>Opens the suppression ledger kept in <paramref name="sink"/>'s store, in <paramref name="schema"/>.</summary>
    ISuppressionLedger OpenLedger(ComponentConfig sink, string schema) =>
        throw new NotSupportedException($"sink {sink?.Name} of type {Type} cannot keep a suppression ledger");

    /// <summary>True when a materializer whose sink lost everything rebuilds it from the earliest
    /// message unless its <c>onEmptySink</c> says otherwise (a cache, which restarts empty by design);
    /// false when it stops and asks for <c>sync backfill</c>.</summary>
    bool RebuildsWhenEmpty => false;

    ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken);
}
