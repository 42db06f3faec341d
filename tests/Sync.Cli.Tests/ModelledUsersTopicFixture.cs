using Npgsql;
using Sync.Pulsar;
using Sync.Testing.Fixtures;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>A users topic on the fake broker in this process, fed by a model of Debezium changes,
/// and a PostgreSQL table of the test's own (SYNC_TEST_POSTGRES, set by ./scripts/test.sh) that
/// <c>sync run</c> processes materialize it into; the table must end as the model says.</summary>
public abstract class ModelledUsersTopicFixture(string tablePrefix, int seed) : FakeBrokerTest
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly Dictionary<int, (string Name, long Lsn)?> _model = [];
    private readonly Random _random = new(seed);
    private long _lsn;
    private int _published;

    protected Workspace Workspace { get; } = new();

    protected string TableName { get; } = $"{tablePrefix}_{Guid.NewGuid():N}"[..20];

    /// <summary>The PostgreSQL sink's state schema, the test's own: other test classes run materializers
    /// named <c>users</c> on the same database at the same time, and a heal one of them marks in a
    /// shared state schema would make these runs replay too.</summary>
    private string StateSchema => TableName + "_sync";

    protected string Topic { get; } = $"persistent://public/default/shop.public.users-{Guid.NewGuid():N}";

    /// <summary>Messages the broker has acknowledged receiving so far.</summary>
    protected int Published => Volatile.Read(ref _published);

    protected static string Postgres => TestServers.Postgres;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {TableName}; DROP SCHEMA IF EXISTS {StateSchema} CASCADE", connection);
        await drop.ExecuteNonQueryAsync();
        Workspace.Dispose();
    }

    /// <summary>Changes as Pulsar IO's Debezium source writes them (JSON keys, bare envelopes,
    /// deletes as op=d only), with creates, updates, deletes and re-creates. Sent in bursts of 100
    /// without waiting for each receipt, which keeps their order (one producer, one connection)
    /// and outpaces a consumer.</summary>
    /// <summary>sync.yaml: the topic through a <paramref name="subscriptionType"/> subscription into
    /// <see cref="TableName"/> on PostgreSQL (sink <c>pg</c>), or in the SQLite file
    /// <paramref name="sqlite"/> when given (sink <c>file</c>), in batches of 50.</summary>
    protected string WriteConfig(string subscriptionType, string? sqlite = null) => Workspace.Write("sync.yaml", $"""
        sources:
          broker: {Broker.SourceYaml($"subscriptionType: {subscriptionType}", "initialPosition: earliest", "receiverQueueSize: 100")}
        sinks:
          {(sqlite is null ? $"pg: {{ type: postgres, connectionString: '{Postgres}', tls: disable, stateSchema: {StateSchema} }}" : $"file: {{ type: sqlite, path: '{sqlite}' }}")}
        materializers:
          users:
            source: broker
            topics: ['{Topic}']
            sink: {(sqlite is null ? "pg" : "file")}
            table: {TableName}
            batchSize: 50
        """);

    protected async Task PublishAsync(int events, int keys)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });
        var burst = new List<Task>(100);
        for (var i = 0; i < events; i++)
        {
            var id = _random.Next(keys);
            var lsn = ++_lsn;
            var exists = _model.GetValueOrDefault(id) is not null;
            var op = !exists ? "c" : _random.Next(5) == 0 ? "d" : "u";
            var name = $"user {id} v{lsn}";
            var image = $"{{\"id\":{id},\"name\":\"{name}\"}}";
            var before = exists ? $"{{\"id\":{id},\"name\":\"{_model[id]!.Value.Name}\"}}" : "null";
            var after = op == "d" ? "null" : image;
            var value = string.Create(CultureInfo.InvariantCulture,
                $"{{\"before\":{before},\"after\":{after},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
            burst.Add(producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) }).AsTask());
            _model[id] = op == "d" ? null : (name, lsn);
            if (burst.Count == 100 || i == events - 1)
            {
                await Task.WhenAll(burst);
                Interlocked.Add(ref _published, burst.Count);
                burst.Clear();
            }
        }
    }

    /// <summary>Starts <c>sync run</c> of the config as a process of its own.</summary>
    private protected RunningSync Started(string config) => new(SyncProcess.Start(Workspace.Directory, "run", "--config", config));

    /// <summary>SIGTERM, then waits for the run to finish its batch in hand and exit with 0.</summary>
    private protected static async Task StopAsync(RunningSync running)
    {
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", running.Process.Id.ToString(CultureInfo.InvariantCulture)])!)
        {
            await kill.WaitForExitAsync();
        }
        using var exit = new CancellationTokenSource(Patience);
        await running.Process.WaitForExitAsync(exit.Token);
        // The exit event comes before the last output lines are read; this waits for them.
        running.Process.WaitForExit();
        Assert.True(running.Process.ExitCode == 0, running.Output());
    }

    protected List<string> Expected() =>
        [.. _model.Where(e => e.Value is not null).OrderBy(e => e.Key).Select(e => $"{e.Key}={e.Value!.Value.Name}")];

    /// <summary>The table in the SQLite file, as <see cref="Expected"/> lists it (none before it exists).</summary>
    protected List<string> Table(string sqlite)
    {
        if (!File.Exists(sqlite) || SqliteTables.Count(sqlite, $"SELECT count(*) FROM sqlite_master WHERE name = '{TableName}'") == 0)
        {
            return [];
        }

        return [.. SqliteTables.Rows(sqlite, TableName).Select(row => row.Split('|')).Select(cells => $"{cells[0]["id=".Length..]}={cells[1]["name=".Length..]}")];
    }

    protected List<string> Table()
    {
        using var connection = new NpgsqlConnection(Postgres);
        connection.Open();
        using var exists = new NpgsqlCommand($"SELECT to_regclass('{TableName}') IS NOT NULL", connection);
        if (!(bool)exists.ExecuteScalar()!)
        {
            return [];
        }

        using var select = new NpgsqlCommand($"SELECT id, name FROM {TableName} ORDER BY id", connection);
        using var reader = select.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add($"{reader.GetInt64(0)}={reader.GetString(1)}");
        }

        return rows;
    }
}
