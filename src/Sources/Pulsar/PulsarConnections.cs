namespace Sync.Sources.Pulsar;

/// <summary>Turns a source's options into client settings, and Pulsar messages into source messages.</summary>
internal static class PulsarConnections
{
    /// <param name="entryBufferPool">For a reader that releases each message once its batch is acknowledged (see <see cref="PulsarClientOptions.EntryBufferPool"/>).</param>
    public static PulsarClient Client(PulsarSourceOptions options, System.Buffers.ArrayPool<byte>? entryBufferPool = null) => new(new PulsarClientOptions
    {
        EntryBufferPool = entryBufferPool,
        ServiceUrl = new Uri(options.ServiceUrl),
        AuthenticationToken = options.TokenFile is null ? options.Token : null,
        AuthenticationTokenFile = options.TokenFile,
        TlsTrustCertificatesFile = options.TlsTrustCertsFile,
        TlsHostnameVerification = options.TlsHostnameVerification,
        TlsAllowInsecureConnection = options.TlsAllowInsecureConnection,
    });

    /// <summary>The admin client, or a <see cref="SourceException"/> naming what needs it.</summary>
    public static PulsarAdminClient Admin(string sourceName, PulsarSourceOptions options, string purpose)
    {
        if (options.AdminUrl is not { Length: > 0 } url)
        {
            throw new SourceException($"sources.{sourceName}.adminUrl is not set; {purpose} needs the Pulsar admin API");
        }

        var token = options.TokenFile is { } file ? System.IO.File.ReadAllText(file).Trim() : options.Token;
        return new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = new Uri(url), AuthenticationToken = token });
    }

    /// <summary>A non-durable reader (an Exclusive subscription with a start id) from the earliest
    /// message: it leaves no subscription behind. read_compacted is allowed on Exclusive.</summary>
    public static Task<IPulsarConsumer> ReaderFromEarliestAsync(PulsarClient client, string topic, string namePrefix, bool compacted, CancellationToken cancellationToken) =>
        client.SubscribeAsync(
            new ConsumerOptions
            {
                Topic = topic,
                SubscriptionName = $"{namePrefix}-{Guid.NewGuid():N}",
                SubscriptionType = SubscriptionType.Exclusive,
                StartMessageId = MessageId.Earliest,
                ReadCompacted = compacted,
            },
            cancellationToken);

    public static StreamPosition Position(MessageId id) =>
        (long)id.EntryId == -1 ? StreamPosition.Start : new StreamPosition((long)id.LedgerId, (long)id.EntryId, id.BatchIndex);

    /// <summary>A message as a source record: an error record (dead letter) when it arrived corrupt.</summary>
    public static SourceRecord ToSourceRecord(PulsarMessage message) =>
        message.Corruption is { } corruption
            ? new SourceRecord(null, new SourceError($"{message.Topic}@{message.Id}", message.Topic, Position(message.Id), $"corrupt message from the broker: {corruption}", message.Data))
            : new SourceRecord(ToSourceMessage(message), null);

    public static SourceMessage ToSourceMessage(PulsarMessage message)
    {
        IReadOnlyDictionary<string, string> properties = Origin.EmptyProperties;
        if (message.Properties.Count > 0)
        {
            var map = new Dictionary<string, string>(message.Properties.Count, StringComparer.Ordinal);
            foreach (var (name, value) in message.Properties)
            {
                map[name] = value;
            }

            properties = map;
        }

        // The origin first: the message shares it with every change decoded from it.
        var origin = new Origin
        {
            Topic = message.Topic,
            Position = Position(message.Id),
            Key = message.Key is null ? MessageKey.None : new MessageKey(message.Key, message.KeyIsBase64),
            Properties = properties,
            PublishTime = message.PublishTimeMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)message.PublishTimeMs),
            EventTime = message.EventTimeMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)message.EventTimeMs),
        };
        return new SourceMessage(origin)
        {
            Value = message.Data,
            HasValue = !message.IsNullValue,
        };
    }

    public static SubscriptionType Map(PulsarSubscriptionType type) => type switch
    {
        PulsarSubscriptionType.Exclusive => SubscriptionType.Exclusive,
        PulsarSubscriptionType.Shared => SubscriptionType.Shared,
        PulsarSubscriptionType.KeyShared => SubscriptionType.KeyShared,
        _ => SubscriptionType.Failover,
    };
}
