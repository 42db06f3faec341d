using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>
/// Receives messages of one topic through one subscription. The broker pushes messages only
/// against flow permits: the consumer grants <see cref="ConsumerOptions.ReceiverQueueSize"/> at
/// start and tops up by what the application has taken once that reaches half the queue, so
/// the local queue (and memory) stays bounded however slow the application is.
/// When the connection is lost or the broker closes the consumer, it looks the topic up again
/// and subscribes anew with capped exponential backoff; receives simply wait meanwhile. Messages
/// queued locally but not yet received are dropped then, since the broker redelivers everything
/// unacknowledged: nothing is lost, and messages received but not acknowledged come again.
/// </summary>
public sealed partial class PulsarConsumer : PulsarReconnectingObject, IPulsarConsumer
{
    private readonly ConsumerOptions _options;
    private readonly Channel<PulsarMessage> _queue;
    private readonly Lock _lock = new();
    private readonly Dictionary<(ulong Ledger, ulong Entry), BatchAcker> _batches = [];
    private readonly int _flowThreshold;
    private readonly int _partitionIndex;
    private Session? _session;
    private int _sessionNumber;
    private int _queued;
    private int _takenSinceFlow;
    private MessageId? _lastReceived;
    private MessageId? _seekStart;
    private MessageId? _pendingSeekStart;
    // What the broker last said in ACTIVE_CONSUMER_CHANGE during the current session: 0 nothing
    // (not a Failover subscription, or not yet told), 1 active, 2 standing by.
    private volatile int _activeState;

    private PulsarConsumer(Func<CancellationToken, Task<PulsarConnection>> connect, ConsumerOptions options, PulsarClientOptions clientOptions)
        : base(connect, clientOptions, clientOptions.LoggerFactory.CreateLogger<PulsarConsumer>())
    {
        _options = options;
        // Unbounded on purpose: the bound is the permits we grant, not the channel. A bounded
        // channel would block the connection's read loop, and with it every other consumer.
        _queue = Channel.CreateUnbounded<PulsarMessage>(new UnboundedChannelOptions { SingleWriter = false });
        _flowThreshold = Math.Max(1, options.ReceiverQueueSize / 2);
        _partitionIndex = TopicName.PartitionIndex(options.Topic);
        ConsumerName = options.ConsumerName ?? $"sync-{Guid.NewGuid():N}"[..13];
    }

    public string Topic => _options.Topic;

    public string SubscriptionName => _options.SubscriptionName;

    /// <summary>The consumer name sent in SUBSCRIBE (made up once when none was configured).</summary>
    public string ConsumerName { get; }

    /// <summary>Messages received from the broker and not yet taken by the application.</summary>
    public int QueuedMessages => Volatile.Read(ref _queued);

    /// <summary>True once the broker said the topic is terminated and everything was delivered.</summary>
    public bool HasReachedEndOfTopic { get; private set; }

    /// <summary>On a Failover subscription, whether the broker dispatches to this consumer (true) or
    /// it stands by for another one (false), as its last ACTIVE_CONSUMER_CHANGE said; null until
    /// the broker says, after each reconnect, and on the other subscription types.</summary>
    public bool? IsActive => _activeState switch { 1 => true, 2 => false, _ => null };

    /// <summary>How often the consumer subscribed (1 + successful reconnects).</summary>
    public int SubscribeCount => Volatile.Read(ref _sessionNumber);

    internal static async Task<PulsarConsumer> SubscribeAsync(
        Func<CancellationToken, Task<PulsarConnection>> connect, ConsumerOptions options, PulsarClientOptions clientOptions, CancellationToken cancellationToken)
    {
        var consumer = new PulsarConsumer(connect, options, clientOptions);
        // The first subscription reports its error to the caller; only later losses are retried.
        await consumer.RegisterAsync(await connect(cancellationToken), cancellationToken);
        return consumer;
    }

