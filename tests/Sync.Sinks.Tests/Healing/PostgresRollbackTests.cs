using Npgsql;
using Sync.Sinks.Tests.Postgres;

namespace Sync.Sinks.Tests.Healing;

/// <summary>PostgreSQL going back in time: every table of the test's schema and state schema copied
/// aside and later put back in one transaction (the state a restore of an older backup, or a
/// failover to a replica that was behind, leaves: rows and checkpoints together), or emptied.</summary>
public sealed class PostgresRollbackTests : StoppingSinkRollbackTests
{
    private readonly string _schema = $"h_{Guid.NewGuid():N}"[..18];

    private string StateSchema => _schema + "_sync";

    private string CopySchema => _schema + "_copy";

    protected override string SinkYaml => TargetYaml(_schema);

    protected override string Table => "users";

    private static async Task<NpgsqlConnection> ConnectAsync()
    {
        var connection = new NpgsqlConnection(PostgresTestDb.ServerConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public override async Task DisposeAsync()
    {
        await using (var connection = await ConnectAsync())
        {
            await ExecuteAsync(connection, $"DROP SCHEMA IF EXISTS {_schema} CASCADE; DROP SCHEMA IF EXISTS {StateSchema} CASCADE; DROP SCHEMA IF EXISTS {CopySchema} CASCADE");
        }

        await base.DisposeAsync();
    }

    private async Task<List<(string Schema, string Table)>> TablesAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE' ORDER BY 1, 2", connection);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [_schema, StateSchema] });
        var tables = new List<(string, string)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            tables.Add((reader.GetString(0), reader.GetString(1)));
        }

        return tables;
    }

    protected override Task<IReadOnlyList<string>> RowsAsync() => ReadRowsAsync(PostgresTestDb.ServerConnectionString, _schema);

    /// <summary>A sink <c>target</c> (a block under <c>sinks:</c>) on the test server, its tables in
    /// <paramref name="schema"/> and its state in <paramref name="schema"/><c>_sync</c>.</summary>
    internal static string TargetYaml(string schema) => $"""
          target:
            type: postgres
            connectionString: "{PostgresTestDb.ServerConnectionString}"
            schema: {schema}
            stateSchema: {schema}_sync
            tls: disable
        """;

    /// <summary>The <c>users</c> table of the schema as <c>id=name</c> lines in id order (none before it exists).
    /// No pool: a pooled connection would not survive a server restart between two calls.</summary>
    internal static async Task<IReadOnlyList<string>> ReadRowsAsync(string connectionString, string schema)
    {
        try
        {
            return await PostgresTestDb.RowsAsync(connectionString, $"SELECT id::text || '=' || name FROM {schema}.users ORDER BY id");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return [];
        }
    }

    protected override async Task SnapshotAsync()
    {
        await using var connection = await ConnectAsync();
        await ExecuteAsync(connection, $"DROP SCHEMA IF EXISTS {CopySchema} CASCADE; CREATE SCHEMA {CopySchema}");
        foreach (var (schema, table) in await TablesAsync(connection))
        {
            await ExecuteAsync(connection, $"CREATE TABLE {CopySchema}.\"{schema}__{table}\" AS TABLE {schema}.\"{table}\"");
        }
    }

    protected override async Task RestoreAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var connection = await ConnectAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            try
            {
                foreach (var (schema, table) in await TablesAsync(connection))
                {
                    await ExecuteAsync(connection, $"TRUNCATE {schema}.\"{table}\"; INSERT INTO {schema}.\"{table}\" SELECT * FROM {CopySchema}.\"{schema}__{table}\"");
                }

                await transaction.CommitAsync();
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected && attempt < 5)
            {
                // A running process's batch took its locks in the other order: the restore goes again.
            }
        }
    }

    protected override async Task EmptyAsync()
    {
        await using var connection = await ConnectAsync();
        foreach (var (schema, table) in await TablesAsync(connection))
        {
            await ExecuteAsync(connection, $"TRUNCATE {schema}.\"{table}\"");
        }
    }

    // The checkpoints table keeps positions by materializer name, so it also holds those of topics a
    // materializer of the same name reads elsewhere (another deployment on the same database, or this
    // one before its topics changed); they go back whenever that one is rebuilt, which this one lost
    // nothing by.
    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task Another_topics_checkpoint_going_back_is_no_rollback(string subscriptionType)
    {
        const string other = "persistent://public/default/read-elsewhere";
        await using var run = Start(Config(subscriptionType));
        await PublishFirstPartAsync();
        await UntilSinkHoldsModelAsync();

        // Read back with every batch of the second part.
        await SetCheckpointAsync(other, new StreamPosition(1, 40));
        await PublishSecondPartAsync();
        await UntilSinkHoldsModelAsync();
        await SetCheckpointAsync(other, new StreamPosition(1, 0));
        // Read back again before the third part's batch.
        await PublishThirdPartAsync();
        await UntilSinkHoldsModelAsync();

        Assert.Equal(0, run.Counters.Rollbacks);
        Assert.Equal(0, run.Counters.Replayed);
        Assert.Equal(new StreamPosition(1, 0).ToString(), await PostgresTestDb.ScalarAsync($"SELECT position FROM {StateSchema}.checkpoints WHERE materializer = 'users' AND stream = '{other}'"));
    }

    private async Task SetCheckpointAsync(string stream, StreamPosition position)
    {
        await using var connection = await ConnectAsync();
        await ExecuteAsync(connection, $"INSERT INTO {StateSchema}.checkpoints (materializer, stream, position) VALUES ('users', '{stream}', '{position}') ON CONFLICT (materializer, stream) DO UPDATE SET position = excluded.position");
    }

    [Fact]
    public async Task Status_shows_the_materializer_healing_until_the_replay_caught_up()
    {
        var config = Config("failover");
        await using var run = Start(config);
        await PublishAroundASnapshotAsync();
        await RestoreAsync();

        // Writes to the table wait behind this lock, so the replay cannot catch up while it is held.
        await using (var holder = await ConnectAsync())
        {
            await using var transaction = await holder.BeginTransactionAsync();
            await ExecuteAsync(holder, $"LOCK TABLE {_schema}.users IN EXCLUSIVE MODE");
            run.PassCheckInterval();
            await Poll.UntilAsync(() => run.Counters.Healing && run.State == MaterializerState.Healing, TimeSpan.FromSeconds(60));
            await Poll.UntilAsync(async () => (await StatusAsync(config)).All(s => s.Healing), TimeSpan.FromSeconds(60));
            await transaction.CommitAsync();
        }

        await run.UntilHealedAsync();
        Assert.Equal(Expected, await RowsAsync());
        Assert.DoesNotContain(await StatusAsync(config), s => s.Healing);
    }
}
