using Sync.Engine.Changes;
using Sync.Engine.Runtime;
using Sync.Engine.Sources;
using Sync.Engine.Topics;
using Sync.Testing.Changes;

namespace Sync.Engine.Tests.Runtime;

/// <summary>Which keys of a batch get a repair tombstone.</summary>
public class TombstoneRepairRuleTests
{
    private const string Topic = "persistent://public/default/db.public.users";

    private static SourceMessage Message(int id, long position, bool tombstone = false) => new()
    {
        Topic = Topic,
        Position = StreamPosition.ForLine(position),
        Key = MessageKey.FromBytesAsBase64(System.Text.Encoding.UTF8.GetBytes($"{{\"id\":{id}}}")),
        Value = tombstone ? ReadOnlyMemory<byte>.Empty : "{}"u8.ToArray(),
    };

    private static async Task<List<(string Topic, MessageKey Key, IReadOnlyDictionary<string, string> Properties)>> RepairsAsync(params (SourceMessage Message, ChangeEvent Change)[] batch)
    {
        var publisher = new RecordingPublisher();
        var repair = new TombstoneRepair(publisher);
        foreach (var (message, change) in batch)
        {
            repair.Observe(message, change);
        }

        Assert.Empty(publisher.Published);
        var count = await repair.PublishAsync(default);
        Assert.Equal(count, publisher.Published.Count);
        Assert.Equal(0, await repair.PublishAsync(default));
        return publisher.Published;
    }

    [Fact]
    public async Task A_delete_that_is_the_last_message_of_its_key_in_the_batch_is_repaired_with_the_exact_key()
    {
        var delete = Message(1, 2);

        var published = await RepairsAsync((Message(1, 1), Change.Create(("id", 1), 1, ("name", "a"))), (delete, Change.Delete(("id", 1), 2)), (Message(2, 3), Change.Create(("id", 2), 3)));

        var (topic, key, properties) = Assert.Single(published);
        Assert.Equal(Topic, topic);
        Assert.Equal(delete.Key, key);
        Assert.Equal(delete.Position.ToString(), properties[TombstoneRepair.Property]);
    }

    [Fact]
    public async Task A_delete_followed_by_its_tombstone_or_a_new_insert_in_the_batch_is_not_repaired()
    {
        var published = await RepairsAsync(
            (Message(1, 1), Change.Delete(("id", 1), 1)),
            (Message(1, 2, tombstone: true), Change.Tombstone(("id", 1), 2)),
            (Message(2, 3), Change.Delete(("id", 2), 3)),
            (Message(2, 4), Change.Create(("id", 2), 4)));

        Assert.Empty(published);
    }

    [Fact]
    public void Only_tombstones_carrying_the_repair_property_are_repair_tombstones()
    {
        var marked = new SourceMessage
        {
            Topic = Topic,
            Position = StreamPosition.ForLine(1),
            Key = new MessageKey("k", false),
            HasValue = false,
            Properties = new Dictionary<string, string> { [TombstoneRepair.Property] = "1" },
        };

        Assert.True(TombstoneRepair.IsRepairTombstone(marked));
        Assert.False(TombstoneRepair.IsRepairTombstone(new SourceMessage { Topic = Topic, Position = marked.Position, Key = marked.Key, HasValue = false }));
        Assert.False(TombstoneRepair.IsRepairTombstone(new SourceMessage { Topic = Topic, Position = marked.Position, Key = marked.Key, Value = "{}"u8.ToArray(), Properties = marked.Properties }));
    }

    private sealed class RecordingPublisher : ITombstonePublisher
    {
        public List<(string Topic, MessageKey Key, IReadOnlyDictionary<string, string> Properties)> Published { get; } = [];

        public ValueTask<StreamPosition> PublishAsync(string topic, MessageKey key, ReadOnlyMemory<byte>? value, IReadOnlyDictionary<string, string> properties, DateTimeOffset? eventTime, CancellationToken cancellationToken)
        {
            Assert.Null(value);
            Published.Add((topic, key, properties));
            return ValueTask.FromResult(StreamPosition.ForLine(Published.Count));
        }
    }
}
