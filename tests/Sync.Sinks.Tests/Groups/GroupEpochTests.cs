using Sync.Engine.Formats;
using Sync.Pulsar;
using Sync.Sinks.Tests.Postgres;
using Sync.Sources.Pulsar;
using Sync.Testing.Files;
using Sync.Testing.Fixtures;
using Sync.Testing.Logging;

namespace Sync.Sinks.Tests.Groups;

/// <summary>
/// Source epochs in a consistency group of two tables (<c>users</c>, <c>orders</c>) read from the fake
/// Pulsar broker on a failover subscription, into PostgreSQL and SQLite: after a failover with a
/// re-snapshot, a move to a new cluster, a restart between the old and the new epoch, and a declared
/// epoch bump, the sink ends exactly in the source's final state.
/// </summary>
/// <remarks>Shapes, Debezium 2.7 PostgreSQL as Pulsar IO publishes them (keys as the JSON key bytes):
/// <list type="bullet">
/// <item><c>source.snapshot</c>: <c>first</c> on the snapshot's first record, <c>first_in_data_collection</c>
/// and <c>last_in_data_collection</c> on each later table's first and each table's last record, <c>last</c> on
/// the very last, <c>true</c> between, <c>false</c> when streaming (debezium/debezium,
/// debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java); snapshot reads are <c>op: r</c>
/// with no <c>transaction</c> block (the transaction monitor only marks streamed events).</item>
/// <item>Streamed changes carry <c>transaction: {id, total_order, data_collection_order}</c>, the
/// transaction topic BEGIN and END records with <c>event_count</c> and per-table <c>data_collections</c>;
/// the id is <c>txId:lsn</c> in 2.x (debezium-connector-postgres PostgresOffsetContext,
/// debezium-core .../pipeline/txmetadata/TransactionMonitor.java; postgresql.adoc "Transaction metadata").</item>
/// </list></remarks>
public sealed class GroupEpochTests : FakeBrokerTest
{
    private const string Prefix = "persistent://public/default/shop.";
    private const string Users = Prefix + "public.users";
    private const string Orders = Prefix + "public.orders";
    private const string Transactions = Prefix + "transaction";

    private readonly string _schema = $"ge_{Guid.NewGuid():N}"[..18];
    private readonly RecordingLoggerFactory _logs = new();
    private readonly string _folder = Directory.CreateTempSubdirectory("sync-group-epoch-").FullName;
    private string _sink = "postgres";
    private long _tx = 900;

