using Sync.Sources.Pulsar;
using P = Sync.Sources.Pulsar.PulsarDeadLetterTopic.Properties;

namespace Sync.Cli.Tests;

public sealed class PulsarDeadLetterTests : PulsarCliFixture
{
    [Fact]
    public async Task Undecodable_and_unwritable_messages_go_to_the_sync_dlq_topic_with_bytes_key_and_origin_and_everything_is_acknowledged()
    {
        var topic = NewTopic("dlq-users");
        await using var producer = await Client.CreateProducerAsync(new Sync.Pulsar.ProducerOptions { Topic = topic });
        await PublishAsync(producer, "1", "c", "a", 10);
        var undecodable = await PublishAsync(producer, "2", "x", "b", 11);
        var unwritable = await PublishAsync(producer, "null", "c", "n", 12);
        await PublishAsync(producer, "3", "c", "c", 13);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
            """);
        var dlq = topic + PulsarDeadLetterTopic.Suffix;

        var result = await RunUntilAsync(
            () => AllAcknowledged(topic, "sync-users") && Broker.FindTopic(dlq)?.Entries.Count == 2,
            "run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(["id=1|name=a", "id=3|name=c"], SqliteTables.Rows(Database, "users"));
        Assert.Contains($"dead letters of users: 2 in this run, written to topic <topic>-sync-dlq on source broker", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Workspace.File("users.deadletter.jsonl")));

        var originals = (await ReadAllAsync(topic)).ToDictionary(m => m.Id);
        var letters = await ReadAllAsync(dlq);
        Assert.Equal(2, letters.Count);
        foreach (var (letter, origin, stage) in new[] { (letters[0], undecodable, "decode"), (letters[1], unwritable, "apply") })
        {
            var original = originals[origin];
            Assert.Equal(original.Data.ToArray(), letter.Data.ToArray());
            Assert.Equal(original.Key, letter.Key);
            Assert.True(letter.KeyIsBase64);
            Assert.Equal(original.EventTimeMs, letter.EventTimeMs);
            var properties = letter.Properties.ToDictionary(p => p.Key, p => p.Value);
            Assert.Equal("test", properties["origin"]);
            Assert.Equal(stage, properties[P.Stage]);
            Assert.Equal("users", properties[P.Materializer]);
            Assert.Equal(topic, properties[P.OriginTopic]);
            Assert.Equal($"{origin.LedgerId}:{origin.EntryId}:-1", properties[P.OriginMessageId]);
            Assert.Equal(original.PublishTimeMs.ToString(System.Globalization.CultureInfo.InvariantCulture), properties[P.OriginPublishTime]);
            Assert.False(string.IsNullOrWhiteSpace(properties[P.Reason]));
        }

        Assert.Contains("key column \"id\" is NULL", letters[1].Properties.Single(p => p.Key == P.Reason).Value, StringComparison.Ordinal);
        // The replay subscription exists from the first letter on, so retention cannot drop letters nobody read yet.
        Assert.NotNull(Broker.FindTopic(dlq)!.FindSubscription(PulsarDeadLetterTopic.ReplaySubscription("users")));
    }

    [Fact]
    public async Task A_message_is_not_acknowledged_while_its_dead_letter_cannot_be_published_and_a_rerun_delivers_both()
    {
        var topic = NewTopic("dlq-fail");
        await using var producer = await Client.CreateProducerAsync(new Sync.Pulsar.ProducerOptions { Topic = topic });
        var undecodable = await PublishAsync(producer, "2", "x", "b", 11);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
            """);
        var dlq = topic + PulsarDeadLetterTopic.Suffix;
        Broker.Faults.FailNextSends(1);

        var failed = await RunUntilAsync(() => false, "run", "--config", config);

        Assert.Equal(1, Broker.Faults.Fired("FailNextSends"));
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("dead letters of users could not be published", failed.Error, StringComparison.Ordinal);
        Assert.False(Broker.FindTopic(topic)!.FindSubscription("sync-users")!.IsAcknowledged(undecodable.EntryId));

        var rerun = await RunUntilAsync(() => AllAcknowledged(topic, "sync-users"), "run", "--config", config);

        Assert.True(rerun.ExitCode == 3, rerun.ToString());
        var letter = Assert.Single(await ReadAllAsync(dlq));
        Assert.Equal($"{undecodable.LedgerId}:{undecodable.EntryId}:-1", letter.Properties.Single(p => p.Key == P.OriginMessageId).Value);
    }

    [Fact]
    public async Task With_deadLetterTarget_file_a_pulsar_materializer_writes_the_dead_letter_file_instead()
    {
        var topic = NewTopic("dlq-file");
        await using var producer = await Client.CreateProducerAsync(new Sync.Pulsar.ProducerOptions { Topic = topic });
        await PublishAsync(producer, "2", "x", "b", 11);
        await PublishAsync(producer, "1", "c", "a", 12);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, deadLetterTarget: file {"}"}
            """);

        var result = await RunUntilAsync(() => AllAcknowledged(topic, "sync-users"), "run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Null(Broker.FindTopic(topic + PulsarDeadLetterTopic.Suffix));
        var line = Assert.Single(File.ReadAllLines(Workspace.File("users.deadletter.jsonl")));
        Assert.Contains("\"stage\":\"decode\"", line, StringComparison.Ordinal);
        Assert.Equal(["id=1|name=a"], SqliteTables.Rows(Database, "users"));
    }

    [Fact]
    public async Task A_dead_letter_topic_on_a_file_source_is_a_config_error()
    {
        var config = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", """
            materializers:
              users: { source: changelog, topics: [t], sink: local, table: users, deadLetterTarget: topic }
            """);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("materializers.users.deadLetterTarget (topic) needs a pulsar source to publish to; source changelog is of type file", result.Error, StringComparison.Ordinal);
    }
}
