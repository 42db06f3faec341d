using System.Net;
using StackExchange.Redis;
using Sync.Pulsar;
using Sync.Sinks.Tests.Postgres;
using Sync.Sinks.Tests.Redis;

namespace Sync.Cli.Tests;

/// <summary>A sink outage under a running <c>sync run</c>: the materializer reports itself degraded
/// (with the sink's error and since when) while the batch is retried, and is running again with
/// nothing lost once the server is back.</summary>
public sealed class SinkOutageHealthTests : PulsarCliFixture
{
    private static readonly HttpClient Http = new();

    [Fact]
    public async Task While_the_redis_server_is_down_healthz_says_degraded_and_readyz_fails_then_both_recover_and_every_change_is_there()
    {
        await using var redis = await RedisServerProcess.StartAsync();

        // The connect timeout only has to be long enough for a live server on a loaded machine: the
        // outage is a killed server, whose port refuses the connection at once, and the sink fails
        // commands fast while disconnected (BacklogPolicy.FailFast), so no timeout detects it.
        var (result, seen, degraded) = await RunThroughOutageAsync(
            $"cache: {{ type: redis, endpoints: ['{redis.Endpoint}'], connectTimeout: 30s, retry: {{ maxAttempts: 2, initialDelay: 20ms, maxDelay: 50ms }} }}",
            "cache",
            redis.KillAsync,
            redis.StartAgainAsync);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["healthz 200 degraded", "readyz 503", "healthz 200 running", "readyz 200"], seen);
        Assert.Equal("degraded", degraded.GetProperty("status").GetString());
        var users = degraded.GetProperty("materializers")[0];
        Assert.StartsWith("redis sink 'cache'", users.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(users.TryGetProperty("since", out var since) && since.GetDateTimeOffset() <= DateTimeOffset.UtcNow, degraded.ToString());
        Assert.Contains("degraded", result.Error, StringComparison.Ordinal);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var database = connection.GetDatabase();
        for (var id = 1; id <= 10; id++)
        {
            Assert.Equal("v2", (string?)await database.HashGetAsync($"users:{id}", "name"));
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task While_the_postgres_server_is_down_the_materializer_is_degraded_and_after_it_returns_every_change_is_committed()
    {
        await using var postgres = await PostgresServerProcess.StartAsync();

        var (result, seen, degraded) = await RunThroughOutageAsync(
            $"pg: {{ type: postgres, connectionString: '{postgres.ConnectionString}', tls: disable, connectTimeout: 1s, retry: {{ maxAttempts: 2, initialDelay: 20ms, maxDelay: 50ms }} }}",
            "pg",
            postgres.StopAsync,
            postgres.StartAgainAsync);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["healthz 200 degraded", "readyz 503", "healthz 200 running", "readyz 200"], seen);
        Assert.StartsWith("postgres sink 'pg'", degraded.GetProperty("materializers")[0].GetProperty("error").GetString(), StringComparison.Ordinal);
        await using var connection = new Npgsql.NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT string_agg(id::text || '=' || name, ',' ORDER BY id) FROM users", connection);
        Assert.Equal(string.Join(',', Enumerable.Range(1, 10).Select(id => $"{id}=v2")), (string?)await command.ExecuteScalarAsync());
    }

    /// <summary>Runs <c>sync run</c> on one materializer writing to <paramref name="sinkName"/>: once
    /// ten creates are acknowledged, stops the server and publishes ten updates; once /healthz says
    /// degraded, starts the server again; ends when every update is acknowledged. Returns what the
    /// probes answered, in order, and the degraded /healthz body. A small retry budget in the sink
    /// makes the engine's own retry (beyond the sink's) part of the run.</summary>
    private async Task<(ProcessResult Result, List<string> Seen, JsonElement Degraded)> RunThroughOutageAsync(string sinkYaml, string sinkName, Func<Task> stop, Func<Task> startAgain)
    {
        var topic = NewTopic("sink-outage");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        for (var id = 1; id <= 10; id++)
        {
            await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "c", "v1", id);
        }

        var config = Workspace.Write("sync.yaml", $"""
            sources:
              broker: {Broker.SourceYaml()}
            sinks:
              {sinkYaml}
            materializers:
              users: {"{"} source: broker, topics: ['{topic}'], sink: {sinkName}, table: users, linger: 0ms {"}"}
            """);
        var seen = new List<string>();
        JsonElement? degraded = null;
        var phase = 0;

        var result = await RunServingMetricsUntilAsync(
            port =>
            {
                switch (phase)
                {
                    case 0 when AllAcknowledged(topic, "sync-users"):
                        stop().GetAwaiter().GetResult();
                        for (var id = 1; id <= 10; id++)
                        {
                            PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "u", "v2", 100 + id).GetAwaiter().GetResult();
                        }

                        phase = 1;
                        return false;
                    case 1 when Get(port, "/healthz") is { State: "degraded" } health:
                        seen.Add($"healthz {(int)health.Status} degraded");
                        seen.Add($"readyz {(int)Get(port, "/readyz")!.Value.Status}");
                        degraded = health.Body;
                        startAgain().GetAwaiter().GetResult();
                        phase = 2;
                        return false;
                    case 2 when Get(port, "/healthz") is { State: "running" } health && AllAcknowledged(topic, "sync-users"):
                        seen.Add($"healthz {(int)health.Status} running");
                        seen.Add($"readyz {(int)Get(port, "/readyz")!.Value.Status}");
                        return true;
                    default:
                        return false;
                }
            },
            "run", "--config", config);
        return (result, seen, degraded ?? default);
    }

    private static (HttpStatusCode Status, string State, JsonElement Body)? Get(int port, string path)
    {
        using var response = Http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}")).GetAwaiter().GetResult();
        var body = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult()).RootElement.Clone();
        return (response.StatusCode, body.GetProperty("materializers")[0].GetProperty("state").GetString()!, body);
    }
}