    private string SqlitePath => Path.Combine(_folder, "shop.db");

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await PostgresTestDb.ScalarAsync($"DROP SCHEMA IF EXISTS {_schema} CASCADE; DROP SCHEMA IF EXISTS {_schema}_sync CASCADE");
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>The failover: an update of user 1 and a new user 3 at LSN 1000 (and an order's
    /// update) are lost with the old primary; the connector re-snapshots the new one at LSN 950 and streams
    /// a transaction at 960 that updates user 1, deletes user 2 and adds an order.</summary>
    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task A_failover_with_a_re_snapshot_leaves_the_group_equal_to_the_new_primary(string sink)
    {
        _sink = sink;
        await using var run = Start();
        await PublishAsync(Snapshot(100, [(1, "a"), (2, "b")], [(10, "pen")]));
        await PublishAsync(Transaction(200, User(1, "a2"), Order(11, "cup")));
        await PublishAsync(Transaction(1000, User(1, "X"), User(3, "lost"), Order(11, "lost-cup")));
        await UntilStateAsync(run, "1=X,2=b,3=lost|10=pen,11=lost-cup");

        await PublishAsync(Snapshot(950, [(1, "a2"), (2, "b")], [(10, "pen"), (11, "cup")]));
        await PublishAsync(Transaction(960, User(1, "Y"), User(2, null), Order(12, "ink")));

        await UntilStateAsync(run, "1=Y|10=pen,11=cup,12=ink");
        Assert.Contains(_logs.Entries, e => e.Message.Contains("users: persistent://public/default/shop.public.users starts source epoch 1", StringComparison.Ordinal));
        Assert.Contains(_logs.Entries, e => e.Message.Contains("row(s) it did not hold were deleted", StringComparison.Ordinal));
    }

    /// <summary>The second case: the old cluster's rows at LSN about 5·10^12, then the new cluster's
    /// snapshot at about 3·10^7 with new values, and updates streamed there.</summary>
    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task A_move_to_a_new_cluster_replaces_every_row_with_the_new_clusters_values(string sink)
    {
        _sink = sink;
        await using var run = Start();
        await PublishAsync(Snapshot(5_000_000_000_000, [(1, "old1"), (2, "old2"), (3, "old3")], [(10, "old-pen"), (11, "old-cup")]));
        await PublishAsync(Transaction(5_000_000_001_000, User(2, "old-streamed2"), Order(12, "old-ink")));
        await UntilStateAsync(run, "1=old1,2=old-streamed2,3=old3|10=old-pen,11=old-cup,12=old-ink");

        await PublishAsync(Snapshot(30_000_000, [(1, "new1"), (2, "new2"), (3, "new3")], [(10, "new-pen"), (12, "new-ink")]));
        await PublishAsync(Transaction(30_000_100, User(1, "updated1"), Order(10, "updated-pen")));
        await PublishAsync(Transaction(30_000_200, User(3, null), Order(13, "new-cap")));

        await UntilStateAsync(run, "1=updated1,2=new2|10=updated-pen,12=new-ink,13=new-cap");
    }

    /// <summary>The group stops after the old history and starts again before the new snapshot: the
    /// epoch state the first run stored with its checkpoints tells the second that the snapshot comes
    /// after streaming, so it starts a new epoch.</summary>
    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task A_restart_between_the_old_and_the_new_epoch_keeps_the_epoch_state(string sink)
    {
        _sink = sink;
        await using (var first = Start())
        {
            await PublishAsync(Snapshot(100, [(1, "a"), (2, "b")], [(10, "pen")]));
            await PublishAsync(Transaction(1000, User(1, "X"), User(3, "lost"), Order(10, "lost-pen")));
            await UntilStateAsync(first, "1=X,2=b,3=lost|10=lost-pen");
        }

        await using var second = Start();
        await PublishAsync(Snapshot(950, [(1, "a"), (2, "b")], [(10, "pen")]));
        await PublishAsync(Transaction(960, User(2, "B"), Order(11, "cup")));

        await UntilStateAsync(second, "1=a,2=B|10=pen,11=cup");
    }

    /// <summary>A restore without a snapshot: the orders fall far below what was applied, outside a
    /// snapshot. Each member reports it (log, its degraded status that <c>source.regressed</c> and
    /// <c>sync status</c> read) and skips the older changes; after <c>sync epoch bump</c> for both
    /// members the next changes apply and the members are no longer degraded.</summary>
    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task A_regression_without_a_snapshot_is_reported_and_a_declared_bump_makes_the_next_changes_apply(string sink)
    {
        _sink = sink;
        await using var run = Start();
        await PublishAsync(Snapshot(5_000_000_000_000, [(1, "a"), (2, "b")], [(10, "pen")]));
        await PublishAsync(Transaction(5_000_000_001_000, User(1, "a2"), Order(11, "cup")));
        await UntilStateAsync(run, "1=a2,2=b|10=pen,11=cup");

        await PublishAsync(Transaction(30_000_000, User(2, "restored2"), Order(10, "restored-pen")));
        await Poll.UntilAsync(async () => await run.EndedAsync() || (run.Regressed("users") && run.Regressed("orders")), TimeSpan.FromSeconds(120));
        await run.EndedAsync();
        Assert.Equal("1=a2,2=b|10=pen,11=cup", await StateAsync());
        Assert.Contains(_logs.Entries, e => e.Message.Contains("the source went back in time without a new snapshot", StringComparison.Ordinal));

        foreach (var member in new[] { "users", "orders" })
        {
            await EpochBump.DeclareAsync(run.Config, run.Components, member, "ops", "restored from a backup", DateTimeOffset.UtcNow, CancellationToken.None);
        }

        await PublishAsync(Transaction(30_000_100, User(1, "after-bump1"), Order(11, "after-bump-cup")));

        await UntilStateAsync(run, "1=after-bump1,2=b|10=pen,11=after-bump-cup");
        Assert.False(run.Regressed("users") || run.Regressed("orders"), "a member is still degraded after the bump took effect");
    }

    /// <summary>The failover's whole history (the old epoch with its lost transaction, the new primary's
    /// snapshot and a transaction streamed there) is on the topics before anything runs. A backfill of
    /// the group replays both epochs in order into an empty sink, and again over the sink it filled, in
    /// place or into a shadow swapped in; each time it ends in the new primary's state.</summary>
    [Theory]
    [InlineData("postgres", false)]
    [InlineData("postgres", true)]
    [InlineData("sqlite", false)]
    [InlineData("sqlite", true)]
    public async Task A_backfill_over_topics_holding_two_epochs_ends_in_the_newest_epochs_state(string sink, bool shadow)
    {
        _sink = sink;
        await PublishAsync(Snapshot(100, [(1, "a"), (2, "b")], [(10, "pen")]));
        await PublishAsync(Transaction(200, User(1, "a2"), Order(11, "cup")));
        await PublishAsync(Transaction(1000, User(1, "X"), User(3, "lost"), Order(11, "lost-cup"), Order(14, "lost-box")));
        await PublishAsync(Snapshot(950, [(1, "a2"), (2, "b")], [(10, "pen"), (11, "cup")]));
        await PublishAsync(Transaction(960, User(1, "Y"), User(2, null), Order(12, "ink")));
        const string Final = "1=Y|10=pen,11=cup,12=ink";

        for (var pass = 0; pass < 2; pass++)
        {
            await using var backfill = Start(RunMode.Backfill, shadow);
            var outcomes = await backfill.Outcome.WaitAsync(TimeSpan.FromSeconds(120));
            Assert.All(outcomes, o => Assert.True(o.Failure is null && o.End == MaterializerEnd.Finished, $"{o.Name}: {o.End} {o.Failure}"));
            Assert.Equal(Final, await StateAsync());
        }

        // The epoch state the backfill stored lets a run resume in the new epoch: a later change applies.
        await using var run = Start();
        await PublishAsync(Transaction(970, User(5, "e"), Order(10, null)));
        await UntilStateAsync(run, "1=Y,5=e|11=cup,12=ink");
    }

    /// <summary>A crash between the group's sink transaction that completed the new epoch's snapshot and
    /// the reconciliation's transaction that follows it: the sink refuses to start the reconciliation, as
    /// a process killed at that moment would never run it, and the run ends. More changes of the new
    /// epoch arrive while it is down; the next run reconciles what the first left pending, and the sink
    /// ends in the new primary's state.</summary>
    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task A_crash_between_the_groups_transaction_and_the_reconciliation_is_reconciled_at_the_next_start(string sink)
    {
        _sink = sink;
        await PublishAsync(Snapshot(100, [(1, "a"), (2, "b")], [(10, "pen")]));
        await PublishAsync(Transaction(1000, User(1, "X"), User(3, "lost"), Order(11, "lost-cup")));
        await PublishAsync(Snapshot(950, [(1, "a"), (2, "b")], [(10, "pen")]));
        var reconciliations = 0;
        await using (var crashing = Start(wrap: inner => new CrashingAtReconciliation(inner, () => Interlocked.Increment(ref reconciliations))))
        {
            var outcomes = await crashing.Outcome.WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Contains(outcomes, o => o.Failure?.Message.Contains(CrashingAtReconciliation.Crash, StringComparison.Ordinal) == true);
        }

        Assert.True(reconciliations > 0, "the run ended before any reconciliation was due");
        // The snapshot's rows are committed, the rows of the lost transaction are still there.
        Assert.Equal("1=a,2=b,3=lost|10=pen,11=lost-cup", await StateAsync());

        await PublishAsync(Transaction(960, User(2, "B"), User(4, "d"), Order(12, "ink")));
        await using var resumed = Start();
        await UntilStateAsync(resumed, "1=a,2=B,4=d|10=pen,12=ink");
        Assert.Contains(_logs.Entries, e => e.Message.Contains("row(s) it did not hold were deleted", StringComparison.Ordinal));
    }

    /// <summary>Ends the process's work where a kill would: no reconciliation reaches the sink.</summary>
    private sealed class CrashingAtReconciliation(ISink inner, Action reached) : DelegatingSink(inner), IAsyncDisposable
    {
        public const string Crash = "the process was killed before the reconciliation";

        public override ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken)
        {
            reached();
            throw new IOException(Crash);
        }

        // Opened by the factory, so closed here (a plain wrapper leaves that to its opener).
        ValueTask IAsyncDisposable.DisposeAsync() => Inner.DisposeAsync();
    }

