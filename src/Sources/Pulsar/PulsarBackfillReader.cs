using System.Text.RegularExpressions;

namespace Sync.Sources.Pulsar;

/// <summary>Backfill of one materializer: a non-durable reader from the earliest message on each
/// topic partition in turn, each up to its last message id taken when the backfill starts; then
/// the source ends. The materializer's subscription is not touched, so a <c>sync run</c> on it
/// goes on undisturbed, and a later run resumes it: messages the backfill already applied are at
/// or before the sink's checkpoint and are skipped (failover, exclusive) or harmless (never
/// regress). Order is kept per partition, which is all the sinks need (versions by LSN).</summary>
public sealed class PulsarBackfillReader : ISourceReader
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoCursor = new Dictionary<string, StreamPosition>();

    private readonly string _sourceName;
    private readonly PulsarSourceOptions _options;
    private readonly SourceReadRequest _request;
    private readonly PulsarTopicByTopic _open;
    private readonly PulsarKeyValueResolver _keyValue;
    private Queue<string>? _streams;
    private MessageId _last;

    public PulsarBackfillReader(string sourceName, PulsarSourceOptions options, SourceReadRequest request)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(request);
        _sourceName = sourceName;
        _options = options;
        _request = request;
        _open = new PulsarTopicByTopic(options);
        _keyValue = new PulsarKeyValueResolver(options.KeyValueEncoding, () => _open.ClientIfMade ?? throw new InvalidOperationException("the reader is not open"));
    }

    /// <summary>The topic partitions read, once resolved (for tests and progress).</summary>
    public IReadOnlyList<string> Streams { get; private set; } = [];

    public IReadOnlyDictionary<string, StreamPosition> Cursor => NoCursor;

    public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
    {
        if (_streams is null)
        {
            await ResolveAsync(cancellationToken);
        }

        var records = new List<SourceRecord>(Math.Min(maxRecords, 1024));
        var lingerUntil = DateTime.MaxValue;
        while (records.Count < maxRecords && DateTime.UtcNow < lingerUntil)
        {
            if (_open.Current is null && !await NextStreamAsync(cancellationToken))
            {
                return records.Count > 0 ? records : null;
            }

            PulsarMessage message;
            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                // A compacted read may end before the last id (compaction removed a final tombstone).
                wait.CancelAfter(_options.ReadCompacted ? _options.CompactedReadIdle : Timeout.InfiniteTimeSpan);
                try
                {
                    message = await _open.Current!.ReceiveAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await CloseStreamAsync();
                    continue;
                }
                catch (OperationCanceledException) when (records.Count > 0)
                {
                    break;
                }
                catch (PulsarException e)
                {
                    throw new SourceException($"source {_sourceName}: backfill of {_request.Materializer} on {_open.Current!.Topic} failed: {e.Message}", e);
                }
            }

            records.Add(await _keyValue.ToSourceRecordAsync(message, cancellationToken));
            if (lingerUntil == DateTime.MaxValue)
            {
                lingerUntil = DateTime.UtcNow + linger;
            }

            if (message.Id.CompareTo(_last) >= 0)
            {
                await CloseStreamAsync();
            }
        }

        return records;
    }

    /// <summary>Nothing to tell the broker: readers keep no position there.</summary>
    public ValueTask AcknowledgeAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>True: a backfill acknowledges nothing (its reader is non-durable), so a batch read
    /// ahead changes nothing of one being applied.</summary>
    public bool CanReadAhead => true;

    public ValueTask AcknowledgeOldestBatchAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private async Task ResolveAsync(CancellationToken cancellationToken)
    {
        var client = _open.Client;
        var streams = new List<string>();
        if (_request.TopicPattern is { } pattern)
        {
            if (!PulsarSourceOptions.TryNamespaceOf(pattern, out var ns))
            {
                throw new SourceException(string.Join("; ", PulsarSourceOptions.ValidateTopics($"materializers.{_request.Materializer}", null, pattern)));
            }

            var regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            using var admin = PulsarConnections.Admin(_sourceName, _options, $"backfill of {_request.Materializer} (a topicPattern is listed through the admin API)");
            streams.AddRange((await admin.ListTopicsAsync(ns, cancellationToken)).Where(t => regex.IsMatch(TopicName.BaseName(t))));
        }
        else if (_request.Topics is { Count: > 0 } topics)
        {
            foreach (var topic in topics.Select(TopicName.Normalize).Distinct(StringComparer.Ordinal))
            {
                var partitions = await client.GetPartitionCountAsync(topic, cancellationToken);
                streams.AddRange(partitions == 0 ? [topic] : Enumerable.Range(0, partitions).Select(i => TopicName.Partition(topic, i)));
            }
        }
        else
        {
            throw new SourceException($"materializers.{_request.Materializer}: a pulsar source needs the materializer's topics or topicPattern");
        }

        streams.Sort(StringComparer.Ordinal);
        CheckStartPositions(streams);
        Streams = streams;
        _streams = new Queue<string>(streams);
    }

    /// <summary>Every <c>--from</c> topic must be one of the streams read: a partitioned topic is
    /// named by its partitions, whose positions are unrelated to each other.</summary>
    private void CheckStartPositions(List<string> streams)
    {
        foreach (var topic in _request.StartAt.Keys.Where(t => !streams.Contains(t, StringComparer.Ordinal)))
        {
            var partitions = streams.Where(s => TopicName.BaseName(s) == topic).ToList();
            throw new BackfillStartException(partitions.Count > 0
                ? $"{BackfillStart.Option} names {topic}, a partitioned topic; positions are per partition, so name each partition (one of: {string.Join(", ", partitions)})"
                : $"{BackfillStart.Option} names topic {topic}, which materializer {_request.Materializer} does not read on source {_sourceName} (it reads: {string.Join(", ", streams)})");
        }
    }

    private async Task<bool> NextStreamAsync(CancellationToken cancellationToken)
    {
        while (_streams!.TryDequeue(out var stream))
        {
            var reader = (PulsarConsumer)await _open.Client.SubscribeAsync(
                new ConsumerOptions
                {
                    Topic = stream,
                    SubscriptionName = $"sync-backfill-{_request.Materializer}-{Guid.NewGuid():N}",
                    SubscriptionType = SubscriptionType.Exclusive,
                    StartMessageId = MessageId.Earliest,
                    ReadCompacted = _options.ReadCompacted,
                    ReceiverQueueSize = _options.ReceiverQueueSize,
                },
                cancellationToken);
            var last = await reader.GetLastMessageIdAsync(cancellationToken);
            if ((long)last.EntryId < 0)
            {
                await reader.DisposeAsync();
                continue;
            }

            if (_request.StartAt.TryGetValue(stream, out var from))
            {
                // A reader's start id is exclusive, a seek is inclusive (the broker resets the
                // cursor to the id itself): --from reads the message at the position.
                var start = new MessageId((ulong)from.Ledger, (ulong)from.Entry, TopicName.PartitionIndex(stream), from.BatchIndex);
                if (last.CompareTo(start) < 0)
                {
                    await reader.DisposeAsync();
                    continue;
                }

                await reader.SeekAsync(start, cancellationToken);
            }

            _open.Current = reader;
            _last = last;
            return true;
        }

        return false;
    }

    private Task CloseStreamAsync() => _open.CloseCurrentAsync();

    public ValueTask DisposeAsync() => _open.DisposeAsync();
}
