using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// ACK / ACK_RESPONSE and REDELIVER_UNACKNOWLEDGED_MESSAGES.
internal sealed partial class FakeBrokerConnection
{
    private void HandleAck(CommandAck ack)
    {
        if (ack.HasValidationError)
        {
            Broker.CountValidationAck(ack.ValidationError);
        }
        lock (Broker.Sync)
        {
            if (_consumers.TryGetValue(ack.ConsumerId, out var consumer))
            {
                foreach (var id in ack.MessageId)
                {
                    // An ack carrying a validation_error is an ordinary ack too (the broker only logs
                    // the reason). A batch_index alone does not make an ack partial: only ack_set does.
                    var entryId = consumer.Subscription.Topic.PositionOf(id);
                    if (entryId is not { } position)
                    {
                        continue;
                    }
                    var partial = id.AckSet.Count > 0;
                    if (ack.AckType == CommandAck.Types.AckType.Cumulative)
                    {
                        // With an ack_set the mark-delete position stops before the entry, and the
                        // entry keeps the indexes still set (ManagedCursor markDelete of a batch position).
                        if (!partial)
                        {
                            consumer.Subscription.AckCumulativeLocked(position);
                            continue;
                        }
                        if (position > 0)
                        {
                            consumer.Subscription.AckCumulativeLocked(position - 1);
                        }
                        consumer.Subscription.AckBatchIndexesLocked(position, id.AckSet);
                    }
                    else if (partial)
                    {
                        consumer.Subscription.AckBatchIndexesLocked(position, id.AckSet);
                    }
                    else
                    {
                        consumer.Subscription.AckIndividualLocked(position);
                    }
                }
            }
            if (ack.HasRequestId)
            {
                // With a request id (ack receipts, protocol v17+) the broker confirms the ack.
                SendLocked(new BaseCommand
                {
                    Type = BaseCommand.Types.Type.AckResponse,
                    AckResponse = new CommandAckResponse { ConsumerId = ack.ConsumerId, RequestId = ack.RequestId },
                });
            }
        }
    }

    private void HandleRedeliver(CommandRedeliverUnacknowledgedMessages redeliver)
    {
        lock (Broker.Sync)
        {
            if (_consumers.TryGetValue(redeliver.ConsumerId, out var consumer))
            {
                var topic = consumer.Subscription.Topic;
                consumer.Subscription.RedeliverLocked(consumer, [.. redeliver.MessageIds.Select(topic.PositionOf).OfType<ulong>()]);
            }
        }
    }
}
