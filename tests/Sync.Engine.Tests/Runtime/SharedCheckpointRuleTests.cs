namespace Sync.Engine.Tests.Runtime;

/// <summary>A model of two processes on one key-shared subscription writing one sink: every
/// interleaving of their steps (read the stored checkpoint, ask the subscription's mark-delete
/// position, commit a batch with the checkpoint <see cref="SinkCheckpointGuard.Next"/> gives,
/// acknowledge it) must leave a stored checkpoint at or before which every message is applied, since
/// that is where a heal replays from after the sink went back in time.</summary>
public sealed class SharedCheckpointRuleTests
{
    private const string Stream = "persistent://public/default/users";

    [Fact]
    public void The_stored_checkpoint_never_passes_a_message_that_no_consumer_has_applied()
    {
        for (var seed = 0; seed < 3000; seed++)
        {
            var violation = Simulate(seed, sharedRule: true);
            Assert.True(violation is null, $"seed {seed}: {violation}");
        }
    }

    [Fact]
    public void A_sink_that_keeps_the_greatest_position_never_stores_one_past_a_message_that_no_consumer_has_applied()
    {
        // IMonotonicCheckpointSink: an older observation written late does not take the stored
        // position back. The greatest of positions each valid when written is valid too.
        for (var seed = 0; seed < 3000; seed++)
        {
            var violation = Simulate(seed, sharedRule: true, sinkKeepsGreatest: true);
            Assert.True(violation is null, $"seed {seed}: {violation}");
        }
    }

    [Fact]
    public void With_a_sink_that_keeps_the_greatest_position_the_stored_one_never_falls_below_what_a_consumer_wrote_or_read()
    {
        // What makes the conditional checkpoint write usable on shared streams: without a rollback
        // no consumer finds a loss, in any interleaving.
        for (var seed = 0; seed < 3000; seed++)
        {
            var violation = Simulate(seed, sharedRule: true, sinkKeepsGreatest: true, checkFloors: true);
            Assert.True(violation is null, $"seed {seed}: {violation}");
        }
    }

    [Fact]
    public void A_sink_that_lowers_the_stored_position_would_make_a_consumer_take_another_ones_late_write_for_a_rollback()
    {
        // Why the floor of a shared stream is one batch back on such a sink.
        Assert.Contains(Enumerable.Range(0, 300), seed => Simulate(seed, sharedRule: true, sinkKeepsGreatest: false, checkFloors: true, guardsAssumeNeverLower: true) is not null);
    }

