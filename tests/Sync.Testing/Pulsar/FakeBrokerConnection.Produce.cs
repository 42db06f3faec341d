using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// PRODUCER / PRODUCER_SUCCESS, SEND / SEND_RECEIPT / SEND_ERROR, CLOSE_PRODUCER.
internal sealed partial class FakeBrokerConnection
{
    private sealed record FakeProducer(ulong ProducerId, string Name, FakeTopic Topic);

    private readonly Dictionary<ulong, FakeProducer> _producers = [];

    private void HandleProducer(CommandProducer request)
    {
        lock (Broker.Sync)
        {
            var topic = Broker.GetOrCreateTopicLocked(request.Topic);
            Google.Protobuf.ByteString? schemaVersion = null;
            if (request.Schema is { } schema && schema.Type != Schema.Types.Type.None)
            {
                // ServerCnx.handleProducer registers the producer's schema (topic.addSchema) and
                // answers its version; a BYTES/NONE schema or none at all gets an empty version.
                if (Broker.IncompatibilityLocked(request.Topic, schema) is { } incompatible)
                {
                    SendError(request.RequestId, ServerError.IncompatibleSchema, incompatible);
                    return;
                }
                schemaVersion = FakePulsarBroker.VersionBytes(Broker.GetOrAddSchemaLocked(request.Topic, schema));
            }
            // Without a name the broker generates a unique one (cluster-brokerId-counter).
            var name = request.HasProducerName && request.ProducerName.Length > 0 ? request.ProducerName : Broker.NextProducerNameLocked();
            // A name is a topic's only while its producer is connected: apache/pulsar
            // pulsar-broker/src/main/java/org/apache/pulsar/broker/service/AbstractTopic.java
            // (internalAddProducer, tryOverwriteOldProducer) refuses a second producer of the same
            // name with NamingException, which ServerCnx answers as ProducerBusy, unless the holder's
            // connection turns out dead (a closed connection has left the fake's list already). The
            // same producer id on the same connection is the same producer asked again.
            if (Broker.ConnectionsLocked().Any(c => c.HoldsProducerNamedLocked(topic.Name, name, except: (this, request.ProducerId))))
            {
                SendError(request.RequestId, ServerError.ProducerBusy, $"Producer with name '{name}' is already connected to topic");
                return;
            }
            // Access modes: AbstractTopic.incrementTopicEpochIfNeeded (FakeTopic.ProducerAccess.cs).
            var others = Broker.ConnectionsLocked().Any(c => c.HasProducerOnLocked(topic.Name));
            var exclusiveTaken = topic.HasExclusiveProducer || topic.WaitingExclusiveProducers.Count > 0;
            switch (request.ProducerAccessMode)
            {
                case CommandProducer.Types.ProducerAccessMode.Shared:
                    if (exclusiveTaken)
                    {
                        SendError(request.RequestId, ServerError.ProducerBusy, $"Topic has an existing exclusive producer: {topic.ExclusiveProducerName}");
                        return;
                    }
                    break;
                case CommandProducer.Types.ProducerAccessMode.Exclusive:
                    if (exclusiveTaken || others || topic.IsBehindLocked(request))
                    {
                        SendError(request.RequestId, ServerError.ProducerFenced, exclusiveTaken
                            ? $"Topic has an existing exclusive producer: {topic.ExclusiveProducerName}"
                            : others ? "Topic has existing shared producers" : $"Topic epoch has already moved. Current epoch: {topic.TopicEpoch}, Producer epoch: {request.TopicEpoch}");
                        return;
                    }
                    topic.TakeExclusiveLocked(request, name);
                    break;
                case CommandProducer.Types.ProducerAccessMode.WaitForExclusive:
                    if (topic.HasExclusiveProducer || others)
                    {
                        // Queued: ServerCnx answers at once with producer_ready=false, and again
                        // (ready, with the topic epoch) when the topic is its turn.
                        topic.WaitingExclusiveProducers.Enqueue(new FakeTopic.WaitingProducer(this, request, name, schemaVersion));
                        SendLocked(ProducerSuccess(request, name, schemaVersion, epoch: null, ready: false));
                        return;
                    }
                    if (topic.IsBehindLocked(request))
                    {
                        SendError(request.RequestId, ServerError.ProducerFenced, $"Topic epoch has already moved. Current epoch: {topic.TopicEpoch}, Producer epoch: {request.TopicEpoch}");
                        return;
                    }
                    topic.TakeExclusiveLocked(request, name);
                    break;
                default:
                    SendError(request.RequestId, ServerError.NotAllowedError, $"the fake broker does not model producer access mode {request.ProducerAccessMode}");
                    return;
            }
            _producers[request.ProducerId] = new FakeProducer(request.ProducerId, name, topic);
            SendLocked(ProducerSuccess(request, name, schemaVersion, topic.TopicEpoch, ready: true));
        }
    }

    private static BaseCommand ProducerSuccess(CommandProducer request, string name, Google.Protobuf.ByteString? schemaVersion, ulong? epoch, bool ready)
    {
        var success = new CommandProducerSuccess
        {
            RequestId = request.RequestId,
            ProducerName = name,
            // Deduplication is off by default, so the broker knows no previous sequence id.
            LastSequenceId = -1,
            ProducerReady = ready,
            SchemaVersion = schemaVersion ?? Google.Protobuf.ByteString.Empty,
        };
        if (epoch is { } topicEpoch)
        {
            // Set once the topic has an epoch: every producer learns it (ServerCnx).
            success.TopicEpoch = topicEpoch;
        }
        return new BaseCommand { Type = BaseCommand.Types.Type.ProducerSuccess, ProducerSuccess = success };
    }

