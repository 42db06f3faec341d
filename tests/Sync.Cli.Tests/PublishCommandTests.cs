using System.Text.Json.Nodes;

namespace Sync.Cli.Tests;

public sealed class PublishCommandTests : PulsarCliFixture
{
    private const string Customers = "persistent://public/default/db1.public.customers";
    private const string Orders = "persistent://public/default/db2.sales.orders";

    [Fact]
    public async Task The_quickstart_changelog_published_to_pulsar_materializes_to_the_same_rows_as_the_file_and_dumps_back_to_the_file()
    {
        var changelog = Path.Combine(Workspace.Examples, "data", "changelog.jsonl");
        var config = Workspace.Write("pulsar.yaml", $$"""
            sources:
              broker: {{Broker.SourceYaml()}}
            sinks:
              local: { type: sqlite, path: pulsar.db }
            materializers:
              customers: { source: broker, topics: ['{{Customers}}'], sink: local, table: customers, linger: 0ms }
              orders: { source: broker, topicPattern: 'persistent://public/default/db2\.sales\.orders', sink: local, table: orders, linger: 0ms }
            """);

        var published = await Workspace.Sync("publish", "--config", config, "--file", changelog);

        Assert.True(published.ExitCode == 0, published.ToString());
        Assert.Contains("published 18 messages from changelog.jsonl to source broker", published.Output, StringComparison.Ordinal);
        Assert.Matches(@"db2\.sales\.orders  8 messages, 1 tombstones", published.Output);
        var fromFile = await Workspace.Sync("run", "--config", Workspace.Quickstart);
        Assert.True(fromFile.ExitCode == 0, fromFile.ToString());

        var fromPulsar = await RunUntilAsync(() => AllAcknowledged(Customers, "sync-customers") && AllAcknowledged(Orders, "sync-orders"), "run", "--config", config);

        Assert.True(fromPulsar.ExitCode == 0, fromPulsar.ToString());
        var pulsarDb = Workspace.File("pulsar.db");
        Assert.NotEmpty(SqliteTables.Rows(Workspace.QuickstartDb, "customers"));
        Assert.Equal(SqliteTables.Rows(Workspace.QuickstartDb, "customers"), SqliteTables.Rows(pulsarDb, "customers"));
        Assert.Equal(SqliteTables.Rows(Workspace.QuickstartDb, "orders"), SqliteTables.Rows(pulsarDb, "orders"));

        // Every topic dumps back to its lines of the file; only the publish times are new.
        var original = File.ReadAllLines(changelog);
        foreach (var topic in original.Select(l => JsonNode.Parse(l)!["topic"]!.GetValue<string>()).Distinct())
        {
            var dump = await Workspace.Sync("dump", "--config", config, "--topic", topic);
            Assert.True(dump.ExitCode == 0, dump.ToString());
            var expected = original.Where(l => JsonNode.Parse(l)!["topic"]!.GetValue<string>() == topic).Select(WithoutPublishTime).ToList();
            Assert.Equal(expected, dump.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(WithoutPublishTime).ToList());
        }
    }

    [Fact]
    public async Task A_file_with_an_invalid_line_publishes_nothing_and_names_the_line()
    {
        var file = Workspace.Write("broken.jsonl", string.Join('\n',
            $$$"""{"topic":"{{{Customers}}}","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"op":"c"}}""",
            """{"topic":"persistent://public/default/t","key":"not base64!","keyBase64":true,"value":null}""",
            """{"value":{}}""") + "\n");
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{Customers}'], sink: local, table: users {"}"}
            """);

        var result = await Workspace.Sync("publish", "--config", config, "--file", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("broken.jsonl has 2 invalid line(s); nothing was published", result.Error, StringComparison.Ordinal);
        Assert.Contains("broken.jsonl:2: \"key\" is not valid base64", result.Error, StringComparison.Ordinal);
        Assert.Contains("broken.jsonl:3: \"topic\" is required", result.Error, StringComparison.Ordinal);
        Assert.Null(Broker.FindTopic(Customers));
    }

    [Fact]
    public async Task Publishing_needs_a_pulsar_source()
    {
        var result = await Workspace.Sync("publish", "--config", Workspace.Quickstart, "--file", "examples/data/changelog.jsonl");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("the config has no source that can be published to (a pulsar source)", result.Error, StringComparison.Ordinal);
    }

    private static string WithoutPublishTime(string line)
    {
        var node = JsonNode.Parse(line)!.AsObject();
        node.Remove("publishTime");
        return node.ToJsonString();
    }
}
