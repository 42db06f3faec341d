using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Pulsar;

/// <summary>Settings of a <see cref="PulsarClient"/>.</summary>
public sealed record PulsarClientOptions
{
    /// <summary>The cluster's service URL, <c>pulsar://host:6650</c> or <c>pulsar+ssl://host:6651</c>. Required.</summary>
    public required Uri ServiceUrl { get; init; }

    /// <summary>
    /// PEM file of the CA certificate(s) that sign the brokers' certificates; replaces the system
    /// trust store for broker connections. Default null (system trust store).
    /// </summary>
    public string? TlsTrustCertificatesFile { get; init; }

    /// <summary>PEM file of a client certificate, for brokers that authenticate clients by TLS. Default null.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>PEM file of the client certificate's private key (when not in the certificate file). Default null.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>
    /// Check that the broker certificate names the host connected to. Default true (the Java
    /// client defaults to false; we prefer the safe choice).
    /// </summary>
    public bool TlsHostnameVerification { get; init; } = true;

    /// <summary>Accept any broker certificate. For tests only. Default false.</summary>
    public bool TlsAllowInsecureConnection { get; init; }

    internal bool UsesTls => ServiceUrl.Scheme == Internal.TlsConnector.Scheme;

    /// <summary>How long a request (lookup, subscribe, create producer, ack receipt) may wait for its answer. Default 30 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Interval of the keep-alive check. Each tick sends PING; if the previous PING got no
    /// answer (and nothing else arrived) the connection is closed. Default 30 s, as in the Java client.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// An authentication token (JWT) sent with auth method "token"; none when null. Default null.
    /// </summary>
    public string? AuthenticationToken { get; init; }

    /// <summary>
    /// A file holding the token (JWT), read at every CONNECT and every AUTH_CHALLENGE so that a
    /// rotated token is picked up without a restart. Mutually exclusive with
    /// <see cref="AuthenticationToken"/>. Default null.
    /// </summary>
    public string? AuthenticationTokenFile { get; init; }

    /// <summary>The token to present now: from the file when one is configured.</summary>
    internal string? CurrentToken() =>
        AuthenticationTokenFile is { } file ? File.ReadAllText(file).Trim() : AuthenticationToken;

    /// <summary>Protocol version announced in CONNECT. Default 21 (the newest the broker speaks).</summary>
    public int ProtocolVersion { get; init; } = 21;

    /// <summary>Client version string announced in CONNECT. Default "sync-pulsar".</summary>
    public string ClientVersion { get; init; } = "sync-pulsar";

    /// <summary>First wait before re-creating a producer or consumer after a loss; doubles per failed attempt. Default 100 ms, as in the Java client.</summary>
    public TimeSpan RetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Cap of the reconnect backoff. Default 60 s, as in the Java client.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many LOOKUP redirects are followed before giving up. Default 20.</summary>
    public int MaxLookupRedirects { get; init; } = 20;

    /// <summary>Logger factory for connection and consumer events. Default: no logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Checks every setting and names the first one that is wrong.</summary>
    public void Validate()
    {
        if (ServiceUrl is null || (ServiceUrl.Scheme != "pulsar" && ServiceUrl.Scheme != Internal.TlsConnector.Scheme))
        {
            throw new ArgumentException($"serviceUrl ({ServiceUrl}) must be a pulsar:// or pulsar+ssl:// URL", nameof(ServiceUrl));
        }
        if (TlsKeyFile is not null && TlsCertificateFile is null)
        {
            throw new ArgumentException($"tlsKeyFile ({TlsKeyFile}) needs tlsCertificateFile", nameof(TlsKeyFile));
        }
        if (OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"operationTimeout ({OperationTimeout}) must be positive", nameof(OperationTimeout));
        }
        if (KeepAliveInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"keepAliveInterval ({KeepAliveInterval}) must be positive", nameof(KeepAliveInterval));
        }
        if (AuthenticationToken is not null && AuthenticationTokenFile is not null)
        {
            throw new ArgumentException("set authenticationToken or authenticationTokenFile, not both", nameof(AuthenticationTokenFile));
        }
        if (RetryInitialDelay <= TimeSpan.Zero || RetryMaxDelay < RetryInitialDelay)
        {
            throw new ArgumentException(
                $"retryInitialDelay ({RetryInitialDelay}) must be positive and at most retryMaxDelay ({RetryMaxDelay})", nameof(RetryInitialDelay));
        }
        if (ProtocolVersion is < 6 or > 21)
        {
            // v6 introduced checksums, which we always send.
            throw new ArgumentException($"protocolVersion ({ProtocolVersion}) must be between 6 and 21", nameof(ProtocolVersion));
        }
    }
}

