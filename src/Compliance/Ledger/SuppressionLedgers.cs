namespace Sync.Compliance.Ledger;

/// <summary>Opens the suppression ledger a config names: a SQLite file, tables in a postgres
/// sink's database, or a topic on a pulsar source's cluster.</summary>
public static class SuppressionLedgers
{
    public static ISuppressionLedger Open(SyncConfig config, SyncComponents components)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(components);
        var options = config.Erasure.Ledger;
        switch (options.Kind)
        {
            case LedgerKind.Postgres:
                var sink = config.Sinks[options.Postgres!];
                return components.Sinks[sink.Type].OpenLedger(sink, options.Schema);
            case LedgerKind.Topic:
                var source = TopicLedgerSource(config);
                return components.Sources[source.Type].OpenLedger(source, options.Topic!)
                    ?? throw new ConfigException($"erasure.ledger.topic: source {source.Name} of type {source.Type} has no topics to keep a ledger on");
            default:
                return SqliteSuppressionLedger.Open(config.LedgerPath);
        }
    }

    /// <summary>The source whose cluster holds a topic ledger: the one named, else the only source with topics.</summary>
    private static ComponentConfig TopicLedgerSource(SyncConfig config) =>
        config.Erasure.Ledger.Source is { } name ? config.Sources[name] : config.Sources.Values.Single(s => s.Options is ITopicSourceOptions);
}
