namespace Sync.Cli.Tests;

/// <summary>A planted canary secret never appears in anything sync prints or writes.</summary>
public sealed class SecretRedactionTests : WorkspaceTests
{
    private const string Canary = "canary-7f3a9c-not-for-eyes";

    [Theory]
    [InlineData("postgres", $"{{ type: postgres, connectionString: 'Host=127.0.0.1;Port=1;Username=sync;Password={Canary}', connectTimeout: 1s, retry: {{ maxAttempts: 1 }} }}")]
    [InlineData("redis", $"{{ type: redis, endpoints: ['127.0.0.1:1'], user: sync, password: '{Canary}', connectTimeout: 500ms, retry: {{ maxAttempts: 1 }} }}")]
    [InlineData("elasticsearch", $"{{ type: elasticsearch, urls: ['http://127.0.0.1:1'], apiKey: '{Canary}', requestTimeout: 1s, retry: {{ maxAttempts: 1 }} }}")]
    public async Task A_sink_that_cannot_connect_fails_without_showing_its_secret(string type, string sink)
    {
        var config = Workspace.Write($"{type}.yaml", $$"""
            sources:
              changelog: { type: file, path: examples/data/changelog.jsonl }
            sinks:
              target: {{sink}}
            materializers:
              customers: { source: changelog, topics: [persistent://public/default/db1.public.customers], sink: target, table: customers }
            """);

        var validate = await Workspace.Sync("validate", "--config", config);
        var run = await Workspace.Sync("run", "--config", config, "--log-level", "trace");
        var status = await Workspace.Sync("status", "--config", config);

        Assert.True(validate.ExitCode == 0, validate.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Equal(1, status.ExitCode);
        foreach (var output in new[] { validate, run, status })
        {
            Assert.DoesNotContain(Canary, output.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(Canary, output.Error, StringComparison.Ordinal);
        }

        Assert.All(Directory.GetFiles(Workspace.Directory, "*.jsonl", SearchOption.AllDirectories), file =>
            Assert.DoesNotContain(Canary, File.ReadAllText(file), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_pulsar_token_the_broker_refuses_is_never_shown_in_output_logs_or_dead_letters()
    {
        await using var broker = Testing.Pulsar.FakePulsarBroker.Start(new Testing.Pulsar.FakePulsarBrokerOptions { RequiredToken = "the-broker-wants-another-token" });
        var config = Workspace.Write("pulsar.yaml", $$"""
            sources:
              broker: { type: pulsar, serviceUrl: '{{broker.ServiceUrl}}', adminUrl: '{{broker.AdminUrl}}', token: '{{Canary}}' }
            sinks:
              local: { type: sqlite, path: x.db }
            materializers:
              customers: { source: broker, topics: [persistent://public/default/customers], sink: local, table: customers }
            """);

        var validate = await Workspace.Sync("validate", "--config", config);
        var run = await Workspace.Sync("run", "--config", config, "--log-level", "trace");
        var status = await Workspace.Sync("status", "--config", config);
        var dump = await Workspace.Sync("dump", "--config", config);

        Assert.True(validate.ExitCode == 0, validate.ToString());
        Assert.True(run.ExitCode != 0, run.ToString());
        foreach (var output in new[] { validate, run, status, dump })
        {
            Assert.DoesNotContain(Canary, output.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(Canary, output.Error, StringComparison.Ordinal);
        }

        Assert.All(Directory.GetFiles(Workspace.Directory, "*.jsonl", SearchOption.AllDirectories), file =>
            Assert.DoesNotContain(Canary, File.ReadAllText(file), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_secret_with_a_wrong_value_is_named_but_not_shown()
    {
        var config = Workspace.Write("bad.yaml", $$"""
            sources:
              changelog: { type: file, path: examples/data/changelog.jsonl }
            sinks:
              local: { type: sqlite, path: x.db }
            materializers:
              customers: { source: changelog, topics: [t], sink: local, table: customers }
            subjects:
              customer: { customers: { key: id } }
            erasure: { secret: 'short-{{Canary[..3]}}' }
            """);

        var result = await Workspace.Sync("validate", "--config", config);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("erasure.secret (***) must be at least 16 characters", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("short-", result.Error, StringComparison.Ordinal);
    }
}