    /// <summary>Waits for the next message.</summary>
    public async ValueTask<PulsarMessage> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (true)
            {
                var message = await _queue.Reader.ReadAsync(cancellationToken);
                if (Take(message))
                {
                    return message;
                }
                // Queued by a session that is gone; the broker redelivers it.
                message.ReleaseBuffer();
            }
        }
        catch (ChannelClosedException e)
        {
            throw e.InnerException as PulsarException ?? new PulsarObjectClosedException($"consumer of {Topic}/{SubscriptionName}");
        }
    }

    public bool TryReceive([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PulsarMessage? message)
    {
        while (_queue.Reader.TryRead(out var queued))
        {
            if (Take(queued))
            {
                message = queued;
                return true;
            }
            queued.ReleaseBuffer();
        }
        message = null;
        return false;
    }

    /// <summary>Messages as they arrive, until cancelled or the consumer closes.</summary>
    public async IAsyncEnumerable<PulsarMessage> ReceiveAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            yield return await ReceiveAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Acknowledges one message. A batch entry is acknowledged once all its delivered messages
    /// are; before that, with <see cref="ConsumerOptions.BatchIndexAcknowledgment"/>, the broker is
    /// told which messages of the batch are still unacknowledged.
    /// </summary>
    public ValueTask AcknowledgeAsync(MessageId id, CancellationToken cancellationToken = default) =>
        AcknowledgeAsync([id], cancellationToken);

    /// <summary>
    /// Acknowledges many messages with one ACK command (the protocol carries a list of ids), the
    /// cheap way to acknowledge a whole applied batch.
    /// </summary>
    public ValueTask AcknowledgeAsync(IEnumerable<MessageId> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var entries = new List<MessageIdData>();
        var partlyAcked = new Dictionary<(ulong Ledger, ulong Entry), MessageId>();
        lock (_lock)
        {
            foreach (var id in ids)
            {
                if (id.IsBatched)
                {
                    var key = (id.LedgerId, id.EntryId);
                    if (_batches.TryGetValue(key, out var acker))
                    {
                        if (!acker.AckIndividual(id.BatchIndex))
                        {
                            partlyAcked[key] = id;
                            continue;
                        }
                    }
                    else if (_options.BatchIndexAcknowledgment && id.BatchSize > 1)
                    {
                        // Received before a reconnect, so its batch is no longer tracked here: tell
                        // the broker about this one message only (it intersects with what it knows).
                        entries.Add(OnlyIndexAcked(id));
                        continue;
                    }
                    _batches.Remove(key);
                    partlyAcked.Remove(key);
                }
                entries.Add(EntryId(id).ToProto());
            }
            if (_options.BatchIndexAcknowledgment)
            {
                // As the Java client with batch index acknowledgement: the entry's id with ack_set
                // = the indexes still unacknowledged (Java BitSet words, 1 = unacked).
                foreach (var (key, id) in partlyAcked)
                {
                    entries.Add(_batches[key].PartialAck(EntryId(id)));
                }
            }
        }
        return entries.Count == 0
            ? ValueTask.CompletedTask
            : SendAckAsync(CurrentSession(), CommandAck.Types.AckType.Individual, entries, null, cancellationToken);
    }

    /// <summary>Acknowledges received messages with one ACK command.</summary>
    public ValueTask AcknowledgeAsync(IReadOnlyList<PulsarMessage> messages, CancellationToken cancellationToken = default) =>
        AcknowledgeAsync((messages ?? throw new ArgumentNullException(nameof(messages))).Select(m => m.Id), cancellationToken);

    /// <summary>
    /// Acknowledges this message and every earlier one. Inside a partly acknowledged batch the
    /// broker is told about the previous entry, as the Java client does; with
    /// <see cref="ConsumerOptions.BatchIndexAcknowledgment"/> it gets this entry with the ack_set of
    /// the batch's later messages instead.
    /// </summary>
    public ValueTask AcknowledgeCumulativeAsync(MessageId id, CancellationToken cancellationToken = default)
    {
        var target = EntryId(id).ToProto();
        if (id.IsBatched)
        {
            lock (_lock)
            {
                var key = (id.LedgerId, id.EntryId);
                if (_batches.TryGetValue(key, out var acker) && !acker.AckUpTo(id.BatchIndex))
                {
                    if (_options.BatchIndexAcknowledgment)
                    {
                        target = acker.PartialAck(EntryId(id));
                    }
                    else if (id.EntryId == 0)
                    {
                        return ValueTask.CompletedTask;
                    }
                    else
                    {
                        target = (EntryId(id) with { EntryId = id.EntryId - 1 }).ToProto();
                    }
                }
                else
                {
                    _batches.Remove(key);
                }
                foreach (var earlier in _batches.Keys.Where(k => k.Ledger < id.LedgerId || (k.Ledger == id.LedgerId && k.Entry < id.EntryId)).ToList())
                {
                    _batches.Remove(earlier);
                }
            }
        }
        return SendAckAsync(CurrentSession(), CommandAck.Types.AckType.Cumulative, [target], null, cancellationToken);
    }

    /// <summary>
    /// Asks the broker to send every unacknowledged message of this consumer again. Messages
    /// already queued locally are dropped first (they will come again), and their permits are
    /// returned, as the Java client does.
    /// </summary>
    public async ValueTask RedeliverUnacknowledgedMessagesAsync(CancellationToken cancellationToken = default)
    {
        var session = CurrentSession();
        int dropped;
        lock (_lock)
        {
            dropped = DropQueued();
            _batches.Clear();
        }
        await session.Connection.SendAsync(
            new BaseCommand
            {
                Type = BaseCommand.Types.Type.RedeliverUnacknowledgedMessages,
                RedeliverUnacknowledgedMessages = new CommandRedeliverUnacknowledgedMessages { ConsumerId = session.ConsumerId },
            },
            cancellationToken);
        if (dropped > 0)
        {
            OnTaken(session.Number, dropped);
        }
    }

    /// <summary>
    /// Asks for specific messages to be delivered again (a negative acknowledgement). On Shared
    /// and Key_Shared subscriptions they come back with a higher redelivery count; on Exclusive
    /// and Failover the broker redelivers everything unacknowledged.
    /// </summary>
    public ValueTask RedeliverAsync(IEnumerable<MessageId> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var session = CurrentSession();
        var redeliver = new CommandRedeliverUnacknowledgedMessages { ConsumerId = session.ConsumerId };
        foreach (var entry in ids.Select(EntryId).Distinct())
        {
            redeliver.MessageIds.Add(entry.ToProto());
        }
        if (redeliver.MessageIds.Count == 0)
        {
            return ValueTask.CompletedTask;
        }
        return session.Connection.SendAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.RedeliverUnacknowledgedMessages, RedeliverUnacknowledgedMessages = redeliver },
            cancellationToken);
    }

    /// <summary>
    /// Id of the last message in the topic (batch_index = batch size - 1 for a batch entry), e.g.
    /// to know when a backfill has caught up. On an empty topic the entry id is
    /// <see cref="ulong.MaxValue"/> (the broker's -1).
    /// </summary>
    public async Task<MessageId> GetLastMessageIdAsync(CancellationToken cancellationToken = default) =>
        (await GetLastMessageIdAndMarkDeleteAsync(cancellationToken)).Last;

    public Task<MessageId> GetLastMessageIdAsync(string topic, CancellationToken cancellationToken = default) =>
        string.Equals(topic, Topic, StringComparison.Ordinal)
            ? GetLastMessageIdAsync(cancellationToken)
            : throw new ArgumentException($"consumer of {Topic} does not read {topic}", nameof(topic));

    public async Task<MessageId?> GetMarkDeletePositionAsync(string topic, CancellationToken cancellationToken = default)
    {
        if (!string.Equals(topic, Topic, StringComparison.Ordinal))
        {
            throw new ArgumentException($"consumer of {Topic} does not read {topic}", nameof(topic));
        }

        // The broker names "nothing acknowledged" as the entry before the first (entry id -1).
        var markDelete = (await GetLastMessageIdAndMarkDeleteAsync(cancellationToken)).MarkDelete;
        return markDelete is { } id && (long)id.EntryId >= 0 ? id : null;
    }

    /// <summary>
    /// The topic's last message id and the subscription's mark-delete position (everything at or
    /// before it is acknowledged; null when the broker does not say). A subscription has nothing
    /// left to read when the mark-delete position has reached the last id: the check the Java
    /// client's <c>hasMessageAvailable</c> makes.
    /// </summary>
    public async Task<(MessageId Last, MessageId? MarkDelete)> GetLastMessageIdAndMarkDeleteAsync(CancellationToken cancellationToken = default)
    {
        var session = CurrentSession();
        var requestId = session.Connection.NextRequestId();
        var command = new BaseCommand
        {
            Type = BaseCommand.Types.Type.GetLastMessageId,
            GetLastMessageId = new CommandGetLastMessageId { ConsumerId = session.ConsumerId, RequestId = requestId },
        };
        var answer = (await session.Connection.RequestAsync(command, requestId, "GET_LAST_MESSAGE_ID", cancellationToken)).GetLastMessageIdResponse;
        return (MessageId.FromProto(answer.LastMessageId), answer.ConsumerMarkDeletePosition is { } markDelete ? MessageId.FromProto(markDelete) : null);
    }

    /// <summary>
    /// Moves the subscription (or a reader's non-durable cursor) so that <paramref name="id"/> is
    /// the next message delivered. The broker disconnects the subscription's consumers, which
    /// resubscribe at the new position; messages queued locally are dropped.
    /// </summary>
    public Task SeekAsync(MessageId id, CancellationToken cancellationToken = default) =>
        SeekAsync(seek => seek.MessageId = EntryId(id).ToProto(), id, cancellationToken);

    /// <summary>Moves the subscription to the first message published at or after <paramref name="publishTime"/>.</summary>
    public Task SeekAsync(DateTimeOffset publishTime, CancellationToken cancellationToken = default) =>
        SeekAsync(seek => seek.MessagePublishTime = (ulong)publishTime.ToUnixTimeMilliseconds(), null, cancellationToken);

    private async Task SeekAsync(Action<CommandSeek> target, MessageId? readerStart, CancellationToken cancellationToken)
    {
        var session = CurrentSession();
        if (_options.StartMessageId is not null)
        {
            // The broker keeps a reader's reset cursor until it resubscribes and resumes there; the
            // client forgets what it received before and, after a seek by id, drops only what lies
            // before that id (a seek by time lets the broker decide: no filter).
            lock (_lock)
            {
                _pendingSeekStart = readerStart ?? MessageId.Earliest;
            }
        }
        var requestId = session.Connection.NextRequestId();
        var seek = new CommandSeek { ConsumerId = session.ConsumerId, RequestId = requestId };
        target(seek);
        // The broker answers only after it has sent CLOSE_CONSUMER on this same connection, so by
        // the time this returns the old session is closed and a resubscribe is under way.
        try
        {
            await session.Connection.RequestAsync(new BaseCommand { Type = BaseCommand.Types.Type.Seek, Seek = seek }, requestId, "SEEK", cancellationToken);
        }
        catch (PulsarException)
        {
            lock (_lock)
            {
                _pendingSeekStart = null;
            }
            throw;
        }
    }

    private Session CurrentSession()
    {
        lock (_lock)
        {
            if (_session is { } session)
            {
                return session;
            }
        }
        throw State switch
        {
            PulsarObjectState.Closed => new PulsarObjectClosedException($"consumer of {Topic}/{SubscriptionName}"),
            // An ack cannot wait for the reconnect: the broker redelivers the message instead.
            _ => new ConnectionClosedException($"consumer of {Topic}/{SubscriptionName} is {State}"),
        };
    }

    private static MessageId EntryId(MessageId id) => new(id.LedgerId, id.EntryId, id.Partition);

    /// <summary>The entry's id with an ack_set in which only <paramref name="id"/>'s index is acknowledged.</summary>
    private static MessageIdData OnlyIndexAcked(MessageId id)
    {
        var data = EntryId(id).ToProto();
        data.AckSet.AddRange(AckSet.FromPending(id.BatchSize, Enumerable.Range(0, id.BatchSize).Where(i => i != id.BatchIndex)));
        data.BatchSize = id.BatchSize;
        return data;
    }

    private async ValueTask SendAckAsync(
        Session session, CommandAck.Types.AckType type, IEnumerable<MessageIdData> ids, CommandAck.Types.ValidationError? validationError, CancellationToken cancellationToken)
    {
        var ack = new CommandAck { ConsumerId = session.ConsumerId, AckType = type };
        ack.MessageId.AddRange(ids);
        if (validationError is { } error)
        {
            ack.ValidationError = error;
        }
        var command = new BaseCommand { Type = BaseCommand.Types.Type.Ack, Ack = ack };
        if (_options.AckReceiptEnabled)
        {
            var requestId = session.Connection.NextRequestId();
            ack.RequestId = requestId;
            var answer = (await session.Connection.RequestAsync(command, requestId, "ACK", cancellationToken)).AckResponse;
            if (answer.HasError)
            {
                throw PulsarServerException.Create(answer.Error, answer.Message);
            }
            return;
        }
        await session.Connection.SendAsync(command, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Session? session;
        lock (_lock)
        {
            if (State == PulsarObjectState.Closed)
            {
                return;
            }
            Monitor.Set(PulsarObjectState.Closed);
            session = _session;
            _session = null;
        }
        try
        {
            if (session is not null && session.Connection.IsOpen)
            {
                using var timeout = new CancellationTokenSource(ClientOptions.OperationTimeout);
                await session.Connection.RequestAsync(
                    id => new BaseCommand { Type = BaseCommand.Types.Type.CloseConsumer, CloseConsumer = new CommandCloseConsumer { ConsumerId = session.ConsumerId, RequestId = id } },
                    "CLOSE_CONSUMER",
                    timeout.Token);
            }
        }
        catch (Exception e) when (e is PulsarException or OperationCanceledException)
        {
            Logger.LogDebug(e, "Consumer of {Topic}/{Subscription} closed without a clean goodbye", Topic, SubscriptionName);
        }
        finally
        {
            session?.Connection.UnregisterConsumer(session.ConsumerId);
            await Shutdown.CancelAsync();
            await ReconnectLoopTask;
            _queue.Writer.TryComplete(new PulsarObjectClosedException($"consumer of {Topic}/{SubscriptionName}"));
            Shutdown.Dispose();
        }
    }
}
