using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// SEEK and GET_LAST_MESSAGE_ID.
internal sealed partial class FakeBrokerConnection
{
    private void HandleSeek(CommandSeek seek)
    {
        lock (Broker.Sync)
        {
            if (!_consumers.TryGetValue(seek.ConsumerId, out var consumer))
            {
                SendError(seek.RequestId, ServerError.ConsumerNotFound, "Consumer not found");
                return;
            }
            var subscription = consumer.Subscription;
            var entries = subscription.Topic.EntriesLocked;
            ulong target;
            if (seek.MessageId is { } id)
            {
                // (-1,-1) is earliest; anything past the end means "after the last entry".
                target = id.EntryId == ulong.MaxValue ? 0 : Math.Min(id.EntryId, (ulong)entries.Count);
            }
            else if (seek.HasMessagePublishTime)
            {
                // Reset by time: the first entry published at or after the given time.
                var index = entries.FindIndex(e => e.Metadata.PublishTime >= seek.MessagePublishTime);
                target = index < 0 ? (ulong)entries.Count : (ulong)index;
            }
            else
            {
                SendError(seek.RequestId, ServerError.MetadataError, "Message id or publish time must be set");
                return;
            }
            // PersistentSubscription.resetCursor: the cursor moves, then every consumer of the
            // subscription is disconnected (CLOSE_CONSUMER) and must resubscribe; SUCCESS last.
            subscription.ResetLocked(target);
            foreach (var attached in subscription.Consumers.ToList())
            {
                attached.Connection.SendCloseConsumerLocked(attached);
            }
            SendLocked(new BaseCommand { Type = BaseCommand.Types.Type.Success, Success = new CommandSuccess { RequestId = seek.RequestId } });
        }
    }

    private void HandleGetLastMessageId(CommandGetLastMessageId request)
    {
        lock (Broker.Sync)
        {
            if (!_consumers.TryGetValue(request.ConsumerId, out var consumer))
            {
                SendError(request.RequestId, ServerError.ConsumerNotFound, "Consumer not found");
                return;
            }
            var topic = consumer.Subscription.Topic;
            var entries = topic.EntriesLocked;
            // The last position of the managed ledger: entry -1 when nothing was written; for a
            // batch entry batch_index is the last index in it (batch size - 1).
            var last = new MessageIdData
            {
                LedgerId = topic.LedgerId,
                EntryId = entries.Count == 0 ? ulong.MaxValue : (ulong)(entries.Count - 1),
            };
            if (topic.PartitionIndex >= 0)
            {
                last.Partition = topic.PartitionIndex;
            }
            if (entries.Count > 0 && entries[^1].Metadata.HasNumMessagesInBatch)
            {
                last.BatchIndex = entries[^1].MessageCount - 1;
            }
            var markDelete = consumer.Subscription.AckedBefore;
            SendLocked(new BaseCommand
            {
                Type = BaseCommand.Types.Type.GetLastMessageIdResponse,
                GetLastMessageIdResponse = new CommandGetLastMessageIdResponse
                {
                    RequestId = request.RequestId,
                    LastMessageId = last,
                    ConsumerMarkDeletePosition = new MessageIdData
                    {
                        LedgerId = topic.LedgerId,
                        EntryId = markDelete == 0 ? ulong.MaxValue : markDelete - 1,
                    },
                },
            });
        }
    }
}
