using Npgsql;
using StackExchange.Redis;

namespace Sync.Compliance.Tests.Steps;

/// <summary>The steps that touch a sink, on real PostgreSQL and Redis servers (SYNC_TEST_POSTGRES,
/// SYNC_TEST_REDIS, started by ./scripts/test.sh).</summary>
public sealed class SinkStepsOnServersTests
{
    private static string Postgres => TestServers.Postgres;

    private static string Redis => TestServers.Redis;

    [Theory]
    [InlineData("postgres")]
    [InlineData("redis")]
    public async Task The_sink_erase_deletes_the_subjects_rows_and_the_verification_finds_none_while_the_others_stay(string type)
    {
        var name = $"erase_{type}_{Guid.NewGuid():N}"[..24];
        if (type == "postgres")
        {
            await using var connection = new NpgsqlConnection(Postgres);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE SCHEMA {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        var fixture = new StepFixture(type == "postgres"
            ? $"{{ type: postgres, connectionString: '{Postgres}', tls: disable, schema: {name}, stateSchema: {name}_state }}"
            : $"{{ type: redis, endpoints: ['{Redis}'], keyPrefix: '{name}:sync:' }}");
        await fixture.InitializeAsync();
        try
        {
            var scope = await fixture.ScopeAsync(["1"]);
            var others = await fixture.ScopeAsync(["2"]);
            var othersBefore = await RowsAsync(others);

            var run = await fixture.ThroughVerifyAsync(scope);

            Assert.Equal(1, run.Plan.RowsBefore["customers"]);
            Assert.Equal(1, run.Plan.RowsBefore["orders"]);
            Assert.Equal(1, run.Sinks.Deleted["customers"]);
            Assert.Equal(1, run.Sinks.Deleted["orders"]);
            Assert.All(run.Verification.Sinks, s => Assert.Equal(0, s.Remaining));
            Assert.True(run.Verification.IsClean(dryRun: false));
            Assert.Equal(othersBefore, await RowsAsync(others));
            Assert.True(othersBefore.Sum() > 0);
        }
        finally
        {
            await fixture.DisposeAsync();
            await DropAsync(type, name);
        }
    }

    private static async Task<List<long>> RowsAsync(ErasureScope scope)
    {
        var rows = new List<long>();
        foreach (var bound in scope.Bindings)
        {
            rows.Add((await SubjectRows.CountAsync(scope.SinkOf(bound), bound, scope.Keys, CancellationToken.None)).Total);
        }

        return rows;
    }

    private static async Task DropAsync(string type, string name)
    {
        if (type == "postgres")
        {
            await using var connection = new NpgsqlConnection(Postgres);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {name} CASCADE; DROP SCHEMA IF EXISTS {name}_state CASCADE", connection);
            await drop.ExecuteNonQueryAsync();
            return;
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(Redis);
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        foreach (var key in server.Keys(pattern: $"{name}*"))
        {
            await redis.GetDatabase().KeyDeleteAsync(key);
        }
    }
}
