using System.Buffers.Binary;
using Google.Protobuf;

namespace Sync.Pulsar.Tests.Protocol;

public class BatchPayloadTests
{
    [Fact]
    public void Batch_round_trips_keys_properties_and_payloads()
    {
        var items = Enumerable.Range(0, 5).Select(i =>
        {
            var metadata = new SingleMessageMetadata
            {
                PartitionKey = $"key-{i}",
                EventTime = (ulong)(1000 + i),
                SequenceId = (ulong)i,
            };
            metadata.Properties.Add(new KeyValue { Key = "i", Value = i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            return (metadata, (ReadOnlyMemory<byte>)new byte[i * 3]);
        }).ToList();

        var decoded = BatchPayload.Decode(BatchPayload.Encode(items), items.Count);

        Assert.Equal(5, decoded.Length);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(i, decoded[i].Index);
            Assert.Equal(items[i].metadata, decoded[i].Metadata);
            Assert.Equal(i * 3, decoded[i].Payload.Length);
        }
    }

    [Fact]
    public void Null_value_and_compacted_out_items_keep_their_flags_and_empty_payloads()
    {
        var tombstone = new SingleMessageMetadata { PartitionKey = "gone", NullValue = true };
        var placeholder = new SingleMessageMetadata { PartitionKey = "old", CompactedOut = true };
        var live = new SingleMessageMetadata { PartitionKey = "live" };

        var decoded = BatchPayload.Decode(
            BatchPayload.Encode([(tombstone, ReadOnlyMemory<byte>.Empty), (placeholder, ReadOnlyMemory<byte>.Empty), (live, "v"u8.ToArray())]),
            3);

        Assert.True(decoded[0].Metadata.NullValue);
        Assert.Equal(0, decoded[0].Metadata.PayloadSize);
        Assert.True(decoded[1].Metadata.CompactedOut);
        Assert.Equal("v"u8.ToArray(), decoded[2].Payload.ToArray());
    }

    [Fact]
    public void Partition_key_flagged_as_base64_round_trips()
    {
        var metadata = new SingleMessageMetadata { PartitionKey = Convert.ToBase64String([0, 1, 2]), PartitionKeyB64Encoded = true };

        var decoded = BatchPayload.Decode(BatchPayload.Encode([(metadata, ReadOnlyMemory<byte>.Empty)]), 1)[0];

        Assert.True(decoded.Metadata.PartitionKeyB64Encoded);
        Assert.Equal([0, 1, 2], Convert.FromBase64String(decoded.Metadata.PartitionKey));
    }

    [Fact]
    public void Count_larger_than_the_batch_can_hold_is_rejected_without_allocating_it()
    {
        var batch = BatchPayload.Encode([(new SingleMessageMetadata(), "x"u8.ToArray())]);

        var error = Assert.Throws<PulsarProtocolException>(() => BatchPayload.Decode(batch, int.MaxValue));
        Assert.Contains("cannot fit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batch_that_ends_before_its_announced_count_is_rejected()
    {
        var batch = BatchPayload.Encode([(new SingleMessageMetadata(), "abcdefgh"u8.ToArray())]);

        Assert.Throws<PulsarProtocolException>(() => BatchPayload.Decode(batch, 2));
    }

    [Fact]
    public void Payload_size_larger_than_the_bytes_left_is_rejected()
    {
        var metadata = new SingleMessageMetadata { PayloadSize = 1000 };
        var metadataBytes = metadata.ToByteArray();
        var batch = new byte[4 + metadataBytes.Length + 3];
        BinaryPrimitives.WriteUInt32BigEndian(batch, (uint)metadataBytes.Length);
        metadataBytes.CopyTo(batch, 4);

        var error = Assert.Throws<PulsarProtocolException>(() => BatchPayload.Decode(batch, 1));
        Assert.Contains("payload_size 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Metadata_size_larger_than_the_bytes_left_is_rejected()
    {
        var batch = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(batch, uint.MaxValue);

        Assert.Throws<PulsarProtocolException>(() => BatchPayload.Decode(batch, 1));
    }

    [Fact]
    public void Empty_ack_set_means_every_item_is_pending()
    {
        Assert.True(AckSet.IsPending([], 0));
        Assert.True(AckSet.IsPending([], 200));
    }

    [Fact]
    public void Ack_set_follows_the_java_bitset_word_layout()
    {
        // Items 0 and 65 pending: word 0 bit 0, word 1 bit 1 (BitSet.toLongArray).
        long[] ackSet = [1L, 2L];

        Assert.True(AckSet.IsPending(ackSet, 0));
        Assert.False(AckSet.IsPending(ackSet, 1));
        Assert.False(AckSet.IsPending(ackSet, 64));
        Assert.True(AckSet.IsPending(ackSet, 65));
        Assert.False(AckSet.IsPending(ackSet, 200)); // beyond the words: a clear bit, acknowledged
        Assert.Equal(ackSet, AckSet.FromPending(66, [0, 65]));
    }

    [Fact]
    public void Highest_bit_of_a_word_is_read_as_pending()
    {
        var ackSet = AckSet.FromPending(64, [63]);

        Assert.Equal(long.MinValue, ackSet[0]);
        Assert.True(AckSet.IsPending(ackSet, 63));
    }
}
