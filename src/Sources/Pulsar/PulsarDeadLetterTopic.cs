using Sync.Engine.DeadLetters;

namespace Sync.Sources.Pulsar;

/// <summary>Dead letters as Pulsar messages on <c>&lt;topic&gt;-sync-dlq</c>, next to the topic
/// they came from (a partition's letters go to the topic's, not the partition's, dead-letter
/// topic). A letter keeps the original payload, key (with its base64 flag), null_value, properties
/// and event time, so that it can be fed again as it was; <see cref="Properties"/> adds why and
/// from where.
/// <para><see cref="FlushAsync"/> returns once the broker has sent a receipt for every letter,
/// i.e. persisted it; only then does the runner store the checkpoint and acknowledge the origin.</para>
/// <para>Before the first letter goes to a dead-letter topic, the replay subscription
/// (<see cref="ReplaySubscription"/>) is created on it: a topic without a subscription keeps its
/// messages only as long as retention says (0 minutes by default), which would lose letters
/// nobody replayed yet. The Java client's dead-letter policy has an initial subscription for the
/// same reason.</para></summary>
public sealed class PulsarDeadLetterTopic : IDeadLetterTarget
{
    /// <summary>Appended to the origin topic's name.</summary>
    public const string Suffix = "-sync-dlq";

    private readonly string _sourceName;
    private readonly PulsarSourceOptions _options;
    private readonly string _materializer;
    private readonly TimeProvider _time;
    private readonly List<(string Topic, OutgoingMessage Letter)> _pending = [];
    private readonly PulsarTopicProducers _producers;

    public PulsarDeadLetterTopic(string sourceName, PulsarSourceOptions options, string materializer, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _sourceName = sourceName;
        _options = options;
        _producers = new PulsarTopicProducers(options);
        _materializer = materializer;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Names of the properties a dead letter carries besides the original ones. Each is
    /// built on <see cref="Prefix"/>, by which a replay tells them from the original properties
    /// and leaves them out of the message it publishes again.</summary>
    public static class Properties
    {
        public const string Prefix = "sync.dlq.";

        public const string Reason = Prefix + "reason";
        public const string Stage = Prefix + "stage";
        public const string Materializer = Prefix + "materializer";
        public const string Time = Prefix + "time";

        public const string OriginTopic = Origin + "topic";
        public const string OriginMessageId = Origin + "messageId";
        public const string OriginPublishTime = Origin + "publishTime";
        public const string Location = Origin + "location";

        private const string Origin = Prefix + "origin.";
    }

    public string Description => Describe(_sourceName);

    /// <summary>The dead-letter topics of a materializer on a source, for people.</summary>
    public static string Describe(string sourceName) => $"topic <topic>{Suffix} on source {sourceName}";

    /// <summary>The dead-letter topic of an origin topic (or partition).</summary>
    public static string TopicOf(string origin) => TopicName.BaseName(origin) + Suffix;

    /// <summary>The subscription through which <c>sync dlq</c> reads a materializer's letters.</summary>
    public static string ReplaySubscription(string materializer) => $"sync-dlq-{materializer}";

    public void Add(string stage, SourceMessage message, string reason)
    {
        ArgumentNullException.ThrowIfNull(message);
        var properties = new Dictionary<string, string>(message.Properties, StringComparer.Ordinal);
        Describe(properties, stage, message.Topic, message.Position.ToString(), reason);
        if (message.PublishTime is { } published)
        {
            properties[Properties.OriginPublishTime] = published.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        }

        var letter = new OutgoingMessage
        {
            Data = message.Value,
            IsNullValue = !message.HasValue,
            Properties = properties,
            EventTimeMs = message.EventTime is { } eventTime ? (ulong)eventTime.ToUnixTimeMilliseconds() : null,
        };
        if (message.Key.Text is { } key)
        {
            letter = message.Key.IsBase64 ? letter with { KeyBytes = message.Key.GetBytes() } : letter with { Key = key };
        }

        _pending.Add((TopicOf(message.Topic), letter));
    }

    public void Add(SourceError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Topic is null)
        {
            throw new InvalidOperationException($"a dead letter from {error.Location} names no topic, so it has no dead-letter topic: {error.Reason}");
        }

        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        Describe(properties, "read", error.Topic, error.Position.ToString(), error.Reason);
        properties[Properties.Location] = error.Location;
        _pending.Add((TopicOf(error.Topic), new OutgoingMessage { Data = error.Raw, Properties = properties }));
    }

    private void Describe(Dictionary<string, string> properties, string stage, string topic, string position, string reason)
    {
        properties[Properties.Reason] = reason;
        properties[Properties.Stage] = stage;
        properties[Properties.Materializer] = _materializer;
        properties[Properties.OriginTopic] = topic;
        properties[Properties.OriginMessageId] = position;
        properties[Properties.Time] = _time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0)
        {
            return;
        }

        try
        {
            var receipts = new List<Task<MessageId>>(_pending.Count);
            foreach (var (topic, letter) in _pending)
            {
                var producer = await ProducerAsync(topic, cancellationToken);
                receipts.Add(producer.SendAsync(letter, cancellationToken).AsTask());
            }

            await Task.WhenAll(receipts);
        }
        catch (PulsarException e)
        {
            // Kept pending: nothing is acknowledged, and the batch fails rather than lose a letter.
            throw new SourceException($"source {_sourceName}: dead letters of {_materializer} could not be published: {e.Message}", e);
        }

        _pending.Clear();
    }

    private ValueTask<IPulsarProducer> ProducerAsync(string topic, CancellationToken cancellationToken) =>
        _producers.GetAsync(topic, cancellationToken, async client =>
        {
            await using (await client.SubscribeAsync(
                new ConsumerOptions
                {
                    Topic = topic,
                    SubscriptionName = ReplaySubscription(_materializer),
                    SubscriptionType = SubscriptionType.Failover,
                    InitialPosition = SubscriptionInitialPosition.Earliest,
                    ReceiverQueueSize = 1,
                },
                cancellationToken))
            {
            }
        });

    public async ValueTask DisposeAsync()
    {
        await _producers.DisposeAsync();
    }
}
