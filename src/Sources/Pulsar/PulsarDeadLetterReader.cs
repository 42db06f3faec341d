using System.Net;
using Sync.Engine.DeadLetters;
using P = Sync.Sources.Pulsar.PulsarDeadLetterTopic.Properties;

namespace Sync.Sources.Pulsar;

/// <summary>Feeds a materializer's dead letters (<see cref="PulsarDeadLetterTopic"/>) again, as
/// the messages they were: origin topic and position, key, payload, properties, publish and event
/// time. Reads each dead-letter topic through the subscription <c>sync-dlq-&lt;materializer&gt;</c>
/// up to its last message at the time it is opened (letters that fail again and are published
/// anew during the replay wait for the next one), one topic at a time, and acknowledges
/// cumulatively after each batch. Letters of other materializers sharing the topic are
/// acknowledged on this subscription without being fed. A dry run acknowledges nothing.</summary>
public sealed class PulsarDeadLetterReader(string sourceName, PulsarSourceOptions options, SourceReadRequest request, bool dryRun) : IDeadLetterReader
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoCursor = new Dictionary<string, StreamPosition>();

    private readonly PulsarSourceOptions _options = options ?? throw new ArgumentNullException(nameof(options));
    private readonly SourceReadRequest _request = request ?? throw new ArgumentNullException(nameof(request));
    private readonly List<DeadLetterEntry> _seen = [];
    private Queue<string>? _topics;
    private readonly PulsarTopicByTopic _open = new(options);
    private MessageId _last;
    private bool _topicDone;
    private PulsarMessage? _unacknowledged;

    /// <summary>The materializer's letters read so far, in order.</summary>
    public IReadOnlyList<DeadLetterEntry> Seen => _seen;

    /// <summary>Letters of other materializers passed over.</summary>
    public long OtherMaterializers { get; private set; }

    public IReadOnlyDictionary<string, StreamPosition> Cursor => NoCursor;

    public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
    {
        _topics ??= new Queue<string>(await DeadLetterTopicsAsync(cancellationToken));
        while (_open.Current is null)
        {
            if (!_topics.TryDequeue(out var topic))
            {
                return null;
            }

            await OpenAsync(topic, cancellationToken);
        }

        var consumer = _open.Current;

        // A batch never spans two topics: its acknowledgement goes to the consumer that read it.
        var records = new List<SourceRecord>();
        while (records.Count < maxRecords && !_topicDone)
        {
            PulsarMessage letter;
            try
            {
                letter = await consumer.ReceiveAsync(cancellationToken);
            }
            catch (PulsarException e)
            {
                throw new SourceException($"source {sourceName}: reading dead letters of {_request.Materializer} on {consumer.Topic} failed: {e.Message}", e);
            }

            _unacknowledged = letter;
            _topicDone = Reached(letter.Id, _last);
            var properties = letter.Properties.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            if (properties.GetValueOrDefault(P.Materializer) != _request.Materializer)
            {
                OtherMaterializers++;
                continue;
            }

            records.Add(ToRecord(letter, properties));
        }

        return records;
    }

    private SourceRecord ToRecord(PulsarMessage letter, Dictionary<string, string> properties)
    {
        var stage = properties.GetValueOrDefault(P.Stage) ?? "?";
        var reason = properties.GetValueOrDefault(P.Reason) ?? string.Empty;
        var topic = properties.GetValueOrDefault(P.OriginTopic) ?? TopicName.BaseName(letter.Topic)[..^PulsarDeadLetterTopic.Suffix.Length];
        var positionText = properties.GetValueOrDefault(P.OriginMessageId) ?? "-";
        _seen.Add(new DeadLetterEntry(stage, reason, topic, positionText));
        var position = positionText == "-" ? StreamPosition.Start : StreamPosition.Parse(positionText);
        IReadOnlyDictionary<string, string> original = properties
            .Where(p => !p.Key.StartsWith(P.Prefix, StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        if (original.Count == 0)
        {
            original = Origin.EmptyProperties;
        }

        return new SourceRecord(
            new SourceMessage
            {
                Topic = topic,
                Position = position,
                Key = letter.Key is null ? MessageKey.None : new MessageKey(letter.Key, letter.KeyIsBase64),
                Value = letter.Data,
                HasValue = !letter.IsNullValue,
                Properties = original,
                PublishTime = properties.TryGetValue(P.OriginPublishTime, out var published)
                    ? DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(published, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture))
                    : null,
                EventTime = letter.EventTimeMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)letter.EventTimeMs),
            },
            null);
    }

    /// <summary>Ledger and entry decide: a batch entry's last id carries a batch index, a
    /// mark-delete position does not.</summary>
    private static bool Reached(MessageId position, MessageId last) =>
        (long)position.LedgerId > (long)last.LedgerId
        || ((long)position.LedgerId == (long)last.LedgerId && (long)position.EntryId >= (long)last.EntryId);

    public async ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
    {
        if (_open.Current is not { } consumer)
        {
            return;
        }

        if (_unacknowledged is not null && !dryRun)
        {
            await consumer.AcknowledgeCumulativeAsync(_unacknowledged.Id, cancellationToken);
        }

        _unacknowledged = null;
        if (_topicDone)
        {
            await CloseAsync();
        }
    }

    private async Task OpenAsync(string topic, CancellationToken cancellationToken)
    {
        try
        {
            var consumer = await _open.Client.SubscribeAsync(
                new ConsumerOptions
                {
                    Topic = topic,
                    SubscriptionName = PulsarDeadLetterTopic.ReplaySubscription(_request.Materializer),
                    SubscriptionType = SubscriptionType.Failover,
                    InitialPosition = SubscriptionInitialPosition.Earliest,
                    ReceiverQueueSize = _options.ReceiverQueueSize,
                },
                cancellationToken);
            if (consumer is not PulsarConsumer single)
            {
                await consumer.DisposeAsync();
                throw new SourceException($"source {sourceName}: the dead-letter topic {topic} is partitioned; sync publishes dead letters to non-partitioned topics only");
            }

            var (last, markDelete) = await single.GetLastMessageIdAndMarkDeleteAsync(cancellationToken);
            if ((long)last.EntryId < 0 || (markDelete is { } acknowledged && (long)acknowledged.EntryId >= 0 && Reached(acknowledged, last)))
            {
                await single.DisposeAsync();
                return;
            }

            _open.Current = single;
            _last = last;
            _topicDone = false;
        }
        catch (PulsarException e)
        {
            throw new SourceException($"source {sourceName}: subscribing to the dead-letter topic {topic} failed: {e.Message}", e);
        }
    }

    /// <summary>The dead-letter topics of the materializer's topics: named ones directly; for a
    /// pattern, the namespace's <c>…-sync-dlq</c> topics whose origin name the pattern matches.</summary>
    private async Task<IReadOnlyList<string>> DeadLetterTopicsAsync(CancellationToken cancellationToken)
    {
        if (_request.Topics is { Count: > 0 } topics)
        {
            var named = topics.Select(t => PulsarDeadLetterTopic.TopicOf(TopicName.Normalize(t))).Distinct(StringComparer.Ordinal).ToList();
            if (_options.AdminUrl is not { Length: > 0 })
            {
                // Without the admin API a missing dead-letter topic is created empty by the subscription.
                return named;
            }

            // Only the ones that exist: reading (status, list) creates no topics.
            var existing = await ListAsync(named.Select(NamespaceOf).Distinct(StringComparer.Ordinal), cancellationToken);
            return [.. named.Where(existing.Contains)];
        }

        var namespaces = _request.TopicPattern is { } pattern && PulsarSourceOptions.TryNamespaceOf(pattern, out var own) ? [own] : _options.Namespaces;
        return [.. (await ListAsync(namespaces, cancellationToken)).Where(name =>
            name.EndsWith(PulsarDeadLetterTopic.Suffix, StringComparison.Ordinal)
            && _request.TopicFilter(name[..^PulsarDeadLetterTopic.Suffix.Length]))];
    }

    private static string NamespaceOf(string topic)
    {
        var parts = topic["persistent://".Length..].Split('/');
        return $"{parts[0]}/{parts[1]}";
    }

    /// <summary>The topics of the namespaces (partitioned ones by their base name), in name order.</summary>
    private async Task<SortedSet<string>> ListAsync(IEnumerable<string> namespaces, CancellationToken cancellationToken)
    {
        using var admin = PulsarConnections.Admin(sourceName, _options, "finding the dead-letter topics");
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var ns in namespaces)
        {
            IReadOnlyList<string> listed;
            try
            {
                listed = await admin.ListTopicsAsync(ns, cancellationToken);
            }
            catch (PulsarAdminException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                continue;
            }

            found.UnionWith(listed.Select(TopicName.BaseName));
        }

        return found;
    }

    private Task CloseAsync() => _open.CloseCurrentAsync();

    public ValueTask DisposeAsync() => _open.DisposeAsync();
}