/// <summary>Settings of a producer.</summary>
public sealed record ProducerOptions
{
    /// <summary>The topic, e.g. <c>persistent://public/default/orders</c>. Required.</summary>
    public required string Topic { get; init; }

    /// <summary>A producer name; the broker assigns a unique one when null. Default null.</summary>
    public string? ProducerName { get; init; }

    /// <summary>
    /// How a keyed message picks its partition on a partitioned topic. Default
    /// <see cref="HashingScheme.JavaStringHash"/>, the Java client's default; keyless messages go round robin.
    /// </summary>
    public HashingScheme HashingScheme { get; init; } = HashingScheme.JavaStringHash;

    /// <summary>Compression applied to each message payload. Default NONE.</summary>
    public CompressionType Compression { get; init; } = CompressionType.None;

    /// <summary>
    /// Most SENDs on the wire awaiting their receipt at once (a batch counts as one); later ones
    /// wait in order until receipts free room. Default 1000, as the Java client's maxPendingMessages.
    /// </summary>
    public int MaxPendingMessages { get; init; } = 1000;

    /// <summary>
    /// Group messages into batch entries (one SEND, one entry, one receipt for many messages).
    /// Default false: every message is its own entry, which keeps per-message ids simple.
    /// </summary>
    public bool BatchingEnabled { get; init; }

    /// <summary>A batch leaves once it holds this many messages. Default 1000, as in the Java client.</summary>
    public int BatchingMaxMessages { get; init; } = 1000;

    /// <summary>A batch leaves once its payloads reach this many bytes. Default 128 KiB, as in the Java client.</summary>
    public int BatchingMaxBytes { get; init; } = 128 * 1024;

    /// <summary>A batch leaves at the latest this long after its first message. Default 10 ms, as in the Java client.</summary>
    public TimeSpan BatchingMaxDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// The schema the producer registers (CommandProducer.schema); the broker answers with its
    /// version, which every message then names in schema_version. Default null: no schema.
    /// </summary>
    public PulsarSchema? Schema { get; init; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException($"topic ({Topic}) must not be empty", nameof(Topic));
        }
        if (BatchingMaxMessages is < 1 or > 100_000)
        {
            throw new ArgumentException($"batchingMaxMessages ({BatchingMaxMessages}) must be between 1 and 100000", nameof(BatchingMaxMessages));
        }
        if (BatchingMaxBytes < 1)
        {
            throw new ArgumentException($"batchingMaxBytes ({BatchingMaxBytes}) must be positive", nameof(BatchingMaxBytes));
        }
        if (BatchingMaxDelay <= TimeSpan.Zero)
        {
            throw new ArgumentException($"batchingMaxDelay ({BatchingMaxDelay}) must be positive", nameof(BatchingMaxDelay));
        }
        if (MaxPendingMessages is < 1 or > 1_000_000)
        {
            throw new ArgumentException($"maxPendingMessages ({MaxPendingMessages}) must be between 1 and 1000000", nameof(MaxPendingMessages));
        }
    }
}

/// <summary>How the broker distributes a subscription's messages among its consumers.</summary>
public enum SubscriptionType
{
    /// <summary>One consumer only; a second one is refused (ConsumerBusy).</summary>
    Exclusive = 0,

    /// <summary>Round-robin over all consumers; per-message redelivery.</summary>
    Shared = 1,

    /// <summary>One active consumer, others stand by.</summary>
    Failover = 2,

    /// <summary>Shared, but every key always goes to the same consumer.</summary>
    KeyShared = 3,
}

/// <summary>Where a new durable subscription starts.</summary>
public enum SubscriptionInitialPosition
{
    /// <summary>Only messages published after the subscription was created (the broker's default).</summary>
    Latest = 0,

    /// <summary>From the first message still in the topic.</summary>
    Earliest = 1,
}

