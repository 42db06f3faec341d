using Sync.Pulsar.Admin;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// Retention of the raw log in the fake broker: policies set through the admin API delete whole
/// consumed ledgers once past their time or size, judged by a clock the test moves.
/// </summary>
public class RetentionTests : AdminClientTestBase
{
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected override FakePulsarBrokerOptions BrokerOptions => new() { Clock = _clock, MaxEntriesPerLedger = 5 };

    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    /// <summary>Produces <paramref name="count"/> keyed messages m0..; with 5 entries per ledger, 12 make ledgers of 5, 5 and 2.</summary>
    private async Task<List<MessageId>> ProduceAsync(int count, int from = 0)
    {
        await using var producer = await ProducerAsync();
        var ids = new List<MessageId>();
        for (var i = from; i < from + count; i++)
        {
            ids.Add(await producer.SendAsync(new OutgoingMessage { Key = $"key-{i % 4}", Data = Encoding.UTF8.GetBytes($"m{i}") }));
        }
        return ids;
    }

    private async Task ConsumeAndAckAllAsync(int count)
    {
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        foreach (var message in await ReceiveAsync(consumer, count))
        {
            await consumer.AcknowledgeAsync(message.Id);
        }
    }

    private async Task<List<string>> ReadRawFromEarliestAsync(int expected)
    {
        await using var reader = await Client.SubscribeAsync(new ConsumerOptions { Topic = Topic, SubscriptionName = $"raw-{Guid.NewGuid():N}", StartMessageId = MessageId.Earliest });
        var received = await ReceiveAsync(reader, expected);
        // Read in order from the earliest kept: ending at the topic's last message leaves nothing more to come.
        var last = await reader.GetLastMessageIdAsync(Topic);
        Assert.Equal((last.LedgerId, last.EntryId), (received[^1].Id.LedgerId, received[^1].Id.EntryId));
        return received.Select(Text).ToList();
    }

    [Fact]
    public async Task A_rolled_over_topic_hands_out_ids_of_the_new_ledger()
    {
        var ids = await ProduceAsync(7);

        Assert.Equal(ids[0].LedgerId, ids[4].LedgerId);
        Assert.True(ids[5].LedgerId > ids[4].LedgerId);
        Assert.Equal([0ul, 1ul], ids[5..7].Select(id => id.EntryId));
        Assert.Equal(["m0", "m1", "m2", "m3", "m4", "m5", "m6"], await ReadRawFromEarliestAsync(7));
    }

    [Fact]
    public async Task Consumed_ledgers_go_once_the_topic_retention_time_has_passed()
    {
        await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(60, -1));
        await ProduceAsync(12);
        await ConsumeAndAckAllAsync(12);

        var beforeExpiry = Broker.EnforceRetention();
        _clock.Advance(TimeSpan.FromMinutes(61));
        var afterExpiry = Broker.EnforceRetention();

