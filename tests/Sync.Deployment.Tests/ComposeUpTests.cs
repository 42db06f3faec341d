using System.Globalization;
using System.Text.Json.Nodes;
using Sync.Testing.Docker;
using Sync.Testing.Process;

namespace Sync.Deployment.Tests;

/// <summary>`docker compose up` for real, where a Docker engine runs (a developer's machine, a hosted
/// CI): the seeded rows reach every sink, an insert follows, and an erasure leaves no trace in the
/// sinks or the compacted topics. Skipped elsewhere with the reason printed; it has not run on a
/// machine without Docker, which is where it was written.</summary>
public sealed class ComposeUpTests : IAsyncLifetime
{
    private readonly string _project = $"sync-compose-test-{Guid.NewGuid():N}"[..26];
    private readonly string _work = Directory.CreateTempSubdirectory("sync-compose-up-").FullName;
    private readonly Dictionary<string, string> _environment = [];

    public Task InitializeAsync()
    {
        // Free host ports, so that the test runs next to whatever the machine already serves.
        foreach (var name in new[] { "SOURCE_PG_PORT", "SINK_PG_PORT", "PULSAR_PORT", "PULSAR_ADMIN_PORT", "REDIS_PORT", "ES_PORT" })
        {
            _environment[name] = LoopbackPort.Unused().ToString(CultureInfo.InvariantCulture);
        }

        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (File.Exists("/var/run/docker.sock") || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")))
        {
            await Compose(TimeSpan.FromMinutes(5), "down", "-v", "--remove-orphans");
        }

        Directory.Delete(_work, recursive: true);
    }

    [DockerFact]
    public async Task Docker_compose_up_carries_the_source_into_every_sink_and_erase_removes_a_customer()
    {
        var up = await Compose(TimeSpan.FromMinutes(20), "up", "-d", "--build", "--wait", "--wait-timeout", "900");
        Assert.True(up.ExitCode == 0, up + await Logs());

        try
        {
            // The snapshot of the seed, in every sink.
            await Until(async () => await Warehouse("SELECT count(*) FROM users") == "4" && await Warehouse("SELECT count(*) FROM orders") == "5");
            await Until(async () => await Cache("HGET", "tenant_acme:user:1001", "email") == "ada@acme.example");
            await Until(async () => await SearchCount("user_id:1001") == 2);
            Assert.Equal("120.50", await Warehouse("SELECT total::text FROM orders WHERE tenant = 'tenant_acme' AND id = 5001"));

            // An insert in the source follows.
            await Source("INSERT INTO tenant_acme.users (email, name, country) VALUES ('alan@acme.example', 'Alan Turing', 'GB')");
            await Until(async () => await Cache("HGET", "tenant_acme:user:1003", "name") == "Alan Turing");

            // Ada is deleted in the source, then erased.
            await Source("DELETE FROM tenant_acme.users WHERE id = 1001");
            await Until(async () => await Warehouse("SELECT count(*) FROM orders WHERE user_id = 1001") == "0" && await SearchCount("user_id:1001") == 0);
            var erase = await Compose(TimeSpan.FromMinutes(10), "exec", "-T", "sync", "sync", "erase", "--config", "/config/sync.yaml",
                "--subject", "customer", "--key", "1001", "--requested-by", "compose-test", "--report", "/data/erasure-1001.json");
            var copy = await Compose(TimeSpan.FromMinutes(1), "cp", "sync:/data/erasure-1001.json", Path.Combine(_work, "erasure.json"));
            Assert.True(copy.ExitCode == 0, erase.ToString() + copy);
            var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_work, "erasure.json")))!;
            var residue = report["topics"]!.AsArray().Sum(t => (long)t!["rawResidue"]!);

            Assert.True(erase.ExitCode == (residue > 0 ? 3 : 0), erase.ToString());
            Assert.All(report["topics"]!.AsArray(), t => Assert.Equal(0L, (long)t!["compactedViewMatches"]!));
            Assert.All(report["sinks"]!.AsArray(), s => Assert.Equal(0L, (long)s!["remaining"]!));
            Assert.Equal("0", await Warehouse("SELECT count(*) FROM users WHERE id = 1001"));
            Assert.Equal(string.Empty, await Cache("HGET", "tenant_acme:user:1001", "email"));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{await Logs()}", e);
        }
    }

    private Task<string> Warehouse(string sql) => Output("exec", "-T", "sink-postgres", "psql", "-U", "sync", "-d", "warehouse", "-tAc", sql);

    private Task<string> Cache(params string[] command) => Output(["exec", "-T", "redis", "redis-cli", .. command]);

    private async Task<long> SearchCount(string query)
    {
        var text = await Output("exec", "-T", "elasticsearch", "curl", "-s", "-u", "elastic:sync-demo", $"http://localhost:9200/orders/_count?q={query}");
        return JsonNode.Parse(text)?["count"]?.GetValue<long>() ?? -1;
    }

    private async Task Source(string sql)
    {
        var result = await Compose(TimeSpan.FromMinutes(1), "exec", "-T", "source-postgres", "psql", "-U", "postgres", "-d", "shop", "-v", "ON_ERROR_STOP=1", "-c", sql);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private async Task<string> Output(params string[] args)
    {
        var result = await Compose(TimeSpan.FromMinutes(1), args);
        return result.ExitCode == 0 ? result.Output.Trim() : $"(exit {result.ExitCode}: {result.Error.Trim()})";
    }

    private static async Task Until(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the stack did not reach the expected state within 5 minutes");
            }

            await Task.Delay(1000);
        }
    }

    private async Task<string> Logs() =>
        (await Compose(TimeSpan.FromMinutes(1), "logs", "--no-color", "--tail", "60")).Output;

    private Task<ProcessResult> Compose(TimeSpan timeout, params string[] args) =>
        SyncProcess.RunAsync("docker", ["compose", "-p", _project, "-f", Path.Combine(ComposeStack.Folder, "docker-compose.yml"), .. args], ComposeStack.Folder, timeout, _environment);
}