    [Fact]
    public void On_a_sink_that_never_lowers_a_consumer_finds_a_restore_below_what_it_wrote_last()
    {
        var guard = new SinkCheckpointGuard(sharedStreams: true, sinkNeverLowers: true);
        guard.Committed(new Dictionary<string, StreamPosition> { [Stream] = new(0, 3) });
        guard.Committed(new Dictionary<string, StreamPosition> { [Stream] = new(0, 7) });
        Assert.Empty(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 9) }));
        guard.Held(new Dictionary<string, StreamPosition> { [Stream] = new(0, 9) });

        // A late write from an older observation cannot take it there: 0:8 is a rollback.
        Assert.Equal(new StreamPosition(0, 8), Assert.Single(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 8) })).Stored);
        Assert.Null(Assert.Single(guard.FindLosses(new Dictionary<string, StreamPosition>())).Stored);
    }

    [Fact]
    public void A_batch_position_as_the_checkpoint_would_pass_messages_another_consumer_still_holds()
    {
        // The rule ordered subscriptions use is wrong here: the model finds it out.
        Assert.Contains(Enumerable.Range(0, 300), seed => Simulate(seed, sharedRule: false) is not null);
    }

    [Fact]
    public void A_consumer_that_wrote_twice_finds_a_sink_restored_from_before_its_writes()
    {
        var guard = new SinkCheckpointGuard(sharedStreams: true);
        guard.Committed(new Dictionary<string, StreamPosition> { [Stream] = new(0, 3) });
        guard.Committed(new Dictionary<string, StreamPosition> { [Stream] = new(0, 7) });

        // Another process's write from an older observation (0:5) is no rollback; 0:2 and none are.
        Assert.Empty(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 5) }));
        Assert.Equal(new StreamPosition(0, 2), Assert.Single(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 2) })).Stored);
        Assert.Null(Assert.Single(guard.FindLosses(new Dictionary<string, StreamPosition>())).Stored);
    }

    /// <summary>Runs one interleaving; returns the first violation found, or null.</summary>
    /// <param name="sinkKeepsGreatest">The sink writes a position only past the stored one (IMonotonicCheckpointSink).</param>
    /// <param name="checkFloors">Also a violation: a consumer that finds a loss (no rollback happens here).</param>
    /// <param name="guardsAssumeNeverLower">The consumers' guards are told the sink never lowers, whatever it does.</param>
    private static string? Simulate(int seed, bool sharedRule, bool sinkKeepsGreatest = false, bool checkFloors = false, bool guardsAssumeNeverLower = false)
    {
        var random = new Random(seed);
        var count = random.Next(6, 40);

        // Key-shared: every message of a key goes to the same consumer, in topic order.
        var queues = new[] { new Queue<int>(), new Queue<int>() };
        for (var i = 0; i < count; i++)
        {
            queues[random.Next(0, 5) % 2].Enqueue(i);
        }

        var applied = new HashSet<int>();
        var acknowledged = new HashSet<int>();
        StreamPosition? stored = null;
        var consumers = new[] { new Consumer(sharedRule, sinkKeepsGreatest || guardsAssumeNeverLower), new Consumer(sharedRule, sinkKeepsGreatest || guardsAssumeNeverLower) };
        while (consumers.Any(c => c.Step != Step.Idle) || queues.Any(q => q.Count > 0))
        {
            var index = random.Next(0, 2);
            var consumer = consumers[index];
            var queue = queues[index];
            switch (consumer.Step)
            {
                case Step.Idle when queue.Count > 0:
                    consumer.Batch = [.. Enumerable.Range(0, Math.Min(queue.Count, random.Next(1, 5))).Select(_ => queue.Dequeue())];
                    consumer.Stored = stored;
                    var read = stored is { } now ? new Dictionary<string, StreamPosition> { [Stream] = now } : [];
                    if (checkFloors && consumer.Guard.FindLosses(read) is { Count: > 0 } losses)
                    {
                        return $"no rollback, yet a consumer finds {losses[0]}";
                    }

                    consumer.Guard.Held(read);
                    consumer.Step = Step.Checked;
                    break;
                case Step.Checked:
                    consumer.MarkDelete = MarkDelete(acknowledged);
                    consumer.Step = Step.Asked;
                    break;
                case Step.Asked:
                    var next = consumer.Guard.Next(
                        new Dictionary<string, StreamPosition> { [Stream] = At(consumer.Batch.Max()) },
                        consumer.Stored is { } held ? new Dictionary<string, StreamPosition> { [Stream] = held } : [],
                        consumer.MarkDelete is { } md ? new Dictionary<string, StreamPosition> { [Stream] = At(md) } : []);
                    applied.UnionWith(consumer.Batch);
                    if (next.TryGetValue(Stream, out var written) && (!sinkKeepsGreatest || stored is not { } before || written > before))
                    {
                        stored = written;
                    }

                    consumer.Guard.Committed(next);
                    if (stored is { Entry: >= 0 } checkpoint && Enumerable.Range(0, (int)checkpoint.Entry + 1).FirstOrDefault(p => !applied.Contains(p), -1) is var missing and >= 0)
                    {
                        return $"checkpoint {checkpoint} stored while message {missing} is not applied";
                    }

                    consumer.Step = Step.Committed;
                    break;
                case Step.Committed:
                    acknowledged.UnionWith(consumer.Batch);
                    consumer.Step = Step.Idle;
                    break;
            }
        }

        return null;
    }

    private static StreamPosition At(int message) => new(0, message);

    /// <summary>As the broker keeps it: the last message before the first one not acknowledged.</summary>
    private static int? MarkDelete(HashSet<int> acknowledged)
    {
        var first = 0;
        while (acknowledged.Contains(first))
        {
            first++;
        }

        return first == 0 ? null : first - 1;
    }

    private enum Step
    {
        Idle,
        Checked,
        Asked,
        Committed,
    }

    private sealed class Consumer(bool sharedRule, bool sinkNeverLowers)
    {
        public SinkCheckpointGuard Guard { get; } = new(sharedRule, sinkNeverLowers);

        public Step Step { get; set; }

        public List<int> Batch { get; set; } = [];

        public StreamPosition? Stored { get; set; }

        public int? MarkDelete { get; set; }
    }
}
