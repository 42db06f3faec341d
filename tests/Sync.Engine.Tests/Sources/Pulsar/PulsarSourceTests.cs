using Sync.Sources.Pulsar;
using Sync.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>The Pulsar source under the real runtime, against the fake broker.</summary>
public sealed class PulsarSourceTests : PulsarSourceFixture
{
    private static string Key(int id) => $"{{\"id\":{id}}}";

    private static StreamPosition At(MessageId id) => new((long)id.LedgerId, (long)id.EntryId, id.BatchIndex);

    [Fact]
    public async Task Debezium_events_as_Pulsar_IO_writes_them_materialize_to_the_exact_final_state()
    {
        var topic = NewTopic("users");
        MessageId last;
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 10);
            await PublishAsync(producer, 2, "c", "bob", 11);
            await PublishAsync(producer, 3, "c", "cy", 12);
            await PublishAsync(producer, 1, "u", "ann b", 13);
            await PublishAsync(producer, 2, "d", null, 14);
            await PublishAsync(producer, 4, "c", "dee", 15);
            last = await PublishAsync(producer, 3, "u", "cy c", 16);
        }

        var config = Config($"topics: [{topic}]");
        var outcome = await RunUntilAsync(config, () => Sink.Checkpoint("users").GetValueOrDefault(topic) == At(last));

        Assert.Null(outcome.Failure);
        var rows = Sink.Rows("users");
        Assert.Equal(3, rows.Count);
        Assert.Contains("\"ann b\"", rows.Single(r => r.Key.Contains("1", StringComparison.Ordinal)).Value, StringComparison.Ordinal);
        Assert.Contains("\"cy c\"", rows.Single(r => r.Key.Contains("3", StringComparison.Ordinal)).Value, StringComparison.Ordinal);
        Assert.Contains("\"dee\"", rows.Single(r => r.Key.Contains("4", StringComparison.Ordinal)).Value, StringComparison.Ordinal);
        Assert.DoesNotContain(rows.Keys, k => k.Contains("2", StringComparison.Ordinal));
        Assert.Equal(7, outcome.Counters.Read);
        // The checkpoint also holds the topic's source epoch state (Runtime.SourceEpochs), left out here.
        Assert.Equal(At(last), Assert.Single(SinkCheckpointGuard.PositionsOf(Sink.Checkpoint("users"))).Value);
    }

    [Fact]
    public async Task A_restart_resumes_after_the_acknowledged_messages_without_applying_them_again()
    {
        var topic = NewTopic("resume");
        await using var producer = await ProducerAsync(topic);
        var first = new List<MessageId>();
        for (var i = 1; i <= 6; i++)
        {
            first.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
        }

        var config = Config($"topics: [{topic}]");
        await RunUntilAsync(config, () => Sink.Checkpoint("users").GetValueOrDefault(topic) == At(first[^1]));
        Assert.Equal(6, Sink.Received.Count);

        Sink.ResetObservations();
        var later = await PublishAsync(producer, 7, "c", "n7", 7);
        var outcome = await RunUntilAsync(config, () => Sink.Checkpoint("users").GetValueOrDefault(topic) == At(later));

        Assert.Null(outcome.Failure);
        Assert.Equal([(topic, At(later))], Sink.Received);
        Assert.Equal(7, Sink.Rows("users").Count);
    }

    [Fact]
    public async Task A_crash_after_the_commit_but_before_the_acknowledgement_is_not_applied_again()
    {
        var topic = NewTopic("crash");
        await using var producer = await ProducerAsync(topic);
        var ids = new List<MessageId>();
        for (var i = 1; i <= 3; i++)
        {
            ids.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
        }

        var config = Config($"topics: [{topic}]");
        Sink.FailAfterCommitOnCall = 1;
        var crashed = await RunUntilAsync(config, () => Sink.Received.Count >= 3);
        Assert.IsType<IOException>(crashed.Failure);
        Assert.Equal(At(ids[^1]), Sink.Checkpoint("users")[topic]);

        // The broker still has the three unacknowledged; the checkpoint says they are applied.
        Sink.ResetObservations();
        var fourth = await PublishAsync(producer, 4, "c", "n4", 4);
        var outcome = await RunUntilAsync(config, () => Sink.Checkpoint("users").GetValueOrDefault(topic) == At(fourth));

        Assert.Null(outcome.Failure);
        Assert.Equal([(topic, At(fourth))], Sink.Received);
        Assert.Equal(4, Sink.Rows("users").Count);
    }

    [Fact]
    public async Task A_batch_that_fails_to_apply_is_not_acknowledged_and_arrives_after_a_restart()
    {
        var topic = NewTopic("fail");
        await using var producer = await ProducerAsync(topic);
        MessageId last = default;
        for (var i = 1; i <= 5; i++)
        {
            last = await PublishAsync(producer, i, "c", $"n{i}", i);
        }

        var config = Config($"topics: [{topic}]");
        Sink.FailBeforeApplyOnCall = 1;
        var failed = await RunUntilAsync(config, () => false);
        Assert.IsType<IOException>(failed.Failure);
        Assert.Empty(Sink.Rows("users"));

        Sink.ResetObservations();
        var outcome = await RunUntilAsync(config, () => Sink.Checkpoint("users").GetValueOrDefault(topic) == At(last));

        Assert.Null(outcome.Failure);
        Assert.Equal(5, Sink.Rows("users").Count);
        Assert.Equal(5, Sink.Received.Count);
    }

    [Fact]
    public async Task A_topic_created_after_the_start_joins_a_pattern_within_the_discovery_interval()
    {
        var prefix = $"tenant{Guid.NewGuid():N}"[..14];
        var first = $"persistent://public/default/{prefix}_a.public.users";
        var second = $"persistent://public/default/{prefix}_b.public.users";
        await using (var producer = await ProducerAsync(first))
        {
            await PublishAsync(producer, 1, "c", "a1", 1);
        }

        var config = Config($"topicPattern: 'persistent://public/default/{prefix}_[a-z]+\\.public\\.users'");
        Task<MessageId>? late = null;
        async Task<MessageId> PublishLateAsync()
        {
            await using var producer = await ProducerAsync(second);
            return await PublishAsync(producer, 2, "c", "b2", 2);
        }

        var outcome = await RunUntilAsync(config, () =>
        {
            if (late is null && Sink.Checkpoint("users").ContainsKey(first))
            {
                late = PublishLateAsync();
            }

            return late is { IsCompletedSuccessfully: true } && Sink.Checkpoint("users").GetValueOrDefault(second) == At(late.Result);
        });

        Assert.Null(outcome.Failure);
        Assert.Equal(2, Sink.Rows("users").Count);
        Assert.Equal([first, second], Sink.Received.Select(r => r.Topic));
    }

    [Fact]
    public async Task Messages_of_a_partitioned_topic_carry_the_partition_and_are_checkpointed_per_partition()
    {
        var topic = NewTopic("split");
        Broker.CreatePartitionedTopic(topic, 3);
        await using var producer = await ProducerAsync(topic);
        var ids = new List<MessageId>();
        for (var i = 1; i <= 12; i++)
        {
            ids.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
        }

        var expected = ids.GroupBy(id => id.Partition).ToDictionary(g => TopicName.Partition(topic, g.Key), g => At(g.Max()));
        var config = Config($"topics: [{topic}]");
        var outcome = await RunUntilAsync(config, () => expected.All(e => Sink.Checkpoint("users").GetValueOrDefault(e.Key) == e.Value));

        Assert.Null(outcome.Failure);
        Assert.Equal(12, Sink.Rows("users").Count);
        Assert.Equal(expected.OrderBy(e => e.Key), SinkCheckpointGuard.PositionsOf(Sink.Checkpoint("users")).OrderBy(e => e.Key));
        Assert.True(expected.Count > 1, "keys spread over more than one partition");
    }

    [Fact]
    public async Task Backfill_reads_every_partition_from_the_first_message_to_the_last_at_start_and_ends()
    {
        var topic = NewTopic("backfill");
        Broker.CreatePartitionedTopic(topic, 2);
        var ids = new List<MessageId>();
        await using (var producer = await ProducerAsync(topic))
        {
            for (var i = 1; i <= 6; i++)
            {
                ids.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
            }
        }

        var config = Config($"topics: [{topic}]");
        await RunUntilAsync(config, () => Sink.Received.Count >= 6);
        Sink.ResetObservations();

        // The run ends by itself once every partition reached its last message id.
        var outcome = await RunUntilAsync(config, () => false, RunMode.Backfill);

        Assert.Null(outcome.Failure);
        Assert.Equal(6, Sink.Received.Select(r => (r.Topic, r.Position)).Distinct().Count());
        Assert.Equal(6, Sink.Rows("users").Count);

        // The subscription was not moved: a run afterwards finds nothing new to apply.
        Sink.ResetObservations();
        var next = await PublishAsync(await ProducerAsync(topic), 7, "c", "n7", 7);
        var stream = TopicName.Partition(topic, next.Partition);
        await RunUntilAsync(config, () => Sink.Checkpoint("users").GetValueOrDefault(stream) == At(next));
        Assert.Equal([(stream, At(next))], Sink.Received);
    }

    [Fact]
    public async Task Backfill_of_a_pattern_lists_its_namespace_and_skips_empty_topics()
    {
        var prefix = $"bf{Guid.NewGuid():N}"[..12];
        using (var admin = new Sync.Pulsar.Admin.PulsarAdminClient(new Sync.Pulsar.Admin.PulsarAdminOptions { ServiceUrl = Broker.AdminUrl }))
        {
            await admin.CreateTopicAsync($"persistent://public/default/{prefix}_empty");
        }

        await using (var producer = await ProducerAsync($"persistent://public/default/{prefix}_full"))
        {
            await PublishAsync(producer, 1, "c", "n1", 1);
            await PublishAsync(producer, 1, "u", "n1b", 2);
        }

        var config = Config($"topicPattern: 'persistent://public/default/{prefix}_.*'");
        var outcome = await RunUntilAsync(config, () => false, RunMode.Backfill);

        Assert.Null(outcome.Failure);
        Assert.Equal(2, outcome.Counters.Read);
        Assert.Contains("n1b", Assert.Single(Sink.Rows("users")).Value, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_shared_subscription_acknowledges_the_list_and_delivers_everything()
    {
        var topic = NewTopic("keyshared");
        MessageId last = default;
        await using (var producer = await ProducerAsync(topic))
        {
            for (var i = 1; i <= 5; i++)
            {
                last = await PublishAsync(producer, i, "c", $"n{i}", i);
            }
        }

        var config = Config($"topics: [{topic}]", "    subscriptionType: key-shared\n    subscription: shared-users");
        // A shared subscription's checkpoint is its mark-delete position as of the batch (see
        // SinkCheckpointGuard), so the wait is for the changes; a stop acknowledges what was applied.
        await RunUntilAsync(config, () => Sink.Received.Contains((topic, At(last))));
        Sink.ResetObservations();

        // Everything was acknowledged: a restart brings nothing again.
        var next = await PublishAsync(await ProducerAsync(topic), 6, "c", "n6", 6);
        var outcome = await RunUntilAsync(config, () => Sink.Received.Contains((topic, At(next))));

        Assert.Null(outcome.Failure);
        Assert.Equal([(topic, At(next))], Sink.Received);
        Assert.NotNull(Broker.FindTopic(topic));
    }

    [Fact]
    public async Task Messages_become_source_messages_with_key_encoding_properties_and_times()
    {
        var topic = NewTopic("shape");
        MessageId id;
        await using (var producer = await ProducerAsync(topic))
        {
            id = await producer.SendAsync(new OutgoingMessage
            {
                KeyBytes = Encoding.UTF8.GetBytes(Key(9)),
                Data = Encoding.UTF8.GetBytes("{}"),
                Properties = new Dictionary<string, string> { ["p"] = "1" },
                EventTimeMs = 1_700_000_000_123,
            });
            await producer.SendAsync(OutgoingMessage.Tombstone("plain-key"));
        }

        await using var reader = Reader(topic, materializer: "shape");
        using var timeout = new CancellationTokenSource(Patience);
        var batch = await ReadAtLeastAsync(reader, 2, 10, TimeSpan.FromMilliseconds(200), timeout.Token);

        Assert.Equal("sync-shape", reader.SubscriptionName);
        Assert.Empty(reader.Cursor);
        Assert.Equal(2, batch.Count);
        var first = batch[0].Message!;
        Assert.Equal(topic, first.Topic);
        Assert.Equal(At(id), first.Position);
        Assert.Equal(new MessageKey(Convert.ToBase64String(Encoding.UTF8.GetBytes(Key(9))), true), first.Key);
        Assert.Equal("{}", Encoding.UTF8.GetString(first.Value.Span));
        Assert.True(first.HasValue);
        Assert.Equal("1", first.Properties["p"]);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), first.EventTime);
        Assert.NotNull(first.PublishTime);
        var second = batch[1].Message!;
        Assert.Equal(new MessageKey("plain-key", false), second.Key);
        Assert.False(second.HasValue);
        Assert.True(second.IsTombstone);
    }

    [Fact]
    public async Task A_redelivery_after_a_reconnect_mid_batch_is_not_acknowledged_before_its_batch_commits()
    {
        var topic = NewTopic("reconnect");
        await using var producer = await ProducerAsync(topic);
        var ids = new List<MessageId>();
        for (var i = 1; i <= 3; i++)
        {
            ids.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
        }

        using var timeout = new CancellationTokenSource(Patience);
        await using (var reader = Reader(topic, materializer: "reconnect"))
        {
            Assert.Equal(3, (await ReadAtLeastAsync(reader, 3, 3, TimeSpan.FromMilliseconds(50), timeout.Token)).Count);

            // The connection drops before the batch is applied: the broker delivers all three again.
            Broker.DropAllConnections();
            ids.Add(await PublishAsync(producer, 4, "c", "n4", 4));
            var next = await reader.ReadBatchAsync(10, TimeSpan.FromMilliseconds(50), timeout.Token);

            Assert.Equal([At(ids[3])], next!.Select(r => r.Message!.Position));
            Assert.Equal(3, reader.Skipped);

            // Crash: nothing was committed, so nothing may have been acknowledged.
        }

        await using var restarted = Reader(topic, materializer: "reconnect");
        var all = await ReadAtLeastAsync(restarted, 4, 10, TimeSpan.FromMilliseconds(50), timeout.Token);

        Assert.Equal(ids.Select(At), all.Select(r => r.Message!.Position));
    }

    [Fact]
    public async Task With_zero_linger_a_batch_takes_what_is_queued_and_an_empty_topic_still_blocks()
    {
        var topic = NewTopic("zero-linger");
        await using var producer = await ProducerAsync(topic);
        var ids = new List<MessageId>();
        for (var i = 1; i <= 3; i++)
        {
            ids.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
        }

        using var timeout = new CancellationTokenSource(Patience);
        await using var reader = Reader(topic, materializer: "zero-linger");
        var read = new List<StreamPosition>();
        while (read.Count < 3)
        {
            var batch = await reader.ReadBatchAsync(10, TimeSpan.Zero, timeout.Token);
            Assert.NotEmpty(batch!);
            read.AddRange(batch!.Select(r => r.Message!.Position));
        }

        Assert.Equal(ids.Select(At), read);
        await AssertWaitsForTheNextMessageAsync(reader, producer, TimeSpan.Zero, timeout.Token);
    }

    [Fact]
    public async Task A_second_process_on_an_exclusive_subscription_fails_with_a_message_naming_it()
    {
        var topic = NewTopic("exclusive");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "n1", 1);
        }

        using var timeout = new CancellationTokenSource(Patience);
        await using var first = Reader(topic, sourceExtra: "    subscriptionType: exclusive");
        Assert.Single((await first.ReadBatchAsync(10, TimeSpan.FromMilliseconds(20), timeout.Token))!);

        await using var second = Reader(topic, sourceExtra: "    subscriptionType: exclusive");
        var error = await Assert.ThrowsAsync<Sync.Engine.Sources.SourceException>(async () => await second.ReadBatchAsync(10, TimeSpan.FromMilliseconds(20), timeout.Token));

        Assert.StartsWith("source broker: subscribing sync-users for users failed:", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The linger runs on the reader's clock (a fake one here): it starts with the batch's first
    /// message, the batch cannot end before the clock moves (nothing else completes it: it holds one
    /// message of 100), and it ends once the clock has moved by the linger.</summary>
    [Fact]
    public async Task A_batch_waits_at_most_the_linger_after_its_first_message()
    {
        var topic = NewTopic("linger");
        await using var producer = await ProducerAsync(topic);
        var first = await PublishAsync(producer, 1, "c", "n1", 1);
        var clock = new WaitReportingClock();
        await using var reader = Reader(topic, time: clock, materializer: "linger");
        var linger = TimeSpan.FromMilliseconds(150);

        using var timeout = new CancellationTokenSource(Patience);
        var reading = reader.ReadBatchAsync(100, linger, timeout.Token).AsTask();
        while (await clock.NextWaitAsync(timeout.Token) != linger)
        {
        }

        Assert.False(reading.IsCompleted);
        clock.Advance(linger);
        var batch = await reading.WaitAsync(timeout.Token);

        Assert.Equal([At(first)], batch!.Select(r => r.Message!.Position));

        // Nothing more: a live source waits until cancelled instead of ending.
        await AssertWaitsForTheNextMessageAsync(reader, producer, TimeSpan.Zero, timeout.Token);
    }

    /// <summary>Reads batches of up to <paramref name="batchSize"/> until at least
    /// <paramref name="count"/> records came, so that a slow broker splitting them over several
    /// batches does not fail the test.</summary>
    private static async Task<List<SourceRecord>> ReadAtLeastAsync(PulsarSourceReader reader, int count, int batchSize, TimeSpan linger, CancellationToken cancellationToken)
    {
        var read = new List<SourceRecord>();
        while (read.Count < count)
        {
            read.AddRange((await reader.ReadBatchAsync(batchSize, linger, cancellationToken))!);
        }

        return read;
    }

    /// <summary>With nothing queued, a read neither returns nor ends: a waiting read returns the
    /// next message published, and only it; one whose token is cancelled throws. Shown by what the
    /// test does, not by a time that passed.</summary>
    private static async Task AssertWaitsForTheNextMessageAsync(PulsarSourceReader reader, IPulsarProducer producer, TimeSpan linger, CancellationToken cancellationToken)
    {
        var waiting = reader.ReadBatchAsync(100, linger, cancellationToken).AsTask();
        Assert.False(waiting.IsCompleted);
        var next = await PublishAsync(producer, 99, "c", "next", 99);
        Assert.Equal([At(next)], (await waiting)!.Select(r => r.Message!.Position));

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var cancelled = reader.ReadBatchAsync(100, linger, stop.Token).AsTask();
        Assert.False(cancelled.IsCompleted);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cancelled);
    }
}
