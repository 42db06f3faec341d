using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// ACK / ACK_RESPONSE and REDELIVER_UNACKNOWLEDGED_MESSAGES.
internal sealed partial class FakeBrokerConnection
{
    private void HandleAck(CommandAck ack)
    {
        lock (Broker.Sync)
        {
            if (_consumers.TryGetValue(ack.ConsumerId, out var consumer))
            {
                foreach (var id in ack.MessageId)
                {
                    // Without batch-index acknowledgement the broker acknowledges whole entries:
                    // a batch_index in the id does not make it a partial ack. An ack carrying a
                    // validation_error is an ordinary ack too (the broker only logs the reason).
                    if (ack.AckType == CommandAck.Types.AckType.Cumulative)
                    {
                        consumer.Subscription.AckCumulativeLocked(id.EntryId);
                    }
                    else
                    {
                        consumer.Subscription.AckIndividualLocked(id.EntryId);
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
                consumer.Subscription.RedeliverLocked(consumer, [.. redeliver.MessageIds.Select(id => id.EntryId)]);
            }
        }
    }
}
