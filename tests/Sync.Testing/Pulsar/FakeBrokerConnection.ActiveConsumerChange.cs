using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// ACTIVE_CONSUMER_CHANGE: which consumer of a Failover subscription the broker dispatches to.
// Modelled on apache/pulsar pulsar-broker/src/main/java/org/apache/pulsar/broker/service/
// AbstractDispatcherSingleActiveConsumer.java and Consumer.java:
// - addConsumer: when the active consumer did not change, the newcomer alone is told (is_active
//   false, or true if it is the active one), during SUBSCRIBE, so before its SUCCESS;
// - when the active consumer changes (the first consumer joins, the active one leaves), every
//   consumer of the subscription is told, from scheduleReadOnActiveConsumer →
//   notifyActiveConsumerChanged, which sends only for Failover (an Exclusive subscription never
//   gets the command: its single consumer is always a change, and a second one is refused);
// - Consumer.notifyActiveConsumerChange skips clients older than protocol v12
//   (Commands.peerSupportsActiveConsumerListener).
// The real broker sends the change notification after activeConsumerFailoverDelayTimeMillis
// (1 s by default); the fake sends it at once, right after the SUCCESS of the SUBSCRIBE that
// caused it. It keeps its own choice of the active consumer (the first attached), where the
// broker sorts by priority level and consumer name and picks by partition index or a hash ring.
internal sealed partial class FakeBrokerConnection
{
    private const int ActiveConsumerListenerSince = 12;

    internal void SendActiveConsumerChangeLocked(FakeConsumer consumer, bool isActive)
    {
        if (ProtocolVersion < ActiveConsumerListenerSince)
        {
            return;
        }
        SendLocked(new BaseCommand
        {
            Type = BaseCommand.Types.Type.ActiveConsumerChange,
            ActiveConsumerChange = new CommandActiveConsumerChange { ConsumerId = consumer.ConsumerId, IsActive = isActive },
        });
    }
}
