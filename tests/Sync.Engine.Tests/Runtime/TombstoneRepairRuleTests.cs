using Sync.Engine.Topics;

namespace Sync.Engine.Tests.Runtime;

/// <summary>When a repair tombstone goes out: only while the delete is still the key's latest event,
/// checked against every order of delete, re-create and catch-up with the topic's end. Compaction
/// keeps each key's latest message and removes a key whose latest message has an empty payload
/// (apache/pulsar, Compactor / TwoPhaseCompactor: phase one keeps the latest message id per key,
/// and a message whose payload is empty is a tombstone that removes the key), so a tombstone that
/// lands after a live value of its key loses that value from the compacted view.</summary>
public class TombstoneRepairRuleTests
{
    private const string Topic = "persistent://public/default/db.public.users";
    private static readonly string[] CaughtUp = [Topic];
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static MessageKey Key(int id) => MessageKey.FromBytesAsBase64(Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"));

    private static SourceMessage Message(int id, long position, bool tombstone = false, IReadOnlyDictionary<string, string>? properties = null) => new()
    {
        Topic = Topic,
        Position = StreamPosition.ForLine(position),
        Key = Key(id),
        Value = tombstone ? ReadOnlyMemory<byte>.Empty : Encoding.UTF8.GetBytes($"{{\"at\":{position}}}"),
        HasValue = !tombstone,
        Properties = properties ?? Origin.EmptyProperties,
        EventTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + position),
    };

    private static (SourceMessage, ChangeEvent) Create(int id, long position) => (Message(id, position), Change.Create(("id", id), position, ("name", $"v{position}")));

    private static (SourceMessage, ChangeEvent) Delete(int id, long position) => (Message(id, position), Change.Delete(("id", id), position));

    /// <summary>The repair tombstone as it is read back: the property names the delete it follows.</summary>
    private static SourceMessage RepairTombstone(int id, long position, long delete) =>
        Message(id, position, tombstone: true, new Dictionary<string, string> { [TombstoneRepair.Property] = StreamPosition.ForLine(delete).ToString() });

    private static void Observe(TombstoneRepair repair, params (SourceMessage Message, ChangeEvent? Change)[] messages)
    {
        foreach (var (message, change) in messages)
        {
            repair.Observe(message, change);
        }
    }