        Assert.Equal(0, beforeExpiry);
        Assert.Equal(2, afterExpiry);
        Assert.Single(Broker.FindTopic(Topic)!.Ledgers);
        Assert.Equal(["m10", "m11"], await ReadRawFromEarliestAsync(2));
    }

    [Fact]
    public async Task Unconsumed_ledgers_stay_whatever_their_age()
    {
        await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(60, -1));
        await ProduceAsync(12);
        await using (var slow = await ConsumerAsync("slow", ackReceipts: true))
        {
            // "slow" acknowledges only the first ledger.
            foreach (var message in await ReceiveAsync(slow, 5))
            {
                await slow.AcknowledgeAsync(message.Id);
            }
        }

        _clock.Advance(TimeSpan.FromDays(30));
        var deleted = Broker.EnforceRetention();

        Assert.Equal(1, deleted);
        Assert.Equal(["m5", "m6", "m7", "m8", "m9", "m10", "m11"], await ReadRawFromEarliestAsync(7));
    }

    [Fact]
    public async Task Without_any_policy_consumed_ledgers_go_at_the_next_check_as_with_the_broker_default()
    {
        await ProduceAsync(12);
        await ConsumeAndAckAllAsync(12);

        Assert.Equal(2, Broker.EnforceRetention());
    }

    [Fact]
    public async Task A_namespace_policy_applies_until_the_topic_has_its_own()
    {
        await Admin.SetNamespaceRetentionAsync("public/default", new RetentionPolicy(-1, -1));
        try
        {
            await ProduceAsync(12);
            await ConsumeAndAckAllAsync(12);
            _clock.Advance(TimeSpan.FromDays(365));

            var underInfiniteNamespacePolicy = Broker.EnforceRetention();
            await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(0, 0));
            var underTopicPolicy = Broker.EnforceRetention();

            Assert.Equal(0, underInfiniteNamespacePolicy);
            Assert.Equal(2, underTopicPolicy);
        }
        finally
        {
            await Admin.SetNamespaceRetentionAsync("public/default", new RetentionPolicy(0, 0));
        }
    }

    [Fact]
    public async Task The_size_limit_deletes_the_oldest_consumed_ledgers_first()
    {
        // 1 MB: messages of 300 KB make ledgers of 5 entries (1.5 MB); the size limit keeps what fits.
        await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(-1, 1));
        await using (var producer = await ProducerAsync())
        {
            for (var i = 0; i < 12; i++)
            {
                await producer.SendAsync(new OutgoingMessage { Data = new byte[300 * 1024] });
            }
        }
        await ConsumeAndAckAllAsync(12);

        var deleted = Broker.EnforceRetention();

        // 3.6 MB in three ledgers: deleting the first leaves 2.1 MB, still over; deleting the second
        // leaves 0.6 MB. The ledger being written always stays.
        Assert.Equal(2, deleted);
    }

    [Fact]
    public async Task The_compacted_view_keeps_keys_whose_raw_ledgers_retention_deleted()
    {
        await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(60, -1));
        await ProduceAsync(12);
        Broker.Compact(Topic);
        await ConsumeAndAckAllAsync(12);
        _clock.Advance(TimeSpan.FromMinutes(61));

        Broker.EnforceRetention();
        await ProduceAsync(1, from: 12);
        Broker.Compact(Topic);

        await using var reader = await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "compacted",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ReadCompacted = true,
        });
        var latest = (await ReceiveAsync(reader, 4)).ToDictionary(m => m.Key!, Text);
        // key-1 was last written in m9 (a deleted ledger), key-0 by m12 after the trim.
        Assert.Equal("m9", latest["key-1"]);
        Assert.Equal("m12", latest["key-0"]);
        Assert.Equal(["m10", "m11", "m12"], await ReadRawFromEarliestAsync(3));
    }

    [Fact]
    public async Task Truncate_deletes_every_ledger_but_the_one_being_written()
    {
        await ProduceAsync(12);
        await Admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(-1, -1));

        await Admin.TruncateAsync(Topic);

        Assert.Single(Broker.FindTopic(Topic)!.Ledgers);
        Assert.Equal(["m10", "m11"], await ReadRawFromEarliestAsync(2));
    }
}

/// <summary>The fault endpoints another process uses to drive retention in the fake.</summary>
public class RetentionFaultEndpointTests : ClientTestBase
{
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    protected override FakePulsarBrokerOptions BrokerOptions => new() { Clock = _clock };

    [Fact]
    public async Task Rolling_a_ledger_advancing_the_clock_and_enforcing_retention_work_over_http()
    {
        using var http = new HttpClient { BaseAddress = Broker.AdminUrl };
        using var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = Broker.AdminUrl });
        await admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(60, -1));
        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Data = "old"u8.ToArray() });
        }
        (await http.PostAsync(new Uri($"/fake/ledgers/roll?topic={Uri.EscapeDataString(Topic)}", UriKind.Relative), null)).EnsureSuccessStatusCode();

        var early = await (await http.PostAsync(new Uri("/fake/retention/enforce", UriKind.Relative), null)).Content.ReadAsStringAsync();
        (await http.PostAsync(new Uri("/fake/clock/advance?minutes=61", UriKind.Relative), null)).EnsureSuccessStatusCode();
        var late = await (await http.PostAsync(new Uri("/fake/retention/enforce", UriKind.Relative), null)).Content.ReadAsStringAsync();

        Assert.Equal("{\"deletedLedgers\":0}", early);
        Assert.Equal("{\"deletedLedgers\":1}", late);
        Assert.Empty(Broker.FindTopic(Topic)!.Entries);
    }
}