    /// <summary>A producer of <paramref name="topic"/> went away: the exclusive hold ends, and the
    /// first waiting producer whose connection lives takes the topic (handleProducerRemoved).</summary>
    internal void ProducerRemovedLocked(FakeTopic topic)
    {
        if (!topic.HasExclusiveProducer || Broker.ConnectionsLocked().Any(c => c.HasProducerOnLocked(topic.Name)))
        {
            return;
        }
        topic.HasExclusiveProducer = false;
        topic.ExclusiveProducerName = null;
        while (topic.WaitingExclusiveProducers.TryDequeue(out var next))
        {
            if (!Broker.ConnectionsLocked().Contains(next.Connection))
            {
                continue;
            }
            var epoch = topic.TakeExclusiveLocked(next.Request, next.Name);
            next.Connection._producers[next.Request.ProducerId] = new FakeProducer(next.Request.ProducerId, next.Name, topic);
            next.Connection.SendLocked(ProducerSuccess(next.Request, next.Name, next.SchemaVersion, epoch, ready: true));
            return;
        }
    }

    private void HandleSend(CommandSend send, PulsarFrame frame)
    {
        lock (Broker.Sync)
        {
            if (!_producers.TryGetValue(send.ProducerId, out var producer))
            {
                // ServerCnx closes the connection on a SEND for an unknown producer.
                Abort();
                return;
            }
            if (!frame.HasPayload)
            {
                Abort();
                return;
            }
            if (!frame.ChecksumMatches)
            {
                // Producer.publishMessage verifies the CRC-32C and answers ChecksumError.
                SendLocked(SendError(send, ServerError.ChecksumError, "Checksum failed on the broker"));
                return;
            }
            if (frame.Payload.Length > Broker.Options.MaxMessageSize)
            {
                SendLocked(SendError(send, ServerError.NotAllowedError, "Message size exceeds maxMessageSize"));
                return;
            }
            if (producer.Topic.IsTerminated)
            {
                // A terminated topic refuses every further message.
                SendLocked(SendError(send, ServerError.TopicTerminatedError, "Topic was already terminated"));
                return;
            }
            if (Broker.Faults.TakeSendFailure(out var error))
            {
                SendLocked(SendError(send, error, "injected send failure"));
                return;
            }

            // The broker stores the message part exactly as sent and replays it verbatim.
            var entry = producer.Topic.AppendLocked(frame.MessageBytes.ToArray(), frame.Metadata!);
            SendLocked(new BaseCommand
            {
                Type = BaseCommand.Types.Type.SendReceipt,
                SendReceipt = new CommandSendReceipt
                {
                    ProducerId = send.ProducerId,
                    SequenceId = send.SequenceId,
                    HighestSequenceId = send.HasHighestSequenceId ? send.HighestSequenceId : send.SequenceId,
                    // The receipt carries ledger and entry only (no partition, no batch index).
                    MessageId = new MessageIdData { LedgerId = entry.LedgerId, EntryId = entry.LedgerEntryId },
                },
            });
            producer.Topic.DispatchLocked();
        }
    }

    private static BaseCommand SendError(CommandSend send, ServerError error, string message) => new()
    {
        Type = BaseCommand.Types.Type.SendError,
        SendError = new CommandSendError { ProducerId = send.ProducerId, SequenceId = send.SequenceId, Error = error, Message = message },
    };

    private void HandleCloseProducer(CommandCloseProducer close)
    {
        lock (Broker.Sync)
        {
            if (_producers.Remove(close.ProducerId, out var closed))
            {
                ProducerRemovedLocked(closed.Topic);
            }
            // A producer still waiting for an exclusive topic gives up its turn.
            foreach (var topic in Broker.TopicsLocked().Where(t => t.WaitingExclusiveProducers.Any(w => w.Connection == this && w.Request.ProducerId == close.ProducerId)))
            {
                var kept = topic.WaitingExclusiveProducers.Where(w => w.Connection != this || w.Request.ProducerId != close.ProducerId).ToList();
                topic.WaitingExclusiveProducers.Clear();
                kept.ForEach(topic.WaitingExclusiveProducers.Enqueue);
            }
        }
        SendSuccess(close.RequestId);
    }

    internal bool HasProducerOnLocked(string topic) => _producers.Values.Any(p => p.Topic.Name == topic);

    private bool HoldsProducerNamedLocked(string topic, string name, (FakeBrokerConnection Connection, ulong ProducerId) except) =>
        _producers.Values.Any(p => p.Topic.Name == topic && p.Name == name && (this != except.Connection || p.ProducerId != except.ProducerId));

    internal void CloseProducersLocked(string topic)
    {
        foreach (var producer in _producers.Values.Where(p => p.Topic.Name == topic).ToList())
        {
            _producers.Remove(producer.ProducerId);
            ProducerRemovedLocked(producer.Topic);
            // Broker-initiated close: request_id is not meaningful, the client must recreate.
            SendLocked(new BaseCommand
            {
                Type = BaseCommand.Types.Type.CloseProducer,
                CloseProducer = new CommandCloseProducer { ProducerId = producer.ProducerId, RequestId = ulong.MaxValue },
            });
        }
    }
}