    private static (string Topic, int Id, string? Value) User(int id, string? name) => (Users, id, name);

    private static (string Topic, int Id, string? Value) Order(int id, string? item) => (Orders, id, item);

    private static string Column(string topic) => topic == Users ? "name" : "item";

    private static string Table(string topic) => topic == Users ? "users" : "orders";

    /// <summary>A full snapshot of both tables at one LSN, users first, with Debezium 2.x's markers.</summary>
    private static List<(string Topic, string Key, string Value)> Snapshot(long lsn, (int Id, string Name)[] users, (int Id, string Item)[] orders)
    {
        var rows = users.Select(u => (Topic: Users, u.Id, Value: u.Name)).Concat(orders.Select(o => (Topic: Orders, o.Id, Value: o.Item))).ToList();
        var records = new List<(string, string, string)>();
        for (var i = 0; i < rows.Count; i++)
        {
            var (topic, id, value) = rows[i];
            var firstOfTable = i == 0 || rows[i - 1].Topic != topic;
            var lastOfTable = i == rows.Count - 1 || rows[i + 1].Topic != topic;
            var marker = i == 0 ? "first" : i == rows.Count - 1 ? "last" : firstOfTable ? "first_in_data_collection" : lastOfTable ? "last_in_data_collection" : "true";
            records.Add((topic, Key(id), Envelope(topic, id, value, "r", lsn, marker, tx: 0, transaction: "null")));
        }

        return records;
    }

