using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>Registration with the broker and what follows it: SUBSCRIBE, the events of a session (active consumer change, end of topic, closed) and resubscribing after a lost session.</summary>
public sealed partial class PulsarConsumer
{
    private protected override async Task RegisterAsync(PulsarConnection connection, CancellationToken cancellationToken)
    {
        var consumerId = connection.NextConsumerId();
        Session session;
        lock (_lock)
        {
            // Everything queued by an earlier session will be redelivered: drop it now, so the
            // application never sees a message twice because of our own queue.
            session = new Session(this, connection, consumerId, ++_sessionNumber);
            _activeState = 0;
            if (_pendingSeekStart is { } seekStart)
            {
                // A reader's first session after a seek: it starts at the seek position
                // (inclusive), whatever it received before.
                _seekStart = seekStart;
                _lastReceived = null;
                _pendingSeekStart = null;
            }
            DropQueued();
            _queued = 0;
            _takenSinceFlow = 0;
            _batches.Clear();
        }
        // Registered before SUBSCRIBE: the broker may push MESSAGE right after SUCCESS.
        connection.Register(consumerId, session);
        try
        {
            var requestId = connection.NextRequestId();
            await connection.RequestAsync(
                new BaseCommand { Type = BaseCommand.Types.Type.Subscribe, Subscribe = BuildSubscribe(consumerId, requestId) },
                requestId,
                "SUBSCRIBE",
                cancellationToken);
            lock (_lock)
            {
                _session = session;
                Monitor.Set(PulsarObjectState.Connected);
            }
            if (!connection.IsOpen)
            {
                // Closed before the session was current, so its close went unheard: act on it now.
                OnSessionClosed(session, new ConnectionClosedException($"connection to {connection.BrokerUrl} closed while subscribing"));
                return;
            }
            await SendFlowAsync(session, _options.ReceiverQueueSize, cancellationToken);
        }
        catch
        {
            connection.UnregisterConsumer(consumerId);
            throw;
        }
    }

    private CommandSubscribe BuildSubscribe(ulong consumerId, ulong requestId)
    {
        var subscribe = new CommandSubscribe
        {
            Topic = _options.Topic,
            Subscription = _options.SubscriptionName,
            SubType = (CommandSubscribe.Types.SubType)_options.SubscriptionType,
            ConsumerId = consumerId,
            RequestId = requestId,
            ConsumerName = ConsumerName,
            InitialPosition = (CommandSubscribe.Types.InitialPosition)_options.InitialPosition,
            Durable = _options.StartMessageId is null,
        };
        if (_options.StartMessageId is { } start)
        {
            // A reader: a non-durable cursor at the start position; after a reconnect it resumes
            // after the last message the application received.
            subscribe.StartMessageId = (_lastReceived ?? _seekStart ?? start).ToProto();
        }
        if (_options.ReadCompacted)
        {
            subscribe.ReadCompacted = true;
        }
        if (_options.SubscriptionType == SubscriptionType.KeyShared)
        {
            // The Java client always declares its policy on Key_Shared (AUTO_SPLIT by default).
            var policy = _options.KeyShared ?? new KeySharedPolicy();
            var meta = new KeySharedMeta
            {
                KeySharedMode = policy.Mode == KeySharedMode.Sticky ? KeySharedMeta.Types.KeySharedMode.Sticky : KeySharedMeta.Types.KeySharedMode.AutoSplit,
                AllowOutOfOrderDelivery = policy.AllowOutOfOrderDelivery,
            };
            meta.HashRanges.AddRange(policy.HashRanges.Select(r => new IntRange { Start = r.Start, End = r.End }));
            subscribe.KeySharedMeta = meta;
        }
        return subscribe;
    }

    private void OnActiveConsumerChange(Session session, bool isActive)
    {
        lock (_lock)
        {
            // The newest session, even before its SUCCESS: the broker tells a newcomer where it
            // stands while it handles the SUBSCRIBE, ahead of the answer.
            if (session.Number != _sessionNumber)
            {
                return;
            }
            var state = isActive ? 1 : 2;
            if (_activeState == state)
            {
                return;
            }
            _activeState = state;
        }
        Logger.LogInformation(
            isActive ? "{Consumer} on {Topic}/{Subscription} is the active consumer" : "{Consumer} on {Topic}/{Subscription} stands by: another consumer of the failover subscription is active",
            ConsumerName, Topic, SubscriptionName);
    }

    private void OnReachedEndOfTopic()
    {
        HasReachedEndOfTopic = true;
        // Once the queue is drained, a receive would wait forever: end the stream instead,
        // after every message already queued.
        _queue.Writer.TryComplete(new TopicTerminatedException($"{Topic} was terminated and every message has been delivered"));
    }

    private void OnSessionClosed(Session session, Exception reason)
    {
        lock (_lock)
        {
            if (session != _session)
            {
                return;
            }
            _session = null;
            if (State == PulsarObjectState.Closed)
            {
                return;
            }
            // What the session queued and the application has not taken comes again from the
            // broker (after a seek, not at all): drop it now rather than hand it out meanwhile.
            DropQueued();
            _queued = 0;
            _batches.Clear();
            Monitor.Set(PulsarObjectState.Reconnecting);
            Logger.LogInformation(reason, "Consumer of {Topic}/{Subscription} lost its broker; resubscribing", Topic, SubscriptionName);
            StartReconnecting();
        }
    }

    private protected override void OnReconnected() =>
        Logger.LogInformation("Consumer of {Topic}/{Subscription} is subscribed again", Topic, SubscriptionName);

    private protected override void OnReconnectRetrying(PulsarException error, TimeSpan delay) =>
        Logger.LogDebug(error, "Consumer of {Topic}/{Subscription} could not resubscribe yet; retrying in {Delay}", Topic, SubscriptionName, delay);

    private protected override void OnReconnectFailed(PulsarException error)
    {
        Monitor.Set(PulsarObjectState.Faulted);
        _queue.Writer.TryComplete(error);
    }

    /// <summary>Errors that a new lookup and subscription cannot fix.</summary>
    private protected override bool IsFatal(Exception error) =>
        error is AuthenticationException or AuthorizationException or InvalidTopicNameException or NotAllowedException;

    /// <summary>One subscription of the consumer on one connection; events of old sessions are ignored.</summary>
    private sealed class Session(PulsarConsumer owner, PulsarConnection connection, ulong consumerId, int number) : IConsumerChannel
    {
        public PulsarConnection Connection { get; } = connection;

        public ulong ConsumerId { get; } = consumerId;

        public int Number { get; } = number;

        public void OnMessage(PulsarFrame frame) => owner.OnMessage(this, frame);

        public void OnReachedEndOfTopic() => owner.OnReachedEndOfTopic();

        public void OnActiveConsumerChange(bool isActive) => owner.OnActiveConsumerChange(this, isActive);

        public void OnClosed(Exception reason) => owner.OnSessionClosed(this, reason);
    }
}
