using Sync.Sources;

namespace Sync.Engine.Tests.Config;

public class LedgerConfigTests
{
    private const string File = "/configs/sync.yaml";

    private const string Components = """
        sources:
          changelog: { type: file, path: data/changelog.jsonl }
          broker: { type: pulsar, serviceUrl: 'pulsar://localhost:6650', subscription: s }
        sinks:
          local: { type: memory }
          shared: { type: ledgerhost }
        materializers:
          users: { source: changelog, topics: [a], format: json, sink: local, table: users }
        """;

    [Fact]
    public void A_plain_ledger_value_is_a_file_path_next_to_the_config_and_the_default_is_sync_ledger_db()
    {
        Assert.Equal("/configs/sync-ledger.db", Parse(Components).LedgerPath);

        var config = Parse(Components + "\nerasure: { ledger: state/ledger.db }\n");

        Assert.Equal(LedgerKind.File, config.Erasure.Ledger.Kind);
        Assert.Equal("/configs/state/ledger.db", config.LedgerPath);
        Assert.Equal("/configs/other.db", Parse(Components + "\nerasure: { ledger: { file: other.db } }\n").LedgerPath);
    }

    [Fact]
    public void A_postgres_ledger_names_a_sink_that_can_keep_one()
    {
        var config = Parse(Components + "\nerasure: { ledger: { postgres: shared, schema: gdpr } }\n");

        Assert.Equal(LedgerKind.Postgres, config.Erasure.Ledger.Kind);
        Assert.Equal("shared", config.Erasure.Ledger.Postgres);
        Assert.Equal("gdpr", config.Erasure.Ledger.Schema);

        var e = Assert.Throws<ConfigException>(() => Parse(Components + "\nerasure:\n  ledger: { postgres: local }\n"));
        var problem = Assert.Single(e.Problems);
        Assert.Equal("erasure.ledger.postgres (local) must name a sink of type ledgerhost (such sinks: shared)", problem.Message);
        Assert.Equal(10, problem.Line);
    }

    [Fact]
    public void A_topic_ledger_lives_on_the_only_pulsar_source_or_the_one_named()
    {
        var config = Parse(Components + "\nerasure: { ledger: { topic: 'persistent://public/default/ledger' } }\n");

        Assert.Equal(LedgerKind.Topic, config.Erasure.Ledger.Kind);
        Assert.Null(config.Erasure.Ledger.Source);

        var e = Assert.Throws<ConfigException>(() => Parse(Components + "\nerasure: { ledger: { topic: t, source: changelog } }\n"));
        Assert.Equal("erasure.ledger.source (changelog) must name a pulsar source (known: broker)", Assert.Single(e.Problems).Message);
    }

    [Fact]
    public void A_ledger_is_one_kind_only()
    {
        var e = Assert.Throws<ConfigException>(() => Parse(Components + "\nerasure: { ledger: { file: a.db, postgres: shared } }\n"));

        Assert.Equal("erasure.ledger.postgres (shared) cannot be set with erasure.ledger.file (/configs/a.db): a ledger is one of file, postgres or topic", Assert.Single(e.Problems).Message);
    }

    private static SyncConfig Parse(string text)
    {
        var types = SourceCatalog.Types();
        types.Sinks["memory"] = typeof(ConfigLoaderTests.MemorySinkOptions);
        types.Sinks["ledgerhost"] = typeof(ConfigLoaderTests.MemorySinkOptions);
        types.LedgerSinks.Add("ledgerhost");
        types.Formats.Add("json");
        return ConfigLoader.Parse(text.Replace("{ type: memory }", "{ type: memory, path: out.db }").Replace("{ type: ledgerhost }", "{ type: ledgerhost, path: l.db }"), File, types, _ => null);
    }
}
