using Sync.Sources;

namespace Sync.Engine.Tests.Config;

/// <summary>The <c>consistency:</c> section: a group's members share one source read in order and one
/// sink that applies several tables in one transaction, and every problem is named with its line.</summary>
public class ConsistencyConfigTests
{
    private const string File = "sync.yaml";

    [Fact]
    public void A_group_binds_with_its_defaults()
    {
        var config = Parse("""
            consistency:
              shop:
                transactions: persistent://public/default/pg.transaction
                materializers: [orders, lines]
            """);

        var (name, group) = Assert.Single(config.ConsistencyGroups);
        Assert.Equal("shop", name);
        Assert.Equal(["orders", "lines"], group.Materializers);
        Assert.Equal(10_000, group.MaxTransactionChanges);
        Assert.Equal(TimeSpan.FromSeconds(30), group.EndTimeout);
        Assert.Equal("shop", config.ConsistencyGroupOf("lines"));
        Assert.Null(config.ConsistencyGroupOf("cached"));
    }

    [Fact]
    public void A_group_over_a_sink_without_transactions_is_refused_with_the_reason()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            consistency:
              shop:
                transactions: persistent://public/default/pg.transaction
                materializers: [cached]
            """));

        Assert.Equal(
            ["sync.yaml:33: consistency.shop.materializers write into sink cache of type redis, which cannot apply several tables in one transaction; a consistency group needs a sink of type postgres or sqlite (the materializers can still read these topics outside the group)"],
            e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Members_of_two_sinks_two_groups_and_unknown_names_are_refused()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            consistency:
              shop:
                transactions: persistent://public/default/pg.transaction
                materializers: [orders, cached, nobody]
              again:
                transactions: persistent://public/default/pg.transaction
                materializers: [orders]
                maxTransactionChanges: 0
                endTimeout: 0ms
            """));

        Assert.Equal(
            [
                "sync.yaml:33: consistency.shop.materializers must all write into one sink, so that one sink transaction holds a source transaction; they write into pg, cache",
                "sync.yaml:33: consistency.shop.materializers: nobody does not name a configured materializer (known: cached, lines, orders)",
                "sync.yaml:36: consistency.again.materializers: orders is already in consistency group shop; a materializer belongs to one group at most",
                "sync.yaml:37: consistency.again.maxTransactionChanges (0) must be between 1 and 10000000",
                "sync.yaml:38: consistency.again.endTimeout (0ms) must be between 1ms and 1d",
            ],
            e.Problems.Select(p => p.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_shared_subscription_and_a_member_that_reads_the_transaction_topic_are_refused()
    {
        var e = Assert.Throws<ConfigException>(() => Parse(
            """
            consistency:
              shop:
                transactions: persistent://public/default/pg.transaction
                materializers: [orders, lines]
            """,
            subscriptionType: "shared",
            ordersTopics: "topicPattern: 'persistent://public/default/pg\\..*'"));

        Assert.Contains(e.Problems, p => p.ToString().Contains("consistency.shop.materializers read source bus, whose subscriptionType shared spreads a topic's messages over several consumers", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.ToString().Contains("consistency.shop.transactions (persistent://public/default/pg.transaction) is among the topics of materializer orders", StringComparison.Ordinal));
    }

    private static SyncConfig Parse(string consistency, string subscriptionType = "failover", string ordersTopics = "topics: [persistent://public/default/pg.public.orders]") => ConfigLoader.Parse(
        $"""
        sources:
          bus:
            type: pulsar
            serviceUrl: pulsar://localhost:6650
            subscriptionType: {subscriptionType}
        sinks:
          pg: {"{"} type: postgres {"}"}
          cache: {"{"} type: redis {"}"}
        materializers:
          orders:
            source: bus
            {ordersTopics}
            sink: pg
            table: orders
          lines:
            source: bus
            topics: [persistent://public/default/pg.public.order_lines]
            sink: pg
            table: order_lines
          cached:
            source: bus
            topics: [persistent://public/default/pg.public.orders]
            sink: cache
            table: orders
        
        
        
        
        
        {consistency}
        """,
        File,
        Types(),
        _ => null);

    private static ComponentTypes Types()
    {
        var types = SourceCatalog.Types();
        types.Sinks["postgres"] = typeof(AnySink);
        types.Sinks["redis"] = typeof(AnySink);
        types.TransactionalSinks.Add("postgres");
        types.TransactionalSinks.Add("sqlite");
        types.Formats.Add("debezium-json");
        return types;
    }

    public sealed class AnySink
    {
        public string? Path { get; set; }
    }
}