/// <summary>Settings of a consumer.</summary>
public sealed record ConsumerOptions
{
    /// <summary>
    /// The topic to consume. Required. With <see cref="TopicIsPattern"/> a regular expression over
    /// full names of one namespace, e.g. <c>persistent://public/default/orders-.*</c>.
    /// </summary>
    public required string Topic { get; init; }

    /// <summary>Treat <see cref="Topic"/> as a pattern: consume every matching topic, found again each <see cref="PatternDiscoveryPeriod"/>. Default false.</summary>
    public bool TopicIsPattern { get; init; }

    /// <summary>How often a pattern consumer lists the namespace for new topics. Default 60 s, as in the Java client.</summary>
    public TimeSpan PatternDiscoveryPeriod { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The subscription name. Required.</summary>
    public required string SubscriptionName { get; init; }

    /// <summary>Default <see cref="SubscriptionType.Exclusive"/>.</summary>
    public SubscriptionType SubscriptionType { get; init; } = SubscriptionType.Exclusive;

    /// <summary>Where a newly created subscription starts. Default <see cref="SubscriptionInitialPosition.Latest"/>.</summary>
    public SubscriptionInitialPosition InitialPosition { get; init; } = SubscriptionInitialPosition.Latest;

    /// <summary>
    /// Messages the broker may push ahead of the application (flow permits). Memory stays bounded
    /// by this many messages, plus at most one batch entry beyond it, since the broker never
    /// splits a batch. Default 1000.
    /// </summary>
    public int ReceiverQueueSize { get; init; } = 1000;

    /// <summary>A consumer name shown in broker stats; the client makes one up when null. Default null.</summary>
    public string? ConsumerName { get; init; }

    /// <summary>
    /// Makes the consumer a reader: a non-durable subscription starting after this position
    /// (exclusive), or at <see cref="MessageId.Earliest"/> / <see cref="MessageId.Latest"/>.
    /// Nothing is kept on the broker once it disconnects. Default null (a durable subscription).
    /// </summary>
    public MessageId? StartMessageId { get; init; }

    /// <summary>Read the compacted view (Exclusive or Failover only). Default false.</summary>
    public bool ReadCompacted { get; init; }

    /// <summary>Ask the broker to confirm each acknowledgement (ACK_RESPONSE) and wait for it. Default false.</summary>
    public bool AckReceiptEnabled { get; init; }

    /// <summary>
    /// Acknowledge single messages inside a batch entry at once (ACK with the batch's ack_set of
    /// still unacknowledged indexes, as the Java client's enableBatchIndexAcknowledgment), so that
    /// after a redelivery only the unacknowledged messages of a batch come back. Needs a broker
    /// with acknowledgmentAtBatchIndexLevelEnabled=true; other brokers ignore partial acks, and the
    /// entry is acknowledged when its last message is. Default false, as in the Java client.
    /// </summary>
    public bool BatchIndexAcknowledgment { get; init; }

    /// <summary>
    /// What happens to an entry that arrives corrupt (checksum mismatch, metadata or batch that
    /// does not decode, decompression failure). False (default, as the Java client): it is
    /// discarded, the broker gets an ack with the validation_error, and a warning is logged.
    /// True: it is delivered as a <see cref="PulsarMessage"/> with <see cref="PulsarMessage.Corruption"/>
    /// set and its raw bytes as data, to be recorded and acknowledged by the application.
    /// </summary>
    public bool DeliverCorruptMessages { get; init; }

    /// <summary>
    /// How a Key_Shared subscription spreads keys over its consumers. Default null: auto-split
    /// hash ranges, the broker's default. Only with <see cref="SubscriptionType.KeyShared"/>.
    /// </summary>
    public KeySharedPolicy? KeyShared { get; init; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException($"topic ({Topic}) must not be empty", nameof(Topic));
        }
        if (string.IsNullOrWhiteSpace(SubscriptionName))
        {
            throw new ArgumentException($"subscriptionName ({SubscriptionName}) must not be empty", nameof(SubscriptionName));
        }
        if (TopicIsPattern && StartMessageId is not null)
        {
            throw new ArgumentException($"startMessageId ({StartMessageId}) cannot be combined with a topic pattern", nameof(StartMessageId));
        }
        if (PatternDiscoveryPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException($"patternDiscoveryPeriod ({PatternDiscoveryPeriod}) must be positive", nameof(PatternDiscoveryPeriod));
        }
        if (ReceiverQueueSize is < 1 or > 1_000_000)
        {
            throw new ArgumentException($"receiverQueueSize ({ReceiverQueueSize}) must be between 1 and 1000000", nameof(ReceiverQueueSize));
        }
        if (StartMessageId is not null && SubscriptionType != SubscriptionType.Exclusive)
        {
            throw new ArgumentException(
                $"startMessageId ({StartMessageId}) makes a reader, which needs an Exclusive subscription, not {SubscriptionType}", nameof(StartMessageId));
        }
        if (KeyShared is not null && SubscriptionType != SubscriptionType.KeyShared)
        {
            throw new ArgumentException($"keyShared ({KeyShared.Mode}) needs a KeyShared subscription, not {SubscriptionType}", nameof(KeyShared));
        }
        KeyShared?.Validate();
        if (ReadCompacted && SubscriptionType is SubscriptionType.Shared or SubscriptionType.KeyShared)
        {
            throw new ArgumentException(
                $"readCompacted (true) requires an Exclusive or Failover subscription, not {SubscriptionType}", nameof(ReadCompacted));
        }
    }
}

