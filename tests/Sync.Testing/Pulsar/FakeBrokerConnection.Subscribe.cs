using System.Diagnostics.CodeAnalysis;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// SUBSCRIBE, FLOW, MESSAGE delivery, CLOSE_CONSUMER, UNSUBSCRIBE.
internal sealed partial class FakeBrokerConnection
{
    private readonly Dictionary<ulong, FakeConsumer> _consumers = [];

    private void HandleSubscribe(CommandSubscribe request)
    {
        if (Broker.Faults.TakeSubscribeFailure(out var injected))
        {
            SendError(request.RequestId, injected, "injected subscribe failure");
            return;
        }
        if (request.ReadCompacted && request.SubType is CommandSubscribe.Types.SubType.Shared or CommandSubscribe.Types.SubType.KeyShared)
        {
            // The broker allows read_compacted only on Exclusive and Failover subscriptions.
            SendError(request.RequestId, ServerError.NotAllowedError, "readCompacted only allowed on failover or exclusive subscriptions");
            return;
        }
        lock (Broker.Sync)
        {
            var topic = Broker.GetOrCreateTopicLocked(request.Topic);
            FakeSubscription? subscription;
            if (request.HasDurable && !request.Durable
                && topic.Subscriptions.TryGetValue(request.Subscription, out var kept) && !kept.IsDurable && kept.Consumers.Count == 0)
            {
                // A reader coming back after a seek finds its reset cursor and resumes there; its
                // start_message_id is not looked at (PersistentTopic.getNonDurableSubscription).
                subscription = kept;
            }
            else if (request.HasDurable && !request.Durable)
            {
                // A reader: a non-durable cursor of its own, placed at the start entry (the broker
                // opens it one entry before the start id, so that entry is delivered first;
                // the client drops it when its start is exclusive). Earliest is (-1,-1) and
                // Latest (Long.MAX, Long.MAX). It disappears with its consumer.
                var start = request.StartMessageId is { } id
                    ? topic.StartPositionOf(id)
                    : request.InitialPosition == CommandSubscribe.Types.InitialPosition.Earliest ? topic.FirstRetainedLocked : topic.EndLocked;
                subscription = new FakeSubscription(topic, request.Subscription, request.SubType, CompactedStart(topic, start, request.ReadCompacted)) { IsDurable = false, ReadCompacted = request.ReadCompacted };
                topic.Subscriptions[request.Subscription] = subscription;
            }
            else if (!topic.Subscriptions.TryGetValue(request.Subscription, out subscription))
            {
                // initialPosition only matters when the subscription is created: Latest starts
                // after the last entry, Earliest at the first.
                var start = request.InitialPosition == CommandSubscribe.Types.InitialPosition.Earliest ? topic.FirstRetainedLocked : topic.EndLocked;
                subscription = new FakeSubscription(topic, request.Subscription, request.SubType, CompactedStart(topic, start, request.ReadCompacted)) { ReadCompacted = request.ReadCompacted };
                topic.Subscriptions[request.Subscription] = subscription;
            }
            else if (subscription.Type != request.SubType)
            {
                // A subscription keeps its type while it has consumers; another type is refused.
                if (subscription.Consumers.Count > 0)
                {
                    SendError(request.RequestId, ServerError.ConsumerBusy, $"Subscription is of different type {subscription.Type}");
                    return;
                }
            }
            if (subscription.Type == CommandSubscribe.Types.SubType.Exclusive && subscription.Consumers.Count > 0)
            {
                SendError(request.RequestId, ServerError.ConsumerBusy, "Exclusive consumer is already connected");
                return;
            }
            var consumer = new FakeConsumer(this, request.ConsumerId, request.ConsumerName, subscription, request.KeySharedMeta);
            if (subscription.AddConsumerLocked(consumer) is { } refused)
            {
                SendError(request.RequestId, refused.Error, refused.Message);
                return;
            }
            _consumers[request.ConsumerId] = consumer;
            var activeChanged = subscription.TakeActiveChangeLocked();
            if (!activeChanged && subscription.ActiveConsumer is { } active)
            {
                // The active consumer stays: only the newcomer learns where it stands.
                SendActiveConsumerChangeLocked(consumer, consumer == active);
            }
            // SUCCESS goes through the ordered queue: no MESSAGE may overtake it.
            SendSuccess(request.RequestId);
            if (activeChanged)
            {
                subscription.NotifyActiveChangedLocked();
            }
        }
    }

    /// <summary>
    /// A read_compacted cursor at the earliest position reads the compacted ledger from its
    /// beginning, which may hold keys whose raw ledgers retention already deleted.
    /// </summary>
    private static ulong CompactedStart(FakeTopic topic, ulong start, bool readCompacted) =>
        readCompacted && start == topic.FirstRetainedLocked ? 0 : start;

