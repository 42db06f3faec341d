using Sync.Engine.DeadLetters;
using Sync.Sinks.Tests.Postgres;
using Sync.Sinks.Tests.Sqlite;
using Sync.Testing.Sinks;

namespace Sync.Sinks.Tests;

/// <summary><see cref="ISink.ApplyTransactionAsync"/>: a consistency group's batches of several tables
/// commit together with every member's checkpoint, or not at all, on PostgreSQL and on SQLite.</summary>
public sealed class GroupTransactionTests
{
    private const string Orders = "persistent://public/default/pg.public.orders";
    private const string Lines = "persistent://public/default/pg.public.order_lines";

    private sealed class Refused : Exception;

    private static IReadOnlyList<SinkBatch> OrderWithLines(Func<IReadOnlyList<RejectedChange>, CancellationToken, ValueTask<IReadOnlyList<DeadLetterRow>>>? linesBeforeCommit = null) =>
    [
        new SinkBatch("orders", new TargetSpec("orders"), [Change.Create(key: ("id", 1), lsn: 100, ("total", 30)).OnTopic(Orders)], new Dictionary<string, StreamPosition> { [Orders] = new(0, 100) }),
        new SinkBatch(
            "order_lines",
            new TargetSpec("order_lines"),
            [
                Change.Create(key: ("id", 10), lsn: 101, ("order_id", 1), ("amount", 10)).OnTopic(Lines),
                Change.Create(key: ("id", 11), lsn: 102, ("order_id", 1), ("amount", 20)).OnTopic(Lines),
            ],
            new Dictionary<string, StreamPosition> { [Lines] = new(0, 102) }) { BeforeCommit = linesBeforeCommit },
    ];

    [Fact]
    public async Task Sqlite_commits_every_table_and_every_members_checkpoint_together()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        var results = await db.Sink.ApplyTransactionAsync(OrderWithLines(), CancellationToken.None);