/// <summary>How a Key_Shared subscription assigns key hashes to this consumer.</summary>
public enum KeySharedMode
{
    /// <summary>The broker splits the hash space among the consumers and re-splits when they come and go.</summary>
    AutoSplit,

    /// <summary>This consumer takes exactly <see cref="KeySharedPolicy.HashRanges"/>; the broker refuses overlaps.</summary>
    Sticky,
}

/// <summary>
/// An inclusive range of sticky-key hash slots, within [0, <see cref="KeySharedPolicy.HashRangeSize"/>).
/// A key's slot is <see cref="KeyHashing.StickyKeyHash(System.ReadOnlySpan{byte})"/>.
/// </summary>
public readonly record struct HashRange(int Start, int End);

/// <summary>The Key_Shared policy a consumer declares in SUBSCRIBE (KeySharedMeta).</summary>
public sealed record KeySharedPolicy
{
    /// <summary>Number of hash slots the broker divides among consumers (65536).</summary>
    public const int HashRangeSize = 65536;

    /// <summary>Default <see cref="KeySharedMode.AutoSplit"/>.</summary>
    public KeySharedMode Mode { get; init; } = KeySharedMode.AutoSplit;

    /// <summary>The slots this consumer takes; required for (and only for) <see cref="KeySharedMode.Sticky"/>. Default empty.</summary>
    public IReadOnlyList<HashRange> HashRanges { get; init; } = [];

    /// <summary>Let the broker deliver a key to a newly joined consumer before older messages of it are acknowledged. Default false.</summary>
    public bool AllowOutOfOrderDelivery { get; init; }

    /// <summary>A sticky policy over the given ranges.</summary>
    public static KeySharedPolicy Sticky(params HashRange[] ranges) => new() { Mode = KeySharedMode.Sticky, HashRanges = ranges };

    public void Validate()
    {
        if (Mode == KeySharedMode.Sticky && HashRanges.Count == 0)
        {
            throw new ArgumentException("keyShared.hashRanges (empty) must name at least one range for a Sticky policy", nameof(HashRanges));
        }
        if (Mode == KeySharedMode.AutoSplit && HashRanges.Count > 0)
        {
            throw new ArgumentException($"keyShared.hashRanges ({HashRanges.Count} ranges) are only for a Sticky policy", nameof(HashRanges));
        }
        foreach (var range in HashRanges)
        {
            if (range.Start < 0 || range.End >= HashRangeSize || range.Start > range.End)
            {
                throw new ArgumentException($"keyShared.hashRanges ([{range.Start}, {range.End}]) must satisfy 0 <= start <= end < {HashRangeSize}", nameof(HashRanges));
            }
        }
        var sorted = HashRanges.OrderBy(r => r.Start).ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Start <= sorted[i - 1].End)
            {
                throw new ArgumentException(
                    $"keyShared.hashRanges ([{sorted[i - 1].Start}, {sorted[i - 1].End}] and [{sorted[i].Start}, {sorted[i].End}]) must not overlap", nameof(HashRanges));
            }
        }
    }
}

internal static class FrameLimits
{
    public static int ForMessageSize(int maxMessageSize) =>
        maxMessageSize > int.MaxValue - FrameFormat.FramePadding ? int.MaxValue : maxMessageSize + FrameFormat.FramePadding;
}