    private void HandleFlow(CommandFlow flow)
    {
        lock (Broker.Sync)
        {
            if (_consumers.TryGetValue(flow.ConsumerId, out var consumer))
            {
                consumer.Permits += (int)Math.Min(flow.MessagePermits, int.MaxValue);
                consumer.Subscription.DispatchLocked();
            }
        }
    }

    internal void SendMessageLocked(FakeConsumer consumer, FakeTopic topic, FakeEntry entry, uint redeliveryCount, long[]? ackSet)
    {
        var message = new CommandMessage
        {
            ConsumerId = consumer.ConsumerId,
            MessageId = topic.IdOfLocked(entry.EntryId),
            RedeliveryCount = redeliveryCount,
        };
        if (ackSet is not null)
        {
            // A partly acknowledged batch carries the indexes still unacknowledged; the client
            // skips the others (acknowledgmentAtBatchIndexLevelEnabled).
            message.AckSet.AddRange(ackSet);
        }
        var bytes = entry.MessageBytes;
        if (Broker.Faults.TakeDeliveryCorruption())
        {
            bytes = (byte[])bytes.Clone();
            bytes[^1] ^= 0x5A;
        }
        if (Broker.Faults.TakeDeliveryRewrite() is { } rewrite)
        {
            bytes = rewrite(bytes);
        }
        SendPayloadLocked(new BaseCommand { Type = BaseCommand.Types.Type.Message, Message = message }, bytes);
    }

    private void HandleCloseConsumer(CommandCloseConsumer close)
    {
        lock (Broker.Sync)
        {
            if (_consumers.Remove(close.ConsumerId, out var consumer))
            {
                consumer.Subscription.RemoveConsumerLocked(consumer);
            }
            SendSuccess(close.RequestId);
        }
    }

    internal void SendCloseConsumerLocked(FakeConsumer consumer, bool isResetCursor = false)
    {
        _consumers.Remove(consumer.ConsumerId);
        consumer.Subscription.RemoveConsumerLocked(consumer, isResetCursor);
        SendLocked(new BaseCommand
        {
            Type = BaseCommand.Types.Type.CloseConsumer,
            CloseConsumer = new CommandCloseConsumer { ConsumerId = consumer.ConsumerId, RequestId = ulong.MaxValue },
        });
    }

    /// <summary>This connection's consumer of the id; where there is none, the request is answered
    /// with ConsumerNotFound, as the broker does.</summary>
    private bool TryFindConsumerLocked(ulong consumerId, ulong requestId, [NotNullWhen(true)] out FakeConsumer? consumer)
    {
        if (_consumers.TryGetValue(consumerId, out consumer))
        {
            return true;
        }

        SendError(requestId, ServerError.ConsumerNotFound, "Consumer not found");
        return false;
    }

    private void HandleUnsubscribe(CommandUnsubscribe request)
    {
        lock (Broker.Sync)
        {
            if (!TryFindConsumerLocked(request.ConsumerId, request.RequestId, out var consumer))
            {
                return;
            }
            var subscription = consumer.Subscription;
            if (subscription.Consumers.Count > 1 && !request.Force)
            {
                // Unsubscribe fails while other consumers are attached, unless forced.
                SendError(request.RequestId, ServerError.ConsumerBusy, "Subscription has other connected consumers");
                return;
            }
            foreach (var attached in subscription.Consumers.ToList())
            {
                attached.Connection._consumers.Remove(attached.ConsumerId);
                subscription.Consumers.Remove(attached);
            }
            foreach (var topic in Broker.TopicsLocked().Where(t => t.Subscriptions.ContainsValue(subscription)))
            {
                topic.Subscriptions.Remove(subscription.Name);
            }
            SendSuccess(request.RequestId);
        }
    }

    /// <summary>A topic is deleted: its producers and consumers are closed from the broker side.</summary>
    internal void CloseEverythingOnLocked(string topic)
    {
        CloseProducersLocked(topic);
        foreach (var consumer in _consumers.Values.Where(c => c.Subscription.Topic.Name == topic).ToList())
        {
            SendCloseConsumerLocked(consumer);
        }
    }

    /// <summary>Connection gone: consumers leave their subscriptions (unacked entries go back), producers vanish.</summary>
    private void DetachAllLocked()
    {
        foreach (var consumer in _consumers.Values)
        {
            consumer.Subscription.RemoveConsumerLocked(consumer);
        }
        _consumers.Clear();
        var topics = _producers.Values.Select(p => p.Topic).Distinct().ToList();
        _producers.Clear();
        // This connection has left the broker's list already: its producers are gone for everyone.
        foreach (var topic in topics)
        {
            ProducerRemovedLocked(topic);
        }
    }
}
