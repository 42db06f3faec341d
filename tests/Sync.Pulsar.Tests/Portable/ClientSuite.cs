using Sync.Pulsar.Admin;
using Sync.Pulsar.Internal;
using AccessMode = Sync.Pulsar.Protocol.Proto.CommandProducer.Types.ProducerAccessMode;

namespace Sync.Pulsar.Tests.Portable;

/// <summary>
/// The client behaviours that do not need fault injection, written once and run against every
/// broker the suite is bound to: the fake broker here, and Apache Pulsar in a container where
/// Docker runs (<see cref="ClientSuiteOnRealPulsar"/>). What passes on the fake and fails on the
/// real broker is a difference of the fake, to be fixed there.
/// </summary>
public abstract class ClientSuite(IBrokerTarget target) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    protected PulsarClient Client { get; private set; } = null!;

    protected PulsarAdminClient Admin { get; private set; } = null!;

    protected string Topic { get; } = $"persistent://public/default/suite-{Guid.NewGuid():N}";

    public Task InitializeAsync()
    {
        Client = new PulsarClient(new PulsarClientOptions
        {
            ServiceUrl = target.ServiceUrl,
            OperationTimeout = Patience,
            RetryInitialDelay = TimeSpan.FromMilliseconds(10),
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        Admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = target.AdminUrl });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        await Client.DisposeAsync();
    }

    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    private async Task<PulsarConsumer> SubscribeAsync(
        string subscription = "suite", SubscriptionType type = SubscriptionType.Exclusive, string? name = null, KeySharedPolicy? keyShared = null, bool batchIndexAck = false) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = subscription,
            SubscriptionType = type,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ConsumerName = name,
            KeyShared = keyShared,
            AckReceiptEnabled = true,
            BatchIndexAcknowledgment = batchIndexAck,
        });

    private async Task<PulsarConsumer> ReaderAsync(MessageId start) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions { Topic = Topic, SubscriptionName = $"reader-{Guid.NewGuid():N}", StartMessageId = start });

    private async Task<List<MessageId>> ProduceAsync(int count, Func<int, string?>? key = null)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });
        var ids = new List<MessageId>();
        for (var i = 0; i < count; i++)
        {
            ids.Add(await producer.SendAsync(new OutgoingMessage { Key = key?.Invoke(i), Data = Encoding.UTF8.GetBytes($"m{i}") }));
        }
        return ids;
    }

    /// <summary>Sends <paramref name="count"/> messages without awaiting each, so that the batching producer puts them in one entry.</summary>
    private async Task<List<MessageId>> ProduceOneBatchAsync(int count)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions
        {
            Topic = Topic,
            BatchingEnabled = true,
            BatchingMaxMessages = count,
            BatchingMaxDelay = TimeSpan.FromSeconds(5),
        });
        var sends = Enumerable.Range(0, count).Select(i => producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"b{i}") }).AsTask()).ToList();
        return [.. await Task.WhenAll(sends)];
    }

    private static async Task<List<PulsarMessage>> ReceiveAsync(IPulsarConsumer consumer, int count)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var messages = new List<PulsarMessage>();
        while (messages.Count < count)
        {
            messages.Add(await consumer.ReceiveAsync(timeout.Token));
        }
        return messages;
    }

    /// <summary>Shows that nothing more is on its way to the one consumer of its subscription: a
    /// marker published now must be the next message it receives, since anything still due comes
    /// before it. For the end of a test: the marker stays on the topic.</summary>
    private async Task AssertOnlyAMarkerComesNextAsync(IPulsarConsumer consumer)
    {
        var marker = $"marker-{Guid.NewGuid():N}";
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes(marker) });
        }

        Assert.Equal(marker, Text(Assert.Single(await ReceiveAsync(consumer, 1))));
    }

    [BrokerFact]
    public async Task A_message_keeps_its_key_properties_and_event_time()
    {
        await using var consumer = await SubscribeAsync();
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            await producer.SendAsync(new OutgoingMessage
            {
                Key = "order-7",
                Data = "payload"u8.ToArray(),
                Properties = new Dictionary<string, string> { ["source"] = "suite" },
                EventTimeMs = 1_700_000_000_000,
            });
        }

        var message = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal(("order-7", "payload", 1_700_000_000_000ul), (message.Key, Text(message), message.EventTimeMs));
        Assert.Equal([KeyValuePair.Create("source", "suite")], message.Properties);
    }

    [BrokerFact]
    public async Task Batched_and_compressed_messages_arrive_in_order()
    {
        await using var consumer = await SubscribeAsync();
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic, BatchingEnabled = true, Compression = CompressionType.Lz4 }))
        {
            await Task.WhenAll(Enumerable.Range(0, 200).Select(i => producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"m{i}") }).AsTask()));
        }

        var received = await ReceiveAsync(consumer, 200);

        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"m{i}"), received.Select(Text));
    }

    [BrokerFact]
    public async Task Only_unacknowledged_messages_come_to_the_next_consumer_of_the_subscription()
    {
        await ProduceAsync(4);
        await using (var first = await SubscribeAsync())
        {
            var received = await ReceiveAsync(first, 4);
            await first.AcknowledgeAsync(received[0].Id);
            await first.AcknowledgeAsync(received[2].Id);
        }

        await using var second = await SubscribeAsync();

        Assert.Equal(["m1", "m3"], (await ReceiveAsync(second, 2)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(second);
    }

    [BrokerFact]
    public async Task A_cumulative_ack_covers_every_earlier_message()
    {
        await ProduceAsync(5);
        await using (var first = await SubscribeAsync())
        {
            var received = await ReceiveAsync(first, 5);
            await first.AcknowledgeCumulativeAsync(received[2].Id);
        }

        await using var second = await SubscribeAsync();

        Assert.Equal(["m3", "m4"], (await ReceiveAsync(second, 2)).Select(Text));
    }

    [BrokerFact]
    public async Task Messages_acknowledged_inside_a_batch_do_not_come_back()
    {
        var ids = await ProduceOneBatchAsync(10);
        Assert.Single(ids.Select(id => (id.LedgerId, id.EntryId)).Distinct());
        await using (var first = await SubscribeAsync(type: SubscriptionType.Shared, batchIndexAck: true))
        {
            var received = await ReceiveAsync(first, 10);
            await first.AcknowledgeAsync([received[1].Id, received[4].Id, received[7].Id]);
        }

        await using var second = await SubscribeAsync(type: SubscriptionType.Shared, batchIndexAck: true);

        Assert.Equal(["b0", "b2", "b3", "b5", "b6", "b8", "b9"], (await ReceiveAsync(second, 7)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(second);
    }

    [BrokerFact]
    public async Task Key_Shared_sends_each_key_to_one_consumer()
    {
        var consumers = new[]
        {
            await SubscribeAsync(type: SubscriptionType.KeyShared, name: "ks-a"),
            await SubscribeAsync(type: SubscriptionType.KeyShared, name: "ks-b"),
        };
        await ProduceAsync(60, i => $"key-{i % 12}");

        var owners = new Dictionary<string, HashSet<string>>();
        var total = 0;
        using var timeout = new CancellationTokenSource(Patience);
        while (total < 60)
        {
            foreach (var consumer in consumers)
            {
                while (consumer.QueuedMessages > 0)
                {
                    var message = await consumer.ReceiveAsync(timeout.Token);
                    await consumer.AcknowledgeAsync(message.Id, timeout.Token);
                    (owners.TryGetValue(message.Key!, out var set) ? set : owners[message.Key!] = []).Add(consumer.ConsumerName);
                    total++;
                }
            }
            await Task.Delay(10, timeout.Token);
        }
        foreach (var consumer in consumers)
        {
            await consumer.DisposeAsync();
        }

        Assert.Equal(12, owners.Count);
        Assert.All(owners.Values, set => Assert.Single(set));
    }

    [BrokerFact]
    public async Task Sticky_hash_ranges_decide_who_gets_a_key_and_may_not_overlap()
    {
        await using var low = await SubscribeAsync(type: SubscriptionType.KeyShared, name: "low", keyShared: KeySharedPolicy.Sticky(new HashRange(0, 32767)));
        await using var high = await SubscribeAsync(type: SubscriptionType.KeyShared, name: "high", keyShared: KeySharedPolicy.Sticky(new HashRange(32768, 65535)));
        var keys = Enumerable.Range(0, 20).Select(i => $"k{i}").ToList();
        await ProduceAsync(keys.Count, i => keys[i]);
        var lowKeys = keys.Where(k => KeyHashing.StickyKeyHash(Encoding.UTF8.GetBytes(k)) <= 32767).ToList();

        var toLow = await ReceiveAsync(low, lowKeys.Count);
        var toHigh = await ReceiveAsync(high, keys.Count - lowKeys.Count);

        Assert.Equal(lowKeys, toLow.Select(m => m.Key));
        Assert.Equal(keys.Except(lowKeys), toHigh.Select(m => m.Key));
        await Assert.ThrowsAsync<ConsumerAssignException>(() =>
            SubscribeAsync(type: SubscriptionType.KeyShared, name: "overlap", keyShared: KeySharedPolicy.Sticky(new HashRange(30000, 40000))));
    }

    [BrokerFact]
    public async Task Seek_moves_a_subscription_back_to_a_message()
    {
        var ids = await ProduceAsync(5);
        await using var consumer = await SubscribeAsync();
        foreach (var message in await ReceiveAsync(consumer, 5))
        {
            await consumer.AcknowledgeAsync(message.Id);
        }

        await consumer.SeekAsync(ids[2]);

        Assert.Equal(["m2", "m3", "m4"], (await ReceiveAsync(consumer, 3)).Select(Text));
    }

    [BrokerFact]
    public async Task Seek_moves_a_reader_by_message_id_and_by_publish_time()
    {
        var ids = await ProduceAsync(6);
        await using var reader = await ReaderAsync(MessageId.Earliest);
        var all = await ReceiveAsync(reader, 6);

        await reader.SeekAsync(ids[3]);
        var byId = await ReceiveAsync(reader, 3);
        var since = all[1].PublishTimeMs;
        // Publish times have millisecond resolution: whatever was published from that millisecond on.
        var expectedByTime = all.Where(m => m.PublishTimeMs >= since).Select(Text).ToList();
        await reader.SeekAsync(DateTimeOffset.FromUnixTimeMilliseconds((long)since));
        var byTime = await ReceiveAsync(reader, expectedByTime.Count);

        Assert.Equal(["m3", "m4", "m5"], byId.Select(Text));
        Assert.Equal(expectedByTime, byTime.Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [BrokerFact]
    public async Task The_last_message_id_names_the_last_entry()
    {
        var ids = await ProduceAsync(3);
        await using var consumer = await SubscribeAsync();

        var last = await consumer.GetLastMessageIdAsync();

        Assert.Equal((ids[^1].LedgerId, ids[^1].EntryId), (last.LedgerId, last.EntryId));
    }

    [BrokerFact]
    public async Task Read_compacted_sees_the_latest_value_per_key_without_tombstoned_keys()
    {
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            await producer.SendAsync(new OutgoingMessage { Key = "a", Data = "a1"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Key = "b", Data = "b1"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Key = "a", Data = "a2"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { KeyBytes = "{\"id\":1}"u8.ToArray(), Data = "c1"u8.ToArray() });
            await producer.SendAsync(OutgoingMessage.Tombstone("b"));
        }

        await Admin.CompactAndWaitAsync(Topic, TimeSpan.FromMilliseconds(200));
        await using var reader = (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "compacted",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ReadCompacted = true,
        });
        var seen = (await ReceiveAsync(reader, 2)).Select(m => (m.Key, m.KeyIsBase64, Text(m))).ToList();

        Assert.Equal([("a", false, "a2"), (Convert.ToBase64String("{\"id\":1}"u8), true, "c1")], seen);
    }

    [BrokerFact]
    public async Task A_consumer_reports_connected_then_closed()
    {
        var consumer = await SubscribeAsync();
        var atStart = await consumer.OnStateChangeTo(PulsarObjectState.Connected);

        await consumer.DisposeAsync();

        Assert.Equal(PulsarObjectState.Connected, atStart);
        Assert.Equal(PulsarObjectState.Closed, consumer.State);
    }

    /// <summary>A Failover subscription tells each consumer whether it is the active one
    /// (ACTIVE_CONSUMER_CHANGE: apache/pulsar AbstractDispatcherSingleActiveConsumer.addConsumer
    /// and notifyActiveConsumerChanged), and tells the standby when it takes over. Which of the two
    /// is chosen first differs between brokers (the real one hashes consumer names), so the test
    /// follows whichever the broker names.</summary>
    [BrokerFact]
    public async Task Failover_consumers_are_told_which_one_is_active_and_the_standby_when_it_takes_over()
    {
        var first = await SubscribeAsync(type: SubscriptionType.Failover, name: "consumer-a");
        var second = await SubscribeAsync(type: SubscriptionType.Failover, name: "consumer-b");
        try
        {
            await UntilAsync(() => first.IsActive is not null && second.IsActive is not null && first.IsActive != second.IsActive);
            var (active, standby) = first.IsActive == true ? (first, second) : (second, first);

            await active.DisposeAsync();
            await UntilAsync(() => standby.IsActive == true);

            Assert.True(standby.IsActive);
        }
        finally
        {
            await first.DisposeAsync();
            await second.DisposeAsync();
        }
    }

    /// <summary>A producer name belongs to one connected producer (apache/pulsar
    /// AbstractTopic.tryOverwriteOldProducer: NamingException, answered as ProducerBusy).</summary>
    [BrokerFact]
    public async Task A_second_producer_under_a_connected_producer_name_is_busy()
    {
        await using var first = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic, ProducerName = "suite-named" });

        var busy = await Assert.ThrowsAsync<ProducerBusyException>(async () => await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic, ProducerName = "suite-named" }));

        Assert.Contains("already connected", busy.ServerMessage, StringComparison.Ordinal);
    }

    /// <summary>Under the default compatibility strategy a schema of another type is refused
    /// (SchemaRegistryServiceImpl.checkCompatibilityWithAll).</summary>
    [BrokerFact]
    public async Task A_schema_of_another_type_than_the_topics_is_incompatible()
    {
        var json = new PulsarSchema { Name = "suite", Type = PulsarSchemaType.Json, Data = "{\"type\":\"record\",\"name\":\"Suite\",\"fields\":[]}"u8.ToArray() };
        await using (await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic, Schema = json }))
        {
        }

        var refused = await Assert.ThrowsAsync<IncompatibleSchemaException>(() => Client.GetOrCreateSchemaAsync(Topic, new PulsarSchema { Name = "suite", Type = PulsarSchemaType.String }));

        Assert.Contains("Incompatible schema", refused.ServerMessage, StringComparison.Ordinal);
    }

    /// <summary>Our client always asks for the Shared access mode, so the access-mode cases send
    /// PRODUCER as the Java client does (producer_access_mode, and topic_epoch when it reconnects),
    /// on one connection, each producer under its own id.</summary>
    private async Task<(PulsarConnection Connection, Func<AccessMode, ulong?, Task<(ulong Id, CommandProducerSuccess Answer)>> Open, Func<ulong, Task> Close)> RawProducersAsync()
    {
        var connection = await Client.GetConnectionAsync(target.ServiceUrl, null, CancellationToken.None);

        async Task<(ulong, CommandProducerSuccess)> OpenAsync(AccessMode mode, ulong? epoch)
        {
            var producerId = connection.NextProducerId();
            var requestId = connection.NextRequestId();
            var request = new CommandProducer { Topic = Topic, ProducerId = producerId, RequestId = requestId, ProducerAccessMode = mode, UserProvidedProducerName = false };
            if (epoch is { } topicEpoch)
            {
                request.TopicEpoch = topicEpoch;
            }
            var answer = await connection.RequestAsync(new BaseCommand { Type = BaseCommand.Types.Type.Producer, Producer = request }, requestId, "PRODUCER", CancellationToken.None);
            return (producerId, answer.ProducerSuccess);
        }

        async Task CloseAsync(ulong producerId)
        {
            var requestId = connection.NextRequestId();
            await connection.RequestAsync(
                new BaseCommand { Type = BaseCommand.Types.Type.CloseProducer, CloseProducer = new CommandCloseProducer { ProducerId = producerId, RequestId = requestId } },
                requestId,
                "CLOSE_PRODUCER",
                CancellationToken.None);
        }

        return (connection, OpenAsync, CloseAsync);
    }

    /// <summary>Access modes (apache/pulsar pulsar-broker/src/main/java/org/apache/pulsar/broker/
    /// service/AbstractTopic.java, incrementTopicEpochIfNeeded): an Exclusive producer takes the
    /// topic with epoch 0 on a new topic; a second Exclusive one is fenced (ProducerFenced), a
    /// Shared one is busy (ProducerBusy), both "Topic has an existing exclusive producer".</summary>
    [BrokerFact]
    public async Task An_exclusive_producer_fences_a_second_exclusive_one_and_makes_a_shared_one_busy()
    {
        var (_, open, _) = await RawProducersAsync();
        var (_, first) = await open(AccessMode.Exclusive, null);

        var fenced = await Assert.ThrowsAsync<ProducerFencedException>(() => open(AccessMode.Exclusive, null));
        var busy = await Assert.ThrowsAsync<ProducerBusyException>(() => open(AccessMode.Shared, null));

        Assert.Equal(0ul, first.TopicEpoch);
        Assert.Contains("Topic has an existing exclusive producer", fenced.ServerMessage, StringComparison.Ordinal);
        Assert.Contains("Topic has an existing exclusive producer", busy.ServerMessage, StringComparison.Ordinal);
    }

    /// <summary>An Exclusive producer may not start next to shared ones: ProducerFenced, "Topic has
    /// existing shared producers" (AbstractTopic.incrementTopicEpochIfNeeded).</summary>
    [BrokerFact]
    public async Task An_exclusive_producer_is_fenced_while_a_shared_one_is_connected()
    {
        var (_, open, _) = await RawProducersAsync();
        await open(AccessMode.Shared, null);

        var fenced = await Assert.ThrowsAsync<ProducerFencedException>(() => open(AccessMode.Exclusive, null));

        Assert.Equal("Topic has existing shared producers", fenced.ServerMessage);
    }

    /// <summary>A WaitForExclusive producer next to an exclusive one is queued: ServerCnx.handleProducer
    /// answers producer_ready=false at once, and the ready answer, with the next topic epoch, when
    /// the exclusive producer leaves (AbstractTopic.handleProducerRemoved hands the topic on).</summary>
    [BrokerFact]
    public async Task A_waiting_producer_is_queued_then_gets_the_topic_with_the_next_epoch_when_the_exclusive_one_closes()
    {
        var (connection, open, close) = await RawProducersAsync();
        var queued = new TaskCompletionSource<CommandProducerSuccess>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ProducerQueued += answer => queued.TrySetResult(answer);
        var (firstId, first) = await open(AccessMode.Exclusive, null);

        var waiting = open(AccessMode.WaitForExclusive, null);
        var notReady = await queued.Task.WaitAsync(Patience);
        await close(firstId);
        var (_, ready) = await waiting.WaitAsync(Patience);

        Assert.Equal(0ul, first.TopicEpoch);
        Assert.False(notReady.ProducerReady);
        Assert.Equal((true, 1ul), (ready.ProducerReady, ready.TopicEpoch));
    }

    /// <summary>A producer that comes back with an epoch the topic has moved past was replaced in
    /// between, so it is fenced: "Topic epoch has already moved" (AbstractTopic.incrementTopicEpochIfNeeded;
    /// the epoch is kept with the topic, PersistentTopic.incrementTopicEpoch).</summary>
    [BrokerFact]
    public async Task A_producer_coming_back_with_an_epoch_the_topic_has_moved_past_is_fenced()
    {
        var (_, open, close) = await RawProducersAsync();
        var (firstId, first) = await open(AccessMode.Exclusive, null);
        await close(firstId);
        var (secondId, _) = await open(AccessMode.Exclusive, null);
        await close(secondId);

        var fenced = await Assert.ThrowsAsync<ProducerFencedException>(() => open(AccessMode.Exclusive, first.TopicEpoch));

        Assert.Equal("Topic epoch has already moved. Current epoch: 1, Producer epoch: 0", fenced.ServerMessage);
    }

    /// <summary>GET_TOPICS_OF_NAMESPACE with a topics_pattern, as a client sends it, after creating
    /// four topics under a fresh prefix. The broker filters as apache/pulsar
    /// pulsar-common/src/main/java/org/apache/pulsar/common/topics/TopicList.java (filterTopics)
    /// does. Patterns stay within the broker's default subscriptionPatternMaxLength (50,
    /// ServiceConfiguration): a longer one is not applied.</summary>
    private async Task<IReadOnlyList<string>> TopicsMatchingAsync(string prefix, string pattern)
    {
        foreach (var name in (string[])[$"{prefix}.users", $"{prefix}.orders", $"{prefix}.orders-extra", $"other-{prefix}.users"])
        {
            await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = $"persistent://public/default/{name}" });
        }

        var connection = await Client.GetConnectionAsync(target.ServiceUrl, null, CancellationToken.None);
        var requestId = connection.NextRequestId();
        var answer = await connection.RequestAsync(
            new BaseCommand
            {
                Type = BaseCommand.Types.Type.GetTopicsOfNamespace,
                GetTopicsOfNamespace = new CommandGetTopicsOfNamespace
                {
                    RequestId = requestId,
                    Namespace = "public/default",
                    Mode = CommandGetTopicsOfNamespace.Types.Mode.Persistent,
                    TopicsPattern = pattern,
                },
            },
            requestId,
            "GET_TOPICS_OF_NAMESPACE",
            CancellationToken.None);
        Assert.True(answer.GetTopicsOfNamespaceResponse.Filtered);
        return [.. answer.GetTopicsOfNamespaceResponse.Topics.Order(StringComparer.Ordinal)];
    }

    private static string NewTopicPrefix() => $"db{Guid.NewGuid():N}"[..10];

    /// <summary>The Java client sends its pattern with the domain ("persistent://public/default/x.*");
    /// TopicList.removeTopicDomainScheme drops it before matching names without domain.</summary>
    [BrokerFact]
    public async Task A_pattern_sent_with_its_domain_as_Java_clients_send_it_matches_the_topics()
    {
        var prefix = NewTopicPrefix();

        var topics = await TopicsMatchingAsync(prefix, $"persistent://public/default/{prefix}\\..*");

        Assert.Equal([$"persistent://public/default/{prefix}.orders", $"persistent://public/default/{prefix}.orders-extra", $"persistent://public/default/{prefix}.users"], topics);
    }

    /// <summary>The pattern must match the whole name (Matcher.matches in TopicList.filterTopics),
    /// so ".orders" does not match ".orders-extra", unanchored as it is.</summary>
    [BrokerFact]
    public async Task A_pattern_must_match_the_whole_name_not_a_part_of_it()
    {
        var prefix = NewTopicPrefix();

        var topics = await TopicsMatchingAsync(prefix, $"public/default/{prefix}\\.orders");

        Assert.Equal([$"persistent://public/default/{prefix}.orders"], topics);
    }

    /// <summary>Our client strips the domain and anchors the pattern itself (MultiTopicConsumer): the
    /// same topics as the Java shape.</summary>
    [BrokerFact]
    public async Task An_anchored_pattern_without_domain_as_our_client_sends_it_matches_the_same()
    {
        var prefix = NewTopicPrefix();

        var topics = await TopicsMatchingAsync(prefix, $"^public/default/{prefix}\\.orders$");

        Assert.Equal([$"persistent://public/default/{prefix}.orders"], topics);
    }

    private static async Task UntilAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not reached within {Patience}");
            await Task.Delay(10);
        }
    }
}

/// <summary>The portable suite against the in-process fake broker.</summary>
public sealed class ClientSuiteOnFakeBroker(FakeBrokerTarget target) : ClientSuite(target), IClassFixture<FakeBrokerTarget>;

/// <summary>
/// The portable suite against <see cref="RealPulsarTarget.Image"/> in a container, started once
/// for the class. Skipped with "Docker is not available" where no Docker engine runs.
/// </summary>
public sealed class ClientSuiteOnRealPulsar(RealPulsarTarget target) : ClientSuite(target), IClassFixture<RealPulsarTarget>, INeedsDocker;