        Assert.Equal([1, 2], results.Select(r => r.Upserted));
        Assert.Equal(["1|30"], db.Table("orders"));
        Assert.Equal(["10|1|10", "11|1|20"], db.Table("order_lines"));
        Assert.Equal(new StreamPosition(0, 100), (await db.Sink.LoadCheckpointAsync("orders", CancellationToken.None))[Orders]);
        Assert.Equal(new StreamPosition(0, 102), (await db.Sink.LoadCheckpointAsync("order_lines", CancellationToken.None))[Lines]);
    }

    [Fact]
    public async Task Sqlite_leaves_nothing_of_a_transaction_that_fails_in_its_last_table()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await Assert.ThrowsAnyAsync<Exception>(async () => await db.Sink.ApplyTransactionAsync(OrderWithLines((_, _) => throw new Refused()), CancellationToken.None));

        Assert.Empty(db.Rows("SELECT name FROM sqlite_master WHERE name IN ('orders', 'order_lines')"));
        Assert.Empty(await db.Sink.LoadCheckpointAsync("orders", CancellationToken.None));
        // The sink still works after the rollback.
        await db.Sink.ApplyTransactionAsync(OrderWithLines(), CancellationToken.None);
        Assert.Equal(["1|30"], db.Table("orders"));
    }

    [Fact]
    public async Task Postgres_commits_every_table_and_every_members_checkpoint_together()
    {
        await using var db = await PostgresTestDb.OpenAsync();

        var results = await db.Sink.ApplyTransactionAsync(OrderWithLines(), CancellationToken.None);

        Assert.Equal([1, 2], results.Select(r => r.Upserted));
        Assert.Equal(["1|30"], await PostgresTestDb.RowsAsync($"SELECT id, total FROM {db.Table("orders")} ORDER BY id"));
        Assert.Equal(["10|1|10", "11|1|20"], await PostgresTestDb.RowsAsync($"SELECT id, order_id, amount FROM {db.Table("order_lines")} ORDER BY id"));
        Assert.Equal(new StreamPosition(0, 100), (await db.Sink.LoadCheckpointAsync("orders", CancellationToken.None))[Orders]);
        Assert.Equal(new StreamPosition(0, 102), (await db.Sink.LoadCheckpointAsync("order_lines", CancellationToken.None))[Lines]);
    }

    [Fact]
    public async Task Postgres_leaves_nothing_of_a_transaction_that_fails_in_its_last_table()
    {
        await using var db = await PostgresTestDb.OpenAsync();

        await Assert.ThrowsAnyAsync<Exception>(async () => await db.Sink.ApplyTransactionAsync(OrderWithLines((_, _) => throw new Refused()), CancellationToken.None));

        Assert.Equal(0L, await PostgresTestDb.ScalarAsync($"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{db.Schema}'"));
        Assert.Empty(await db.Sink.LoadCheckpointAsync("orders", CancellationToken.None));
        await db.Sink.ApplyTransactionAsync(OrderWithLines(), CancellationToken.None);
        Assert.Equal(["1|30"], await PostgresTestDb.RowsAsync($"SELECT id, total FROM {db.Table("orders")} ORDER BY id"));
    }

    [Fact]
    public async Task Never_regress_holds_per_key_inside_a_group_transaction()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.Sink.ApplyTransactionAsync(OrderWithLines(), CancellationToken.None);
        var older = new SinkBatch("orders", new TargetSpec("orders"), [Change.Update(key: ("id", 1), lsn: 50, ("total", 99)).OnTopic(Orders)], new Dictionary<string, StreamPosition> { [Orders] = new(0, 101) });

        var results = await db.Sink.ApplyTransactionAsync([older], CancellationToken.None);

        Assert.Equal(1, results[0].Stale);
        Assert.Equal(["1|30"], await PostgresTestDb.RowsAsync($"SELECT id, total FROM {db.Table("orders")} ORDER BY id"));
    }

    [Fact]
    public async Task Sqlite_never_lowers_a_stored_position_and_refuses_a_group_transaction_after_a_rollback()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await AssertGuardedAsync(db.Sink, () => Task.FromResult(db.Table("orders")));
    }

    [Fact]
    public async Task Postgres_never_lowers_a_stored_position_and_refuses_a_group_transaction_after_a_rollback()
    {
        await using var db = await PostgresTestDb.OpenAsync();

        await AssertGuardedAsync(db.Sink, async () => await PostgresTestDb.RowsAsync($"SELECT id, total FROM {db.Table("orders")} ORDER BY id"));
    }

    /// <summary>The rollback guard every materializer's checkpoint write has (SinkBatch.ExpectedCheckpoint,
    /// IMonotonicCheckpointSink), on a group transaction: a late older position leaves the stored one,
    /// and a transaction that expects more than the sink holds (the sink went back in time since the
    /// group read or wrote it) is refused whole.</summary>
    private static async Task AssertGuardedAsync(ISink sink, Func<Task<List<string>>> orders)
    {
        await sink.ApplyTransactionAsync(OrderWithLines(), CancellationToken.None);
        var late = new SinkBatch("orders", new TargetSpec("orders"), [], new Dictionary<string, StreamPosition> { [Orders] = new(0, 90) })
        {
            ExpectedCheckpoint = new Dictionary<string, StreamPosition> { [Orders] = StreamPosition.Start },
        };
        var lines = new SinkBatch("order_lines", new TargetSpec("order_lines"), [], new Dictionary<string, StreamPosition> { [Lines] = new(0, 103) })
        {
            ExpectedCheckpoint = new Dictionary<string, StreamPosition> { [Lines] = new(0, 102) },
        };

        await sink.ApplyTransactionAsync([late, lines], CancellationToken.None);

        Assert.Equal(new StreamPosition(0, 100), (await sink.LoadCheckpointAsync("orders", CancellationToken.None))[Orders]);
        Assert.Equal(new StreamPosition(0, 103), (await sink.LoadCheckpointAsync("order_lines", CancellationToken.None))[Lines]);

        var gone = new SinkBatch("orders", new TargetSpec("orders"), [Change.Create(key: ("id", 2), lsn: 200, ("total", 5)).OnTopic(Orders)], new Dictionary<string, StreamPosition> { [Orders] = new(0, 200) })
        {
            ExpectedCheckpoint = new Dictionary<string, StreamPosition> { [Orders] = new(0, 150) },
        };

        await Assert.ThrowsAsync<SinkCheckpointChangedException>(async () => await sink.ApplyTransactionAsync([gone], CancellationToken.None));

        Assert.Equal(["1|30"], await orders());
        Assert.Equal(new StreamPosition(0, 100), (await sink.LoadCheckpointAsync("orders", CancellationToken.None))[Orders]);
    }
}
