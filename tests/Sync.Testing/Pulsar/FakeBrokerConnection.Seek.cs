using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// SEEK and GET_LAST_MESSAGE_ID.
internal sealed partial class FakeBrokerConnection
{
    private void HandleSeek(CommandSeek seek)
    {
        lock (Broker.Sync)
        {
            if (!TryFindConsumerLocked(seek.ConsumerId, seek.RequestId, out var consumer))
            {
                return;
            }
            var subscription = consumer.Subscription;
            var topic = subscription.Topic;
            ulong target;
            if (seek.MessageId is { } id)
            {
                // (-1,-1) is earliest; anything past the end means "after the last entry".
                target = topic.StartPositionOf(id);
            }
            else if (seek.HasMessagePublishTime)
            {
                // Reset by time: the first entry published at or after the given time.
                var first = topic.RetainedEntriesLocked.FirstOrDefault(e => e.Metadata.PublishTime >= seek.MessagePublishTime);
                target = first?.EntryId ?? topic.EndLocked;
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
                attached.Connection.SendCloseConsumerLocked(attached, isResetCursor: true);
            }
            SendSuccess(seek.RequestId);
        }
    }

    private void HandleGetLastMessageId(CommandGetLastMessageId request)
    {
        lock (Broker.Sync)
        {
            if (!TryFindConsumerLocked(request.ConsumerId, request.RequestId, out var consumer))
            {
                return;
            }
            var topic = consumer.Subscription.Topic;
            // The last position of the managed ledger: entry -1 of the current ledger when nothing
            // is stored; for a batch entry batch_index is the last index in it (batch size - 1).
            var lastEntry = topic.EndLocked > topic.FirstRetainedLocked ? topic.EntryAtLocked(topic.EndLocked - 1) : null;
            MessageIdData last;
            if (lastEntry is null)
            {
                last = new MessageIdData { LedgerId = topic.LedgerId, EntryId = ulong.MaxValue };
                if (topic.PartitionIndex >= 0)
                {
                    last.Partition = topic.PartitionIndex;
                }
            }
            else
            {
                last = topic.IdOfLocked(lastEntry.EntryId);
                if (lastEntry.Metadata.HasNumMessagesInBatch)
                {
                    last.BatchIndex = lastEntry.MessageCount - 1;
                }
            }
            var markDelete = consumer.Subscription.AckedBefore;
            Broker.Faults.TakeAfterLastMessageId()?.Invoke(topic.Name);
            SendLocked(new BaseCommand
            {
                Type = BaseCommand.Types.Type.GetLastMessageIdResponse,
                GetLastMessageIdResponse = new CommandGetLastMessageIdResponse
                {
                    RequestId = request.RequestId,
                    LastMessageId = last,
                    ConsumerMarkDeletePosition = markDelete == 0
                        ? new MessageIdData { LedgerId = topic.LedgerId, EntryId = ulong.MaxValue }
                        : topic.IdOfLocked(markDelete - 1),
                },
            });
        }
    }
}