    [Fact]
    public async Task A_delete_still_latest_when_the_reader_catches_up_gets_one_tombstone_with_the_exact_key()
    {
        var publisher = new RecordingPublisher();
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2), Create(2, 3));

        var beforeCatchUp = await repair.PublishAsync([], default);
        var atCatchUp = await repair.PublishAsync(CaughtUp, default);
        var again = await repair.PublishAsync(CaughtUp, default);

        Assert.Equal((0, 0), beforeCatchUp);
        Assert.Equal((1, 0), atCatchUp);
        Assert.Equal((0, 0), again);
        var tombstone = Assert.Single(publisher.Published);
        Assert.Equal(Topic, tombstone.Topic);
        Assert.Equal(Key(1), tombstone.Key);
        Assert.Null(tombstone.Value);
        Assert.Equal(StreamPosition.ForLine(2).ToString(), tombstone.Properties[TombstoneRepair.Property]);
        Assert.Equal(1, repair.Repaired);
    }

    [Fact]
    public async Task A_delete_followed_by_a_re_create_in_the_same_batch_is_not_repaired()
    {
        var publisher = new RecordingPublisher();
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2), Create(1, 3));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Empty(publisher.Published);
        Assert.Equal(1, repair.Superseded);
    }

    [Fact]
    public async Task A_re_create_read_in_a_later_batch_before_the_reader_caught_up_drops_the_repair()
    {
        var publisher = new RecordingPublisher();
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync([], default);
        Observe(repair, Create(1, 3));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Empty(publisher.Published);
        Assert.False(repair.HasPending);
        Assert.Equal(1, repair.Superseded);
    }

    [Fact]
    public async Task A_value_kept_for_a_restoration_survives_its_source_reusing_the_buffer_after_the_acknowledgement()
    {
        var publisher = new RecordingPublisher(firstPosition: 4);
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync(CaughtUp, default);
        var (recreate, recreated) = Create(1, 3);
        var buffer = recreate.Value.ToArray();
        var expected = buffer.ToArray();
        var pooled = new SourceMessage { Topic = recreate.Topic, Position = recreate.Position, Key = recreate.Key, Value = buffer, EventTime = recreate.EventTime };
        Observe(repair, (pooled, recreated));

        // The batch holding the re-create is acknowledged; the source's pool hands its buffer to another entry.
        Array.Fill(buffer, (byte)'x');
        Observe(repair, (RepairTombstone(1, 4, delete: 2), null));
        await repair.PublishAsync(CaughtUp, default);

        Assert.Equal(expected, publisher.Published[1].Value);
    }

    [Fact]
    public async Task A_re_create_published_between_the_catch_up_and_the_tombstone_is_published_again_after_the_tombstone()
    {
        // The producer's re-create landed at 3, our tombstone behind it at 4.
        var publisher = new RecordingPublisher(firstPosition: 4);
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync(CaughtUp, default);
        var (recreate, recreated) = Create(1, 3);
        var original = new SourceMessage
        {
            Topic = recreate.Topic,
            Position = recreate.Position,
            Key = recreate.Key,
            Value = recreate.Value,
            EventTime = recreate.EventTime,
            Properties = new Dictionary<string, string> { ["origin"] = "pulsar-io" },
        };
        Observe(repair, (original, recreated), (RepairTombstone(1, 4, delete: 2), null));

        var beforeCatchUp = await repair.PublishAsync([], default);
        var atCatchUp = await repair.PublishAsync(CaughtUp, default);

        Assert.Equal((0, 0), beforeCatchUp);
        Assert.Equal((0, 1), atCatchUp);
        Assert.Equal(2, publisher.Published.Count);
        var copy = publisher.Published[1];
        Assert.Equal(Key(1), copy.Key);
        Assert.Equal(original.Value.ToArray(), copy.Value);
        Assert.Equal(original.EventTime, copy.EventTime);
        Assert.Equal("pulsar-io", copy.Properties["origin"]);
        Assert.Equal(original.Position, StreamPosition.Parse(copy.Properties[TombstoneRepair.RestoredProperty]));
        Assert.Equal(1, repair.Restored);
    }

    [Fact]
    public async Task A_re_create_that_lands_after_the_tombstone_needs_no_healing()
    {
        var publisher = new RecordingPublisher(firstPosition: 3);
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync(CaughtUp, default);
        Observe(repair, (RepairTombstone(1, 3, delete: 2), null), Create(1, 4));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Single(publisher.Published);
        Assert.Equal(0, repair.Restored);
        Assert.False(repair.HasPending);
    }

    [Fact]
    public async Task A_delete_that_also_landed_before_the_tombstone_leaves_the_key_deleted_instead_of_restoring_the_re_create()
    {
        var publisher = new RecordingPublisher(firstPosition: 5);
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync(CaughtUp, default);
        Observe(repair, Create(1, 3), Delete(1, 4), (RepairTombstone(1, 5, delete: 2), null));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Equal([null, null], publisher.Published.Select(p => p.Value));
        Assert.Equal(StreamPosition.ForLine(4).ToString(), publisher.Published[1].Properties[TombstoneRepair.Property]);
        Assert.Equal(0, repair.Restored);
    }

    [Fact]
    public async Task A_restoration_waits_for_the_catch_up_and_is_dropped_when_a_later_message_of_the_key_comes_first()
    {
        var publisher = new RecordingPublisher(firstPosition: 4);
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync(CaughtUp, default);
        Observe(repair, Create(1, 3), (RepairTombstone(1, 4, delete: 2), null));
        await repair.PublishAsync([], default);
        Observe(repair, Create(1, 5));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Single(publisher.Published);
        Assert.Equal(0, repair.Restored);
        Assert.Equal(1, repair.Superseded);
    }

    [Fact]
    public async Task The_value_of_a_subject_erased_since_it_was_read_is_never_published_again()
    {
        var publisher = new RecordingPublisher(firstPosition: 4);
        var repair = new TombstoneRepair(publisher, suppressed: _ => true);
        Observe(repair, Create(1, 1), Delete(1, 2));
        await repair.PublishAsync(CaughtUp, default);
        Observe(repair, Create(1, 3), (RepairTombstone(1, 4, delete: 2), null));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Single(publisher.Published);
        Assert.Equal(0, repair.Restored);
    }

    [Fact]
    public async Task A_restored_copy_neither_drops_a_pending_repair_nor_counts_as_a_newer_value()
    {
        var publisher = new RecordingPublisher();
        var repair = new TombstoneRepair(publisher);
        var copy = Message(1, 3, properties: new Dictionary<string, string> { [TombstoneRepair.RestoredProperty] = StreamPosition.ForLine(1).ToString() });
        Observe(repair, Create(1, 1), Delete(1, 2), (copy, Change.Create(("id", 1), 1, ("name", "v1"))));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Null(Assert.Single(publisher.Published).Value);
    }

    [Fact]
    public async Task A_message_that_cannot_be_decoded_counts_as_a_live_value_and_drops_the_repair()
    {
        var publisher = new RecordingPublisher();
        var repair = new TombstoneRepair(publisher);
        Observe(repair, Create(1, 1), Delete(1, 2), (Message(1, 3), null));

        await repair.PublishAsync(CaughtUp, default);

        Assert.Empty(publisher.Published);
    }

    [Fact]
    public void Only_tombstones_carrying_the_repair_property_are_repair_tombstones()
    {
        var marked = RepairTombstone(1, 2, delete: 1);

        Assert.True(TombstoneRepair.IsRepairTombstone(marked));
        Assert.False(TombstoneRepair.IsRepairTombstone(Message(1, 2, tombstone: true)));
        Assert.False(TombstoneRepair.IsRepairTombstone(new SourceMessage { Topic = Topic, Position = marked.Position, Key = marked.Key, Value = "{}"u8.ToArray(), Properties = marked.Properties }));
    }

    // The rule inside a running materializer: the reader says when a stream is at its end.

    [Fact]
    public async Task A_run_publishes_no_tombstone_when_the_re_create_comes_in_a_batch_read_after_the_delete_but_before_the_end()
    {
        var reader = new ScriptedReader([[Debezium(1, "c", 1), Debezium(1, "d", 2)], [Debezium(1, "c", 3)]], false, true);
        var publisher = new RecordingPublisher();
        var sink = new ReferenceSink();

        var runner = await RunAsync(reader, sink, new TombstoneRepair(publisher));

        Assert.Empty(publisher.Published);
        Assert.Equal(1, runner.Counters.RepairsSuperseded);
        Assert.Equal(0, runner.Counters.TombstonesRepaired);
        Assert.Single(sink.Rows("users"));
    }

    [Fact]
    public async Task A_run_publishes_the_repair_once_the_reader_is_at_the_end_and_before_acknowledging_that_batch()
    {
        var reader = new ScriptedReader([[Debezium(1, "c", 1), Debezium(1, "d", 2)], [Debezium(2, "c", 3)]], false, true);
        var publisher = new RecordingPublisher { Log = reader.Log };

        var runner = await RunAsync(reader, new ReferenceSink(), new TombstoneRepair(publisher));

        Assert.Equal(Key(1), Assert.Single(publisher.Published).Key);
        Assert.Equal(1, runner.Counters.TombstonesRepaired);
        Assert.Equal(["ack 1", "publish", "ack 2"], reader.Log.Entries.Where(e => e != "end?"));
    }

    [Fact]
    public async Task Without_repair_the_run_never_asks_the_source_where_its_streams_end_and_publishes_nothing()
    {
        var reader = new ScriptedReader([[Debezium(1, "c", 1), Debezium(1, "d", 2)]], true);

        var runner = await RunAsync(reader, new ReferenceSink(), repair: null);

        Assert.DoesNotContain("end?", reader.Log.Entries);
        Assert.Equal(0, runner.Counters.TombstonesRepaired);
        Assert.Equal(1, runner.Counters.Deleted);
    }

    [Fact]
    public async Task With_repair_but_no_delete_the_run_never_asks_the_source_where_its_streams_end()
    {
        var reader = new ScriptedReader([[Debezium(1, "c", 1), Debezium(2, "c", 2)], [Debezium(1, "u", 3)]], true);

        await RunAsync(reader, new ReferenceSink(), new TombstoneRepair(new RecordingPublisher()));

        Assert.DoesNotContain("end?", reader.Log.Entries);
    }

    [Fact]
    public async Task A_stopping_run_publishes_the_repairs_whose_streams_are_at_their_end_by_then()
    {
        // Not at the end right after the batch (a message was still on its way), at the end at the stop.
        var reader = new ScriptedReader([[Debezium(1, "c", 1), Debezium(1, "d", 2)]], false, true);
        var publisher = new RecordingPublisher();

        var runner = await RunAsync(reader, new ReferenceSink(), new TombstoneRepair(publisher));

        Assert.Single(publisher.Published);
        Assert.Equal(1, runner.Counters.TombstonesRepaired);
    }

    [Fact]
    public async Task A_restored_copy_carries_the_version_of_the_message_it_copies_so_a_later_delete_in_the_sink_stands()
    {
        // Changes without an LSN are versioned by position: the copy at 3 repeats the create at 1,
        // and must not undo the delete at 2.
        var copy = Debezium(1, "c", 3, lsn: false, properties: new Dictionary<string, string> { [TombstoneRepair.RestoredProperty] = StreamPosition.ForLine(1).ToString() });
        var reader = new ScriptedReader([[Debezium(1, "c", 1, lsn: false), Debezium(1, "d", 2, lsn: false)], [copy]], false);
        var sink = new ReferenceSink();

        var runner = await RunAsync(reader, sink, repair: null);

        Assert.Empty(sink.Rows("users"));
        Assert.Equal(1, runner.Counters.SkippedStale);
    }

    [Fact]
    public async Task A_scrubbed_copy_carries_the_version_of_the_message_it_replaces_so_a_later_delete_in_the_sink_stands()
    {
        // An erase scrubbed the create at 1 while the key was being deleted at 2: its copy lands at 3.
        var copy = Debezium(1, "c", 3, lsn: false, properties: new Dictionary<string, string> { [BeforeImageScrubber.ScrubbedProperty] = StreamPosition.ForLine(1).ToString() });
        var reader = new ScriptedReader([[Debezium(1, "c", 1, lsn: false), Debezium(1, "d", 2, lsn: false)], [copy]], false);
        var sink = new ReferenceSink();

        var runner = await RunAsync(reader, sink, repair: null);

        Assert.Empty(sink.Rows("users"));
        Assert.Equal(1, runner.Counters.SkippedStale);
    }

    private static SourceMessage Debezium(int id, string op, long position, bool lsn = true, IReadOnlyDictionary<string, string>? properties = null)
    {
        var before = op is "u" or "d" ? $"{{\"id\":{id},\"name\":\"old\"}}" : "null";
        var after = op == "d" ? "null" : $"{{\"id\":{id},\"name\":\"v{position}\"}}";
        var source = lsn ? $"\"connector\":\"postgresql\",\"lsn\":{position}" : "\"connector\":\"mysql\"";
        return new SourceMessage
        {
            Topic = Topic,
            Position = StreamPosition.ForLine(position),
            Key = Key(id),
            Value = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"before\":{before},\"after\":{after},\"source\":{{{source},\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\"}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + position}}}")),
            Properties = properties ?? Origin.EmptyProperties,
        };
    }

    /// <summary>Runs until the reader has delivered its batches and the last one is acknowledged, then stops.</summary>
    private static async Task<MaterializerRunner> RunAsync(ScriptedReader reader, ISink sink, TombstoneRepair? repair)
    {
        var runner = TestRunners.OverReader(reader, sink, Topic, "debezium-json", batchSize: 10, tombstoneRepair: repair);
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);
        await reader.AllAcknowledged.WaitAsync(Patience);
        await stop.CancelAsync();
        await run.WaitAsync(Patience);
        return runner;
    }

    /// <summary>Delivers its batches, then waits as a live source with nothing new does. Asked
    /// whether its stream is at its end, it gives the scripted answers in turn, the last one from
    /// then on.</summary>
    private sealed class ScriptedReader(IReadOnlyList<IReadOnlyList<SourceMessage>> batches, params bool[] atEnd) : ISourceReader
    {
        private readonly TaskCompletionSource _allAcknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _read;
        private int _acknowledged;
        private int _asked;

        public EventLog Log { get; } = new();

        public Task AllAcknowledged => _allAcknowledged.Task;

        public IReadOnlyDictionary<string, StreamPosition> Cursor { get; } = new Dictionary<string, StreamPosition>();

        public bool CanReadAhead => true;

        public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
        {
            if (_read == batches.Count)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return [.. batches[_read++].Select(m => new SourceRecord(m, null))];
        }

        public ValueTask<bool> IsAtEndAsync(string stream, StreamPosition lastRead, CancellationToken cancellationToken)
        {
            Log.Add("end?");
            return ValueTask.FromResult(atEnd[Math.Min(_asked++, atEnd.Length - 1)]);
        }

        public ValueTask AcknowledgeAsync(CancellationToken cancellationToken) => AcknowledgeOldestBatchAsync(cancellationToken);

        public ValueTask AcknowledgeOldestBatchAsync(CancellationToken cancellationToken)
        {
            Log.Add($"ack {++_acknowledged}");
            if (_acknowledged == batches.Count)
            {
                _allAcknowledged.TrySetResult();
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class RecordingPublisher(long firstPosition = 100) : ITombstonePublisher
    {
        public List<(string Topic, MessageKey Key, byte[]? Value, IReadOnlyDictionary<string, string> Properties, DateTimeOffset? EventTime)> Published { get; } = [];

        public EventLog? Log { get; init; }

        public ValueTask<StreamPosition> PublishAsync(string topic, MessageKey key, ReadOnlyMemory<byte>? value, IReadOnlyDictionary<string, string> properties, DateTimeOffset? eventTime, CancellationToken cancellationToken)
        {
            Log?.Add("publish");
            Published.Add((topic, key, value?.ToArray(), properties, eventTime));
            return ValueTask.FromResult(StreamPosition.ForLine(firstPosition + Published.Count - 1));
        }
    }
}
