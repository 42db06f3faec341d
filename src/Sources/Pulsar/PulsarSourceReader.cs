namespace Sync.Sources.Pulsar;

/// <summary>Reads one materializer's topics (a list or a pattern) through one durable subscription.
/// The subscription's position lives on the broker, so <see cref="Cursor"/> is empty; a batch is
/// acknowledged only when the runner calls <see cref="AcknowledgeAsync"/> after the sink committed.
/// <para>Resume: the broker delivers from the subscription's mark-delete position. With an ordered
/// subscription (failover, exclusive) messages at or before the sink's checkpoint of their topic
/// partition, or at or before what this reader already delivered (a redelivery after a reconnect),
/// are skipped and acknowledged without being applied. With shared and key-shared nothing is
/// skipped: another consumer may have held a message that comes to this one later, and the
/// sink's never-regress rule makes a re-apply harmless.</para>
/// <para>Backfill (<see cref="SourceReadRequest.FromBeginning"/>) is not this reader's: the
/// factory opens a <see cref="PulsarBackfillReader"/>, which leaves the subscription alone.</para></summary>
public sealed class PulsarSourceReader : ISourceReader
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoCursor = new Dictionary<string, StreamPosition>();

    private readonly string _sourceName;
    private readonly PulsarSourceOptions _options;
    private readonly SourceReadRequest _request;
    private readonly bool _ordered;
    private readonly Dictionary<string, StreamPosition> _delivered = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamPosition> _committed = new(StringComparer.Ordinal);
    // Read ahead: each batch's messages, oldest first, until the runner acknowledges that batch.
    // Shared between the reading stage and the acknowledging one, under _ackLock, as is _committed.
    private readonly Queue<List<PulsarMessage>> _batches = new();
    private readonly Lock _ackLock = new();
    private readonly List<string> _rewound = [];
    // The last message id the broker named per stream, for IsAtEndAsync (reading side only).
    private readonly Dictionary<string, StreamPosition> _knownEnds = new(StringComparer.Ordinal);
    private PulsarClient? _client;
    private IPulsarConsumer? _consumer;
    private readonly PulsarKeyValueResolver _keyValue;
    private readonly PulsarStartupRetry _startup;
    private readonly TimeProvider _time;
    private readonly System.Buffers.ArrayPool<byte> _entryBuffers;

    /// <param name="time">The clock of the start-up retries and of a batch's linger (a fake one in tests).</param>
    /// <param name="entryBuffers">Where received entries' bytes are rented from; each message is
    /// released when its batch is acknowledged (the runners read nothing of an acknowledged batch's
    /// bytes). Default: the shared pool.</param>
    public PulsarSourceReader(string sourceName, PulsarSourceOptions options, SourceReadRequest request, TimeProvider? time = null, System.Buffers.ArrayPool<byte>? entryBuffers = null)
    {
        _entryBuffers = entryBuffers ?? System.Buffers.ArrayPool<byte>.Shared;
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(request);
        _sourceName = sourceName;
        _options = options;
        _request = request;
        _time = time ?? TimeProvider.System;
        _startup = new PulsarStartupRetry($"materializer {request.Materializer} (source {sourceName})", options.SubscribeRetryTimeout, _time, request.Log);
        _keyValue = new PulsarKeyValueResolver(options.KeyValueEncoding, () => _client ?? throw new InvalidOperationException("the reader is not open"));
        _ordered = options.SubscriptionType is PulsarSubscriptionType.Failover or PulsarSubscriptionType.Exclusive;
        if (_ordered && !request.FromBeginning)
        {
            foreach (var (stream, position) in request.Checkpoint)
            {
                _delivered[stream] = position;
                _committed[stream] = position;
            }
        }
    }

    /// <summary>The subscription name: the configured one, or <c>sync-&lt;materializer&gt;</c>.</summary>
    public string SubscriptionName => _options.Subscription ?? $"sync-{_request.Materializer}";

    /// <summary>Messages skipped because the sink already held them (for tests and logs).</summary>
    public long Skipped { get; private set; }

    /// <summary>Topics whose subscription had acknowledged past the sink's checkpoint and was moved
    /// back to it when the reader opened (a sink restored from a backup, or one that lost writes).</summary>
    public IReadOnlyList<string> Rewound => _rewound;

    /// <summary>How many times a step of the start (the admin check, the first subscription) was
    /// retried while the broker could not be reached (for tests and logs).</summary>
    public int SubscribeRetries => _startup.Retries;

    /// <summary>The consumer, once the first read opened it.</summary>
    public IPulsarConsumer? Consumer => _consumer;

    public IReadOnlyDictionary<string, StreamPosition> Cursor => NoCursor;

    public bool IsReconnecting => _startup.Waiting is not null || _consumer?.State == PulsarObjectState.Reconnecting;

    public string? ReconnectingBecause => _startup.Waiting;

    /// <summary>The broker said (ACTIVE_CONSUMER_CHANGE) that another consumer of the failover
    /// subscription is active on every topic this reader reads.</summary>
    public bool IsStandby => _consumer?.IsActive == false;

    private const int MaxPresizedBatch = 1 << 16;

    public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
    {
        var consumer = _consumer ?? await OpenAsync(cancellationToken);
        var records = new List<SourceRecord>(Math.Min(maxRecords, 1024));
        var skipped = new List<PulsarMessage>();
        var batch = new List<PulsarMessage>();
        CancellationTokenSource? lingerOver = null;
        CancellationTokenSource? lingering = null;
        try
        {
            while (records.Count < maxRecords)
            {
                PulsarMessage? message;
                if (records.Count > 0 && consumer.TryReceive(out message))
                {
                    // Queued while the previous batch was applied: taken without waiting, so a deep
                    // backlog makes full batches and a trickle makes small, prompt ones.
                    if (records.Count == records.Capacity)
                    {
                        // A backlog fills the batch: its lists grow once to the batch's size instead
                        // of through every power of two (each step a new array, the large ones on the
                        // large-object heap).
                        records.EnsureCapacity(Math.Min(maxRecords, MaxPresizedBatch));
                        batch.EnsureCapacity(records.Capacity);
                    }
                }
                else if (records.Count > 0 && linger <= TimeSpan.Zero)
                {
                    break;
                }
                else
                {
                    try
                    {
                        message = await consumer.ReceiveAsync(lingering?.Token ?? cancellationToken);
                    }
                    catch (OperationCanceledException) when (records.Count > 0)
                    {
                        // Linger over, or stopping: what was read is still applied and acknowledged.
                        break;
                    }
                    catch (PulsarObjectClosedException) when (cancellationToken.IsCancellationRequested)
                    {
                        throw new OperationCanceledException(cancellationToken);
                    }
                    catch (PulsarException e)
                    {
                        throw new SourceException($"source {_sourceName}: receiving for {_request.Materializer} on {consumer.Topic} failed: {e.Message}", e);
                    }
                }

                var position = PulsarConnections.Position(message.Id);
                if (_ordered && _delivered.TryGetValue(message.Topic, out var done) && position <= done)
                {
                    // A redelivery. Acknowledged now only when the sink holds it; one delivered but
                    // not yet committed (a reconnect mid-batch) waits for its batch's acknowledgement.
                    if (IsCommitted(message.Topic, position))
                    {
                        skipped.Add(message);
                    }
                    else
                    {
                        batch.Add(message);
                        Skipped++;
                    }

                    continue;
                }

                // Resolved before the message joins the batch: a failed schema lookup throws with
                // nothing half-recorded.
                var record = await _keyValue.ToSourceRecordAsync(message, cancellationToken);
                if (_ordered)
                {
                    _delivered[message.Topic] = position;
                }

                batch.Add(message);
                records.Add(record);
                if (lingering is null && linger > TimeSpan.Zero)
                {
                    lingerOver = new CancellationTokenSource(linger, _time);
                    lingering = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lingerOver.Token);
                }
            }
        }
        finally
        {
            lingering?.Dispose();
            lingerOver?.Dispose();
            if (batch.Count > 0)
            {
                lock (_ackLock)
                {
                    _batches.Enqueue(batch);
                }
            }

            if (skipped.Count > 0)
            {
                // Already durable in the sink: acknowledged at once, never applied again.
                Skipped += skipped.Count;
                await AckAsync(consumer, skipped, CancellationToken.None);
                Release(skipped);
            }
        }

        return records;
    }

    /// <summary>Acknowledges every batch read so far.</summary>
    public async ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
    {
        List<PulsarMessage> messages;
        lock (_ackLock)
        {
            messages = [.. _batches.SelectMany(b => b)];
            _batches.Clear();
        }

        await AcknowledgeMessagesAsync(messages, cancellationToken);
    }

    /// <summary>True: each batch's messages are kept apart until the runner acknowledges that batch.</summary>
    public bool CanReadAhead => true;

    public async ValueTask AcknowledgeOldestBatchAsync(CancellationToken cancellationToken)
    {
        List<PulsarMessage>? messages;
        lock (_ackLock)
        {
            _batches.TryDequeue(out messages);
        }

        if (messages is not null)
        {
            await AcknowledgeMessagesAsync(messages, cancellationToken);
        }
    }

    /// <summary>Asks the broker for the stream's last message id (GET_LAST_MESSAGE_ID), but only when
    /// the answer can be yes: not while messages wait in the client's queue (they are read next), and
    /// not while the reader is still short of the end the broker named last time (a topic only grows).
    /// So a backlog costs one round trip each time the reader reaches the end it knew, not one per batch.
    /// A failed question is an answer of no: it is asked again after the next batch.</summary>
    public async ValueTask<bool> IsAtEndAsync(string stream, StreamPosition lastRead, CancellationToken cancellationToken)
    {
        if (_consumer is not { } consumer || consumer.QueuedMessages > 0
            || (_knownEnds.TryGetValue(stream, out var knownEnd) && lastRead < knownEnd))
        {
            return false;
        }

        MessageId last;
        try
        {
            last = await consumer.GetLastMessageIdAsync(stream, cancellationToken);
        }
        catch (PulsarException)
        {
            return false;
        }
        catch (ArgumentException)
        {
            // A pattern's topic that was deleted since: the consumer reads it no more.
            return false;
        }

        if ((long)last.EntryId < 0)
        {
            return true;
        }

        var end = PulsarConnections.Position(last);
        _knownEnds[stream] = end;
        return end <= lastRead;
    }

    /// <summary>True for shared and key-shared subscriptions: other consumers apply messages of the
    /// same partitions, so a batch's positions say nothing of the messages before them.</summary>
    public bool SharesStreams => !_ordered;

    /// <summary>The subscription's mark-delete position on the stream, asked of the broker (see
    /// <see cref="IPulsarConsumer.GetMarkDeletePositionAsync"/>): every consumer acknowledges only
    /// after the sink committed, so everything at or before it is in the sink. Null when nothing is
    /// acknowledged, the reader is not subscribed yet, or the broker cannot be asked now.</summary>
    public async ValueTask<StreamPosition?> AcknowledgedThroughAsync(string stream, CancellationToken cancellationToken)
    {
        if (_consumer is not { } consumer)
        {
            return null;
        }

        try
        {
            return await consumer.GetMarkDeletePositionAsync(stream, cancellationToken) is { } id ? PulsarConnections.Position(id) : null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Not knowing is always safe (no checkpoint is written from it, no rollback is found by
            // it): a consumer between sessions, a failover standby taking over, a topic gone.
            return null;
        }
    }

    private bool IsCommitted(string topic, StreamPosition position)
    {
        lock (_ackLock)
        {
            return _committed.TryGetValue(topic, out var committed) && position <= committed;
        }
    }

    private async ValueTask AcknowledgeMessagesAsync(List<PulsarMessage> messages, CancellationToken cancellationToken)
    {
        if (_consumer is null || messages.Count == 0)
        {
            return;
        }

        await AckAsync(_consumer, messages, cancellationToken);
        // Their batch is durable in the sink and nothing reads its bytes again (a runner keeps what
        // it needs after this as decoded changes, or copies: TombstoneRepair); another entry may use
        // the buffer now.
        Release(messages);
        if (_ordered)
        {
            lock (_ackLock)
            {
                foreach (var message in messages)
                {
                    var position = PulsarConnections.Position(message.Id);
                    if (!_committed.TryGetValue(message.Topic, out var committed) || position > committed)
                    {
                        _committed[message.Topic] = position;
                    }
                }
            }
        }
    }

    private static void Release(List<PulsarMessage> messages)
    {
        foreach (var message in messages)
        {
            message.ReleaseBuffer();
        }
    }

    private async ValueTask AckAsync(IPulsarConsumer consumer, List<PulsarMessage> messages, CancellationToken cancellationToken)
    {
        try
        {
            if (_ordered)
            {
                // In order per topic partition: the furthest message of each acknowledges the rest
                // (a redelivered copy may come after it in the list).
                var last = new Dictionary<string, PulsarMessage>(StringComparer.Ordinal);
                foreach (var message in messages)
                {
                    if (!last.TryGetValue(message.Topic, out var furthest) || message.Id.CompareTo(furthest.Id) > 0)
                    {
                        last[message.Topic] = message;
                    }
                }

                foreach (var message in last.Values)
                {
                    await consumer.AcknowledgeCumulativeAsync(message, cancellationToken);
                }
            }
            else
            {
                await consumer.AcknowledgeAsync(messages, cancellationToken);
            }
        }
        catch (PulsarException)
        {
            // A lost acknowledgement only means the broker delivers these again; the sink holds
            // them already (its checkpoint and never-regress), so the run goes on.
        }
    }

    private async Task<IPulsarConsumer> OpenAsync(CancellationToken cancellationToken)
    {
        var consumerOptions = new ConsumerOptions
        {
            Topic = _request.TopicPattern ?? _request.Topics?.FirstOrDefault() ?? "none",
            TopicIsPattern = _request.TopicPattern is not null,
            PatternDiscoveryPeriod = _options.PatternDiscoveryInterval,
            SubscriptionName = SubscriptionName,
            SubscriptionType = PulsarConnections.Map(_options.SubscriptionType),
            InitialPosition = _options.InitialPosition == PulsarInitialPosition.Latest ? SubscriptionInitialPosition.Latest : SubscriptionInitialPosition.Earliest,
            ReadCompacted = _options.ReadCompacted,
            ReceiverQueueSize = _options.ReceiverQueueSize,
            ConsumerName = $"sync-{_request.Materializer}-{Environment.MachineName}-{Environment.ProcessId}",
            // A corrupt entry becomes a dead letter with its reason, acknowledged only with its batch.
            DeliverCorruptMessages = true,
        };
        var problems = PulsarSourceOptions.ValidateTopics($"materializers.{_request.Materializer}", _request.Topics, _request.TopicPattern);
        if (problems.Count > 0)
        {
            throw new SourceException(string.Join("; ", problems));
        }

        if (_request.TopicPattern is null && _request.Topics is not { Count: > 0 })
        {
            throw new SourceException($"materializers.{_request.Materializer}: a pulsar source needs the materializer's topics or topicPattern");
        }

        await RewindToCheckpointAsync(cancellationToken);
        _client = PulsarConnections.Client(_options, _entryBuffers);
        try
        {
            _consumer = await SubscribeWithRetryAsync(_client, consumerOptions, cancellationToken);
        }
        catch (PulsarException e)
        {
            await DisposeAsync();
            throw new SourceException($"source {_sourceName}: subscribing {SubscriptionName} for {_request.Materializer} failed{_startup.Spent}: {e.Message}", e);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }

        return _consumer;
    }

    /// <summary>The first subscription, retried while the failure is one a broker gets over (it is
    /// restarting, unreachable for a moment, or shedding load): an already running consumer
    /// reconnects on its own, and a process started during a broker restart should do as well.</summary>
    private Task<IPulsarConsumer> SubscribeWithRetryAsync(PulsarClient client, ConsumerOptions consumerOptions, CancellationToken cancellationToken) =>
        _startup.RunAsync(
            $"subscribe {SubscriptionName} at {_options.ServiceUrl}",
            token => _request.TopicPattern is not null ? client.SubscribeAsync(consumerOptions, token) : client.SubscribeAsync(_request.Topics!, consumerOptions, token),
            PulsarStartupRetry.PassingBrokerFailure,
            cancellationToken);

    /// <summary>The sink is the truth: where a subscription has acknowledged messages after the
    /// sink's checkpoint (the sink was restored from a backup, or lost writes), those messages
    /// would never come again, so the cursor moves back to the checkpoint through the admin API
    /// before subscribing (its entry is delivered again and skipped as applied). A checkpoint inside
    /// a batch entry rewinds to that entry whenever the cursor has passed it, since the entry's
    /// later messages may have been acknowledged unapplied. Without an admin URL nothing is checked.
    /// Ordered subscriptions only: shared ones do not keep a single position.</summary>
    private async Task RewindToCheckpointAsync(CancellationToken cancellationToken)
    {
        if (!_ordered || _request.FromBeginning || _request.Checkpoint.Count == 0 || _options.AdminUrl is not { Length: > 0 })
        {
            return;
        }

        using var admin = PulsarConnections.Admin(_sourceName, _options, "checking the subscription against the sink's checkpoint");
        foreach (var (topic, checkpoint) in _request.Checkpoint)
        {
            if (!_request.TopicFilter(topic) || checkpoint.Entry < 0)
            {
                continue;
            }

            try
            {
                var acked = await _startup.RunAsync(
                    $"check subscription {SubscriptionName} of {topic} against the sink's checkpoint through the admin API at {_options.AdminUrl}",
                    token => admin.GetMarkDeletePositionAsync(topic, SubscriptionName, token),
                    PulsarStartupRetry.PassingAdminFailure,
                    cancellationToken);
                if (acked is not { } ackedAt)
                {
                    continue;
                }

                var passed = ((long)ackedAt.LedgerId, (long)ackedAt.EntryId).CompareTo((checkpoint.Ledger, checkpoint.Entry));
                if (passed > 0 || (passed == 0 && checkpoint.BatchIndex >= 0))
                {
                    // Retried as well: a reset refused by a broker that went down between the two
                    // calls is safe to repeat (it moves the cursor to the same place).
                    await _startup.RunAsync(
                        $"move subscription {SubscriptionName} of {topic} back to the sink's checkpoint through the admin API at {_options.AdminUrl}",
                        async token =>
                        {
                            await admin.ResetCursorAsync(topic, SubscriptionName, new MessageId((ulong)checkpoint.Ledger, (ulong)checkpoint.Entry), token);
                            return true;
                        },
                        PulsarStartupRetry.PassingAdminFailure,
                        cancellationToken);
                    _rewound.Add(topic);
                }
            }
            catch (Exception e) when (e is PulsarAdminException or HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                throw new SourceException($"source {_sourceName}: checking subscription {SubscriptionName} of {topic} against the sink's checkpoint {checkpoint} through the admin API at {_options.AdminUrl} failed{_startup.Spent}: {Describe(e)}", e);
            }
        }
    }

    private static string Describe(Exception failure) =>
        failure is TaskCanceledException ? "no answer in time" : failure.InnerException is { } inner && failure is HttpRequestException ? $"{failure.Message} ({inner.Message})" : failure.Message;

    public async ValueTask DisposeAsync()
    {
        if (_consumer is not null)
        {
            await _consumer.DisposeAsync();
            _consumer = null;
        }

        if (_client is not null)
        {
            await _client.DisposeAsync();
            _client = null;
        }
    }
}
