using Snapshooter.Xunit;

namespace Sync.Cli.Tests;

public sealed class ValidateCommandTests : WorkspaceTests
{
    [Fact]
    public async Task The_quickstart_config_is_valid()
    {
        var result = await Workspace.Sync("validate", "--config", Workspace.Quickstart);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("ok", result.Output.Trim());
    }

    [Theory]
    [InlineData("quickstart.yaml")]
    [InlineData("pulsar.yaml")]
    public async Task Every_example_config_is_valid(string example)
    {
        var result = await Sync.Testing.Process.SyncProcess.RunWithEnvironmentAsync(
            Workspace.Directory,
            new Dictionary<string, string> { ["SYNC_ERASURE_SECRET"] = "example-secret-0123456789" },
            "validate", "--config", Path.Combine(Workspace.Examples, example));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("ok", result.Output.Trim());
    }

    [Fact]
    public async Task A_broken_config_lists_every_problem_with_line_and_field_and_exits_2()
    {
        var config = Workspace.Write("broken.yaml", """
            sources:
              changelog: { type: file, path: data/changelog.jsonl, follow: sometimes }
              bus: { type: kafka }
            sinks:
              local: { type: sqlite, path: ':memory:', busyTimeout: 5 }
            materializers:
              users:
                source: changelog
                topics: [persistent://public/default/db1.public.users]
                format: avro
                sink: lokal
                table: users
                batchSize: 1000000
              orders:
                source: changelog
                sink: local
                table: ''
                keyColumns: []
            subjects:
              customer:
                users: { key: id }
                invoices: { field: customer_id }
            """);

        var result = await Workspace.Sync("validate", "--config", config);

        Assert.Equal(2, result.ExitCode);
        Assert.Empty(result.Output);
        Snapshot.Match(result.Error);
    }

    /// <summary>A constant hash tag puts every key in one Redis Cluster slot (Redis Cluster specification,
    /// key distribution model: https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags):
    /// allowed, but warned about on a sink declared a cluster; a tag over a key column is not.</summary>
    [Fact]
    public async Task A_key_template_that_puts_every_key_in_one_cluster_slot_is_warned_about()
    {
        var config = Workspace.Write("one-slot.yaml", """
            sources:
              changelog: { type: file, path: data/changelog.jsonl }
            sinks:
              cache: { type: redis, endpoints: ['127.0.0.1:1'], cluster: true }
              single: { type: redis, endpoints: ['127.0.0.1:1'] }
            materializers:
              users:
                source: changelog
                topics: [persistent://public/default/db1.public.users]
                sink: cache
                table: users
                keyColumns: [id]
                target: { keyTemplate: '{{users}}:{id}' }
              orders:
                source: changelog
                topics: [persistent://public/default/db1.public.orders]
                sink: cache
                table: orders
                keyColumns: [id]
                target: { keyTemplate: 'orders:{{{id}}}' }
              standalone:
                source: changelog
                topics: [persistent://public/default/db1.public.users]
                sink: single
                table: users
                keyColumns: [id]
                target: { keyTemplate: '{{users}}:{id}' }
            """);

        var result = await Workspace.Sync("validate", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("ok", result.Output.Trim());
        Assert.Equal(
            "warning: sinks.cache: materializers.users.target.keyTemplate ({{users}}:{id}) has the constant hash tag {users}: "
            + "Redis Cluster hashes only the tag, so every key of the target lands in one slot, on one primary, which defeats the cluster; "
            + "put a key column inside the hash tag, or leave the tag out, unless one slot is intended",
            result.Error.Trim());
    }

    [Fact]
    public async Task A_missing_config_file_is_a_usage_error()
    {
        var result = await Workspace.Sync("validate", "--config", "nope.yaml");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("nope.yaml: cannot read the config file", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_required_option_is_a_usage_error()
    {
        var result = await Workspace.Sync("run");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Option '--config' is required.", result.Error, StringComparison.Ordinal);
    }
}
