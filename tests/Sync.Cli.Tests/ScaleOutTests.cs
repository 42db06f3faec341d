using System.Globalization;
using System.Text;
using Npgsql;
using Sync.Pulsar;
using Sync.Testing.Files;
using Sync.Testing.Process;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>Two <c>sync run</c> processes on one config share a subscription: Key_Shared splits the
/// keys between them, Failover keeps one active and one standing by. Killing one mid-stream leaves
/// the other to finish, and the table ends exactly as the changes say. Real processes, the fake
/// broker in this process, a real PostgreSQL (SYNC_TEST_POSTGRES, set by ./scripts/test.sh).</summary>
public sealed class ScaleOutTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly Workspace _workspace = new();
    private readonly string _table = $"scale_{Guid.NewGuid():N}"[..20];
    private readonly string _topic = $"persistent://public/default/shop.public.users-{Guid.NewGuid():N}";
    private readonly Dictionary<int, (string Name, long Lsn)?> _model = [];
    private readonly Random _random = new(11);
    private FakePulsarBroker _broker = null!;
    private PulsarClient _client = null!;
    private long _lsn;

    private static string Postgres => Environment.GetEnvironmentVariable("SYNC_TEST_POSTGRES") is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException("SYNC_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a throwaway PostgreSQL");

    public Task InitializeAsync()
    {
        _broker = FakePulsarBroker.Start();
        _client = new PulsarClient(new PulsarClientOptions { ServiceUrl = _broker.ServiceUrl });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _broker.DisposeAsync();
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {_table}", connection);
        await drop.ExecuteNonQueryAsync();
        _workspace.Dispose();
    }

    [Theory]
    [InlineData("key-shared")]
    [InlineData("failover")]
    public async Task Two_processes_share_the_subscription_and_the_survivor_of_a_kill_ends_with_the_exact_state(string subscriptionType)
    {
        await PublishAsync(3_000, keys: 200);
        var config = _workspace.Write("sync.yaml", $"""
            sources:
              broker:
                type: pulsar
                serviceUrl: {_broker.ServiceUrl}
                adminUrl: {_broker.AdminUrl}
                subscriptionType: {subscriptionType}
                initialPosition: earliest
                receiverQueueSize: 100
            sinks:
              pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable {"}"}
            materializers:
              users:
                source: broker
                topics: ['{_topic}']
                sink: pg
                table: {_table}
                batchSize: 50
            """);

        using var first = SyncProcess.Start(_workspace.Directory, "run", "--config", config);
        using var second = SyncProcess.Start(_workspace.Directory, "run", "--config", config);
        try
        {
            await Poll.UntilAsync(() => _broker.DeliveredPerConsumer(_topic, "sync-users").Count == 2, Patience);
            await Poll.UntilAsync(() => RowCount() > 0, Patience);
            if (subscriptionType == "key-shared")
            {
                // Both processes work: the broker splits the keys between them.
                await Poll.UntilAsync(() => _broker.DeliveredPerConsumer(_topic, "sync-users").Values.All(d => d > 0), Patience);
            }

            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
            await PublishAsync(2_000, keys: 200);

            await Poll.UntilAsync(() => Table().SequenceEqual(Expected()), Patience);
            Assert.False(second.HasExited, "the surviving process stopped");
        }
        finally
        {
            foreach (var process in new[] { first, second }.Where(p => !p.HasExited))
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        Assert.Equal(Expected(), Table());
    }

    /// <summary>Changes as Pulsar IO's Debezium source writes them (base64 JSON keys, bare
    /// envelopes, deletes as op=d only), with creates, updates, deletes and re-creates.</summary>
    private async Task PublishAsync(int events, int keys)
    {
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = _topic });
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
            await producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) });
            _model[id] = op == "d" ? null : (name, lsn);
        }
    }

    private List<string> Expected() =>
        [.. _model.Where(e => e.Value is not null).OrderBy(e => e.Key).Select(e => $"{e.Key}={e.Value!.Value.Name}")];

    private List<string> Table()
    {
        using var connection = new NpgsqlConnection(Postgres);
        connection.Open();
        using var exists = new NpgsqlCommand($"SELECT to_regclass('{_table}') IS NOT NULL", connection);
        if (!(bool)exists.ExecuteScalar()!)
        {
            return [];
        }

        using var select = new NpgsqlCommand($"SELECT id, name FROM {_table} ORDER BY id", connection);
        using var reader = select.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add($"{reader.GetInt64(0)}={reader.GetString(1)}");
        }

        return rows;
    }

    private int RowCount() => Table().Count;
}
