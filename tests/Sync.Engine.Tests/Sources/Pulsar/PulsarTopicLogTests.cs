using Sync.Sources.Pulsar;
using Sync.Pulsar;
using Sync.Pulsar.Admin;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>The Pulsar topic log (erasure, status, dump) against the fake broker, and the source's options.</summary>
public sealed class PulsarTopicLogTests : PulsarSourceFixture
{
    private static StreamPosition At(MessageId id) => new((long)id.LedgerId, (long)id.EntryId, id.BatchIndex);

    private PulsarTopicLog Log(string topic) => (PulsarTopicLog)Components.Sources["pulsar"].OpenLog(Config($"topics: [{topic}]").Sources["broker"]);

    private static async Task<List<SourceMessage>> ListAsync(IAsyncEnumerable<SourceMessage> messages)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var list = new List<SourceMessage>();
        await foreach (var message in messages.WithCancellation(timeout.Token))
        {
            list.Add(message);
        }

        return list;
    }

    private static string KeyJson(SourceMessage message) => Encoding.UTF8.GetString(message.Key.GetBytes());

    [Fact]
    public async Task A_keyed_message_keeps_the_key_bytes_and_supersedes_the_key_in_the_compacted_view()
    {
        var topic = NewTopic("republish");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 1);
        }

        await using var log = Log(topic);
        bool Mine(string t) => t == topic;
        var original = Assert.Single(await ListAsync(log.ScanRawAsync(Mine, default)));
        var eventTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);

        var position = await log.PublishAsync(topic, original.Key, Encoding.UTF8.GetBytes("copy"), new Dictionary<string, string> { ["origin"] = "copy" }, eventTime, default);
        var outcome = await log.CompactAsync(topic, [original.Key], default);

        Assert.True(outcome.Succeeded, outcome.Error);
        var copy = Assert.Single(await ListAsync(log.ReadCompactedAsync(Mine, default)));
        Assert.Equal(position, copy.Position);
        Assert.Equal(original.Key, copy.Key);
        Assert.True(copy.Key.IsBase64);
        Assert.Equal("copy", Encoding.UTF8.GetString(copy.Value.Span));
        Assert.Equal("copy", copy.Properties["origin"]);
        Assert.Equal(eventTime, copy.EventTime);
    }

    [Fact]
    public async Task A_tombstone_and_compaction_remove_the_key_from_the_compacted_view_but_not_from_the_raw_log()
    {
        var topic = NewTopic("erase");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 1);
            await PublishAsync(producer, 2, "c", "bob", 2);
            await PublishAsync(producer, 1, "u", "ann b", 3);
            await PublishAsync(producer, 2, "d", null, 4);
        }

        await using var log = Log(topic);
        bool Mine(string t) => t == topic;

        // Pulsar IO wrote no tombstone for the delete: its before-image is still in the view.
        Assert.Equal(["{\"id\":1}", "{\"id\":2}"], (await ListAsync(log.ReadCompactedAsync(Mine, default))).Select(KeyJson));

        var subject = (await ListAsync(log.ScanRawAsync(Mine, default))).First(m => KeyJson(m) == "{\"id\":2}").Key;
        var position = await log.PublishTombstoneAsync(topic, subject, default);
        var outcome = await log.CompactAsync(topic, [subject], default);

        Assert.True(outcome.Succeeded, outcome.Error);
        var compacted = await ListAsync(log.ReadCompactedAsync(Mine, default));
        Assert.Equal(["{\"id\":1}"], compacted.Select(KeyJson));
        Assert.Contains("ann b", Encoding.UTF8.GetString(compacted[0].Value.Span), StringComparison.Ordinal);

        var raw = await ListAsync(log.ScanRawAsync(Mine, default));
        Assert.Equal(5, raw.Count);
        var tombstone = raw[^1];
        Assert.Equal(position, tombstone.Position);
        Assert.Equal(subject, tombstone.Key);
        Assert.True(tombstone.Key.IsBase64);
        Assert.False(tombstone.HasValue);
        var stored = Broker.FindTopic(topic)!;
        Assert.DoesNotContain(stored.CompactedEntries, e => e.Metadata.PartitionKey == subject.Text);
    }

    [Fact]
    public async Task A_tombstone_on_a_partitioned_topic_lands_in_the_partition_of_its_key()
    {
        var topic = NewTopic("routed");
        Broker.CreatePartitionedTopic(topic, 4);
        await using (var producer = await ProducerAsync(topic))
        {
            for (var i = 1; i <= 8; i++)
            {
                await PublishAsync(producer, i, "c", $"n{i}", i);
            }
        }

        await using var log = Log(topic);
        bool Mine(string t) => TopicName.BaseName(t) == topic;
        var before = await ListAsync(log.ScanRawAsync(Mine, default));
        Assert.True(before.Select(m => m.Topic).Distinct().Count() > 1, "keys spread over partitions");

        // By the base name: the client routes the key as Java's default router does.
        foreach (var message in before)
        {
            await log.PublishTombstoneAsync(topic, message.Key, default);
        }

        var after = await ListAsync(log.ScanRawAsync(Mine, default));
        foreach (var tombstone in after.Where(m => m.IsTombstone))
        {
            Assert.Equal(before.Single(m => m.Key == tombstone.Key).Topic, tombstone.Topic);
        }

        Assert.Equal(8, after.Count(m => m.IsTombstone));
        foreach (var partition in before.Select(m => m.Topic).Distinct())
        {
            Assert.True((await log.CompactAsync(partition, [], default)).Succeeded);
        }

        Assert.Empty(await ListAsync(log.ReadCompactedAsync(Mine, default)));
        var ends = await log.EndsAsync(Mine, new Dictionary<string, StreamPosition>(), default);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => TopicName.Partition(topic, i)), ends.Select(e => e.Topic));
    }

    [Fact]
    public async Task A_compaction_already_running_is_waited_for_and_a_failed_one_reports_the_brokers_error()
    {
        var topic = NewTopic("compact");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 1);
        }

        await using var log = Log(topic);
        Broker.Faults.FailNextCompaction("disk full");
        var failed = await log.CompactAsync(topic, [], default);
        Assert.Equal("ERROR", failed.Status);
        Assert.Contains("disk full", failed.Error, StringComparison.Ordinal);

        var ok = await log.CompactAsync(topic, [], default);
        Assert.True(ok.Succeeded);
    }

    [Fact]
    public async Task Ends_name_the_last_position_of_each_topic_the_filter_accepts()
    {
        var topic = NewTopic("ends");
        var other = NewTopic("other");
        MessageId last;
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "a", 1);
            last = await PublishAsync(producer, 2, "c", "b", 2);
        }

        await using (var producer = await ProducerAsync(other))
        {
            await PublishAsync(producer, 1, "c", "x", 1);
        }

        await using var log = Log(topic);
        var behind = await log.EndsAsync(t => t == topic, new Dictionary<string, StreamPosition>(), default);
        var caughtUp = await log.EndsAsync(t => t == topic, new Dictionary<string, StreamPosition> { [topic] = At(last) }, default);

        var end = Assert.Single(behind);
        Assert.Equal(topic, end.Topic);
        Assert.Equal(At(last), end.Last);
        Assert.Null(end.Behind);
        Assert.Equal(0, Assert.Single(caughtUp).Behind);
    }

    [Fact]
    public async Task Behind_counts_the_entries_after_a_position_within_the_last_ledger_and_across_ledgers_from_the_internal_stats()
    {
        var topic = NewTopic("behind");
        var ids = await PublishOverThreeLedgersAsync(topic);

        await using var log = Log(topic);
        async Task<long?> BehindAsync(MessageId position) =>
            Assert.Single(await log.EndsAsync(t => t == topic, new Dictionary<string, StreamPosition> { [topic] = At(position) }, default)).Behind;

        // GetLastMessageId names the last entry; within its ledger entry ids are dense.
        Assert.Equal(1, await BehindAsync(ids[7]));
        Assert.Equal(0, await BehindAsync(ids[8]));
        // One ledger back: the rest of ids[5]'s ledger (1) and the last ledger (2).
        Assert.Equal(3, await BehindAsync(ids[5]));
        // Two ledgers back: the rest of the first (2), the one in between (2) and the last (2).
        Assert.Equal(6, await BehindAsync(ids[2]));
        Assert.Equal(8, await BehindAsync(ids[0]));
    }

    [Fact]
    public async Task Behind_across_ledgers_of_a_partition_reads_that_partitions_internal_stats()
    {
        var topic = NewTopic("behind-partitioned");
        Broker.CreatePartitionedTopic(topic, 2);
        var partition = TopicName.Partition(topic, 1);
        var ids = await PublishOverThreeLedgersAsync(partition);

        await using var log = Log(topic);
        var end = Assert.Single(await log.EndsAsync(t => t == partition, new Dictionary<string, StreamPosition> { [partition] = At(ids[2]) }, default));

        Assert.Equal(partition, end.Topic);
        Assert.Equal(6, end.Behind);
    }

    [Fact]
    public async Task Behind_across_ledgers_is_unknown_when_the_internal_stats_cannot_be_read()
    {
        var topic = NewTopic("behind-unknown");
        var ids = await PublishOverThreeLedgersAsync(topic);
        Broker.Faults.FailNextAdminRequests(1, "GET", "/internalStats", System.Net.HttpStatusCode.Forbidden, "Don't have admin permission");

        await using var log = Log(topic);
        var end = Assert.Single(await log.EndsAsync(t => t == topic, new Dictionary<string, StreamPosition> { [topic] = At(ids[2]) }, default));

        Assert.Null(end.Behind);
        Assert.Equal((long)ids[8].LedgerId, end.Last.Ledger);
    }

    /// <summary>Five entries, a rollover, two entries, a rollover, two entries.</summary>
    private async Task<List<MessageId>> PublishOverThreeLedgersAsync(string topic)
    {
        var ids = new List<MessageId>();
        await using var producer = await ProducerAsync(topic);
        for (var i = 1; i <= 9; i++)
        {
            if (i is 6 or 8)
            {
                Broker.RollLedger(topic);
            }

            ids.Add(await PublishAsync(producer, i, "c", $"u{i}", i));
        }

        return ids;
    }

    [Fact]
    public async Task The_retention_note_names_the_namespace_and_topic_policies_and_until_when_raw_messages_stay()
    {
        var topic = NewTopic("retention");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "a", 1);
        }

        using (var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = Broker.AdminUrl }))
        {
            await admin.SetNamespaceRetentionAsync("public/default", new RetentionPolicy(60, 100));
            await admin.SetTopicRetentionAsync(topic, new RetentionPolicy(-1, -1));
        }

        await using var log = Log(topic);
        var note = await log.RetentionNoteAsync(CancellationToken.None);

        Assert.Contains("namespace public/default: 60 minutes (up to 100 MB)", note, StringComparison.Ordinal);
        Assert.Contains($"topic {topic}: unlimited time", note, StringComparison.Ordinal);
        Assert.Matches(@"leaves no earlier than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", note);
        Assert.Contains("compacted view only", note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_admin_url_the_log_says_what_needs_it()
    {
        var options = new PulsarSourceOptions { ServiceUrl = Broker.ServiceUrl.ToString() };
        await using var log = new PulsarTopicLog("broker", options);

        var error = await Assert.ThrowsAsync<Sync.Engine.Sources.SourceException>(async () => await log.EndsAsync(_ => true, new Dictionary<string, StreamPosition>(), default));

        Assert.StartsWith("sources.broker.adminUrl is not set", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serviceUrl: http://broker:6650", "sources.broker.serviceUrl (http://broker:6650) must be a pulsar://host:port or pulsar+ssl://host:port URL")]
    [InlineData("serviceUrl: pulsar://b:6650\n    adminUrl: ftp://b", "sources.broker.adminUrl (ftp://b) must be an http:// or https:// URL")]
    [InlineData("serviceUrl: pulsar://b:6650\n    subscriptionType: shared\n    readCompacted: true", "sources.broker.readCompacted (true) needs subscriptionType failover or exclusive, not shared")]
    [InlineData("serviceUrl: pulsar://b:6650\n    receiverQueueSize: 0", "sources.broker.receiverQueueSize (0) must be between 1 and 1000000")]
    [InlineData("serviceUrl: pulsar://b:6650\n    namespaces: [public]", "sources.broker.namespaces[0] (public) must be tenant/namespace")]
    [InlineData("serviceUrl: pulsar://b:6650\n    token: secret-token\n    tokenFile: /nonexistent/token", "sources.broker.tokenFile (/nonexistent/token): set token or tokenFile, not both")]
    [InlineData("serviceUrl: pulsar://b:6650\n    subscriptionType: round-robin", "sources.broker.subscriptionType (round-robin) must be one of: failover, exclusive, shared, keyShared")]
    public void Invalid_options_are_named_with_their_value(string lines, string expected)
    {
        var text = $"""
            sources:
              broker:
                type: pulsar
                {lines}
            sinks:
              ref: {"{"} type: observed {"}"}
            materializers:
              users: {"{"} source: broker, topics: [persistent://public/default/u], sink: ref, table: users {"}"}
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(text, "/tmp/sync.yaml", Components.Types, _ => null));

        Assert.Contains(error.Problems, p => p.Message == expected);
        Assert.DoesNotContain("secret-token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_and_kebab_case_subscription_types_bind()
    {
        var config = Config("topics: [persistent://public/default/u]", "    subscriptionType: key-shared\n    initialPosition: latest");
        var options = (PulsarSourceOptions)config.Sources["broker"].Options;

        Assert.Equal(PulsarSubscriptionType.KeyShared, options.SubscriptionType);
        Assert.Equal(PulsarInitialPosition.Latest, options.InitialPosition);
        Assert.False(options.ReadCompacted);
        Assert.Equal(1000, options.ReceiverQueueSize);
        Assert.True(options.TlsHostnameVerification);
        Assert.Null(options.Subscription);
        Assert.Equal(["public/default"], options.Namespaces);
    }

    [Theory]
    [InlineData("persistent://public/default/tenant_[a-z]+\\.users", true, "public/default")]
    [InlineData("persistent://acme/cdc/.*", true, "acme/cdc")]
    [InlineData("persistent://acme/cdc.*/users", false, "")]
    [InlineData("public/default/users-.*", false, "")]
    [InlineData("persistent://(a|b)/ns/users", false, "")]
    public void A_pattern_names_its_namespace_by_its_literal_prefix(string pattern, bool derivable, string ns)
    {
        Assert.Equal(derivable, PulsarSourceOptions.TryNamespaceOf(pattern, out var found));
        Assert.Equal(ns, found);
        var problems = PulsarSourceOptions.ValidateTopics("materializers.users", null, pattern);
        Assert.Equal(derivable ? 0 : 1, problems.Count);
        if (!derivable)
        {
            Assert.StartsWith($"materializers.users.topicPattern ({pattern}) must begin with a literal persistent://tenant/namespace/", problems[0], StringComparison.Ordinal);
        }
    }
}
