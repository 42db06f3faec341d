using Npgsql;
using Sync.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>A users topic on the fake broker in this process, fed by a model of Debezium changes,
/// and a PostgreSQL table of the test's own (SYNC_TEST_POSTGRES, set by ./scripts/test.sh) that
/// <c>sync run</c> processes materialize it into; the table must end as the model says.</summary>
public abstract class ModelledUsersTopicFixture(string tablePrefix, int seed) : IAsyncLifetime
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly Dictionary<int, (string Name, long Lsn)?> _model = [];
    private readonly Random _random = new(seed);
    private long _lsn;
    private int _published;

    protected Workspace Workspace { get; } = new();

    protected string TableName { get; } = $"{tablePrefix}_{Guid.NewGuid():N}"[..20];

    protected string Topic { get; } = $"persistent://public/default/shop.public.users-{Guid.NewGuid():N}";

    protected FakePulsarBroker Broker { get; private set; } = null!;

    protected PulsarClient Client { get; private set; } = null!;

    /// <summary>Messages the broker has acknowledged receiving so far.</summary>
    protected int Published => Volatile.Read(ref _published);

    protected static string Postgres => TestServers.Postgres;

    public Task InitializeAsync()
    {
        Broker = FakePulsarBroker.Start();
        Client = new PulsarClient(new PulsarClientOptions { ServiceUrl = Broker.ServiceUrl });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Client.DisposeAsync();
        await Broker.DisposeAsync();
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {TableName}", connection);
        await drop.ExecuteNonQueryAsync();
        Workspace.Dispose();
    }

    /// <summary>Changes as Pulsar IO's Debezium source writes them (JSON keys, bare envelopes,
    /// deletes as op=d only), with creates, updates, deletes and re-creates. Sent in bursts of 100
    /// without waiting for each receipt, which keeps their order (one producer, one connection)
    /// and outpaces a consumer.</summary>
    /// <summary>sync.yaml: the topic through a <paramref name="subscriptionType"/> subscription into
    /// <see cref="TableName"/> on PostgreSQL, in batches of 50.</summary>
    protected string WriteConfig(string subscriptionType) => Workspace.Write("sync.yaml", $"""
        sources:
          broker:
            type: pulsar
            serviceUrl: {Broker.ServiceUrl}
            adminUrl: {Broker.AdminUrl}
            subscriptionType: {subscriptionType}
            initialPosition: earliest
            receiverQueueSize: 100
        sinks:
          pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable {"}"}
        materializers:
          users:
            source: broker
            topics: ['{Topic}']
            sink: pg
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

    protected List<string> Expected() =>
        [.. _model.Where(e => e.Value is not null).OrderBy(e => e.Key).Select(e => $"{e.Key}={e.Value!.Value.Name}")];

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