    /// <summary>A streamed source transaction: BEGIN, its changes at LSNs from <paramref name="lsn"/>, END.</summary>
    private List<(string Topic, string Key, string Value)> Transaction(long lsn, params (string Topic, int Id, string? Value)[] changes)
    {
        var tx = ++_tx;
        var id = $"{tx}:{lsn}";
        var records = new List<(string, string, string)> { (Transactions, $$"""{"id":"{{id}}"}""", $$"""{"status":"BEGIN","id":"{{id}}","ts_ms":1,"event_count":null,"data_collections":null}""") };
        var perTable = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < changes.Length; i++)
        {
            var (topic, key, value) = changes[i];
            var order = perTable[topic] = perTable.GetValueOrDefault(topic) + 1;
            var block = $$"""{"id":"{{id}}","total_order":{{i + 1}},"data_collection_order":{{order}}}""";
            records.Add((topic, Key(key), Envelope(topic, key, value, value is null ? "d" : "u", lsn + i, "false", tx, block)));
        }

        var collections = string.Join(",", perTable.Select(p => $$"""{"data_collection":"public.{{Table(p.Key)}}","event_count":{{p.Value}}}"""));
        records.Add((Transactions, $$"""{"id":"{{id}}"}""", $$"""{"status":"END","id":"{{id}}","ts_ms":1,"event_count":{{changes.Length}},"data_collections":[{{collections}}]}"""));
        return records;
    }

    private static string Key(int id) => $$"""{"id":{{id}}}""";

    private static string Envelope(string topic, int id, string? value, string op, long lsn, string snapshot, long tx, string transaction)
    {
        var row = value is null ? "null" : $$"""{"id":{{id}},"{{Column(topic)}}":"{{value}}"}""";
        var before = value is null ? $$"""{"id":{{id}}}""" : "null";
        return $$$"""{"before":{{{before}}},"after":{{{row}}},"source":{"version":"2.7.3.Final","connector":"postgresql","name":"shop","ts_ms":1,"snapshot":"{{{snapshot}}}","db":"shop","sequence":"[null,\"{{{lsn}}}\"]","schema":"public","table":"{{{Table(topic)}}}","txId":{{{tx}}},"lsn":{{{lsn}}},"xmin":null},"op":"{{{op}}}","ts_ms":1,"transaction":{{{transaction}}}}""";
    }

    private async Task PublishAsync(List<(string Topic, string Key, string Value)> records)
    {
        foreach (var (topic, key, value) in records)
        {
            var producer = await ProducerOfAsync(topic);
            await producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes(key), Data = Encoding.UTF8.GetBytes(value) });
        }
    }

    private GroupRun Start(RunMode mode = RunMode.Resume, bool shadow = false, Func<ISink, ISink>? wrap = null)
    {
        var sink = _sink == "sqlite"
            ? $"{{ type: sqlite, path: '{SqlitePath}' }}"
            : $"{{ type: postgres, connectionString: '{PostgresTestDb.ServerConnectionString}', schema: {_schema}, stateSchema: {_schema}_sync, tls: disable }}";
        var text = $"""
            sources:
              changelog: {Broker.SourceYaml("subscriptionType: failover", "subscription: shop")}
            sinks:
              local: {sink}
            materializers:
              users: {"{"} source: changelog, topics: ['{Users}'], sink: local, table: users, batchSize: 5, linger: 0ms {"}"}
              orders: {"{"} source: changelog, topics: ['{Orders}'], sink: local, table: orders, batchSize: 5, linger: 0ms {"}"}
            consistency:
              shop: {"{"} transactions: '{Transactions}', materializers: [users, orders] {"}"}
            """;
        var sinks = wrap is null ? SinkCatalog.All : SinkCatalog.All.Select(f => (ISinkFactory)new WrappingSinkFactory(f, wrap));
        var components = new SyncComponents([new PulsarSourceFactory()], sinks, MessageFormats.Names, MessageFormats.Create);
        var config = ConfigLoader.Parse(text, Path.Combine(_folder, "sync.yaml"), components.Types, _ => null);
        return new GroupRun(config, components, _logs, mode, shadow);
    }

    /// <summary>Waits for the sink to hold <paramref name="expected"/>; on a timeout, shows what it holds.</summary>
    private async Task UntilStateAsync(GroupRun run, string expected)
    {
        var reached = Poll.UntilAsync(async () => await run.EndedAsync() || await StateAsync() == expected, TimeSpan.FromSeconds(120));
        await reached.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        await run.EndedAsync();
        Assert.Equal(expected, await StateAsync());
    }

    /// <summary>The sink's rows: <c>id=name,...|id=item,...</c>.</summary>
    private async Task<string> StateAsync()
    {
        const string Query = "SELECT coalesce((SELECT {0}(id || '=' || name, ',' {1}) FROM {2}users), '') || '|' || coalesce((SELECT {0}(id || '=' || item, ',' {1}) FROM {2}orders), '')";
        if (_sink == "sqlite")
        {
            using var connection = File.Exists(SqlitePath) ? SqliteCopies.Connect(SqlitePath) : null;
            using var command = connection?.CreateCommand();
            if (command is null)
            {
                return string.Empty;
            }

            // Both tables are created by the group's first sink transaction; until then the query fails.
            command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'orders')";
            if (Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) < 2)
            {
                return string.Empty;
            }

            command.CommandText = string.Format(CultureInfo.InvariantCulture, Query, "group_concat", string.Empty, string.Empty)
                .Replace("FROM users", "FROM (SELECT * FROM users ORDER BY id)", StringComparison.Ordinal)
                .Replace("FROM orders", "FROM (SELECT * FROM orders ORDER BY id)", StringComparison.Ordinal);
            return command.ExecuteScalar() as string ?? string.Empty;
        }

        if (await PostgresTestDb.ScalarAsync($"SELECT to_regclass('{_schema}.users') IS NOT NULL AND to_regclass('{_schema}.orders') IS NOT NULL") is not true)
        {
            return string.Empty;
        }

        return await PostgresTestDb.ScalarAsync(string.Format(CultureInfo.InvariantCulture, Query, "string_agg", "ORDER BY id", _schema + ".")) as string ?? string.Empty;
    }
}
