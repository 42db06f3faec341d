using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>
/// Entry point: owns one connection per broker URL (a pool), finds the broker that serves a
/// topic (LOOKUP) and creates producers and consumers on it. Disposing it closes everything.
/// </summary>
public sealed class PulsarClient : IAsyncDisposable
{
    /// <summary>The System.Diagnostics.Metrics meter of every client (reconnects).</summary>
    public const string MeterName = Internal.ReconnectLoop.MeterName;

    private readonly PulsarClientOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _poolLock = new();
    private readonly Dictionary<(Uri Url, string? ProxyTo), Task<PulsarConnection>> _pool = [];
    private readonly List<IAsyncDisposable> _children = [];
    private bool _disposed;

    public PulsarClient(PulsarClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<PulsarClient>();
    }

    internal PulsarClientOptions Options => _options;

    /// <summary>Number of partitions of <paramref name="topic"/>; 0 when it is not partitioned.</summary>
    public async Task<int> GetPartitionCountAsync(string topic, CancellationToken cancellationToken = default)
    {
        var connection = await GetConnectionAsync(_options.ServiceUrl, null, cancellationToken);
        var requestId = connection.NextRequestId();
        var command = new BaseCommand
        {
            Type = BaseCommand.Types.Type.PartitionedMetadata,
            PartitionMetadata = new CommandPartitionedTopicMetadata { Topic = TopicName.Normalize(topic), RequestId = requestId },
        };
        var answer = (await connection.RequestAsync(command, requestId, "PARTITIONED_METADATA", cancellationToken)).PartitionMetadataResponse;
        if (answer.Response == CommandPartitionedTopicMetadataResponse.Types.LookupType.Failed)
        {
            throw PulsarServerException.Create(answer.Error, answer.Message);
        }
        return (int)answer.Partitions;
    }

    /// <summary>
    /// The persistent topics of <paramref name="tenantNamespace"/> (partitions listed one by one),
    /// through the binary protocol: one GET_TOPICS_OF_NAMESPACE round trip, the request a pattern
    /// consumer makes (apache/pulsar ServerCnx.handleGetTopicsOfNamespace; the broker checks the
    /// client's authorisation on the namespace, so a refusal names a permission problem).
    /// </summary>
    public async Task<IReadOnlyList<string>> GetTopicsOfNamespaceAsync(string tenantNamespace, CancellationToken cancellationToken = default)
    {
        var connection = await GetConnectionAsync(_options.ServiceUrl, null, cancellationToken);
        var requestId = connection.NextRequestId();
        var request = new CommandGetTopicsOfNamespace
        {
            RequestId = requestId,
            Namespace = tenantNamespace,
            Mode = CommandGetTopicsOfNamespace.Types.Mode.Persistent,
        };
        var answer = (await connection.RequestAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.GetTopicsOfNamespace, GetTopicsOfNamespace = request }, requestId, "GET_TOPICS_OF_NAMESPACE", cancellationToken)).GetTopicsOfNamespaceResponse;
        return [.. answer.Topics];
    }

    /// <summary>
    /// The schema of <paramref name="topic"/> at <paramref name="version"/> (a message's
    /// schema_version), or its latest schema when no version is given: one GET_SCHEMA round trip
    /// (apache/pulsar ServerCnx.handleGetSchema; the schema belongs to the topic without its
    /// partition suffix). Null when the topic has no schema (at that version): the broker answers
    /// TopicNotFound, "Topic not found or no-schema", for both.
    /// </summary>
    public async Task<PulsarSchemaVersion?> GetSchemaAsync(string topic, ReadOnlyMemory<byte>? version = null, CancellationToken cancellationToken = default)
    {
        var connection = await GetConnectionAsync(_options.ServiceUrl, null, cancellationToken);
        var requestId = connection.NextRequestId();
        var request = new CommandGetSchema { Topic = TopicName.Normalize(topic), RequestId = requestId };
        if (version is { } bytes)
        {
            request.SchemaVersion = Google.Protobuf.ByteString.CopyFrom(bytes.Span);
        }

        var answer = (await connection.RequestAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.GetSchema, GetSchema = request }, requestId, "GET_SCHEMA", cancellationToken)).GetSchemaResponse;
        if (answer.HasErrorCode)
        {
            return answer.ErrorCode == ServerError.TopicNotFound ? null : throw PulsarServerException.Create(answer.ErrorCode, answer.ErrorMessage);
        }

        if (answer.Schema is null)
        {
            throw new PulsarProtocolException($"GET_SCHEMA answer for {topic} has neither a schema nor an error");
        }

        return new PulsarSchemaVersion(PulsarSchema.FromProto(answer.Schema), answer.SchemaVersion.ToByteArray());
    }

    /// <summary>
    /// The version under which <paramref name="topic"/> stores <paramref name="schema"/>, added as
    /// a new version when the topic does not hold it yet: one GET_OR_CREATE_SCHEMA round trip.
    /// </summary>
    public async Task<ReadOnlyMemory<byte>> GetOrCreateSchemaAsync(string topic, PulsarSchema schema, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var connection = await GetConnectionAsync(_options.ServiceUrl, null, cancellationToken);
        var requestId = connection.NextRequestId();
        var request = new CommandGetOrCreateSchema { Topic = TopicName.Normalize(topic), RequestId = requestId, Schema = schema.ToProto() };
        var answer = (await connection.RequestAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.GetOrCreateSchema, GetOrCreateSchema = request }, requestId, "GET_OR_CREATE_SCHEMA", cancellationToken)).GetOrCreateSchemaResponse;
        if (answer.HasErrorCode)
        {
            throw PulsarServerException.Create(answer.ErrorCode, answer.ErrorMessage);
        }

        return answer.SchemaVersion.ToByteArray();
    }

    /// <summary>
    /// Finds the broker serving <paramref name="topic"/> and returns a connection to it, following
    /// redirects: a Redirect answer or a non-authoritative one means "ask again there", echoing the
    /// authoritative flag; proxy_through_service_url means "stay on the service URL and ask the
    /// proxy to forward" (proxy_to_broker_url in CONNECT).
    /// </summary>
    internal async Task<PulsarConnection> LookupConnectionAsync(string topic, CancellationToken cancellationToken)
    {
        var askUrl = _options.ServiceUrl;
        var authoritative = false;
        for (var attempt = 0; attempt <= _options.MaxLookupRedirects; attempt++)
        {
            var connection = await GetConnectionAsync(askUrl, null, cancellationToken);
            var requestId = connection.NextRequestId();
            var command = new BaseCommand
            {
                Type = BaseCommand.Types.Type.Lookup,
                LookupTopic = new CommandLookupTopic { Topic = topic, RequestId = requestId, Authoritative = authoritative },
            };
            var answer = (await connection.RequestAsync(command, requestId, "LOOKUP", cancellationToken)).LookupTopicResponse;
            switch (answer.Response)
            {
                case CommandLookupTopicResponse.Types.LookupType.Failed:
                    throw PulsarServerException.Create(answer.Error, answer.Message);
                case CommandLookupTopicResponse.Types.LookupType.Redirect:
                    askUrl = BrokerUrlOf(answer);
                    authoritative = answer.Authoritative;
                    continue;
                case CommandLookupTopicResponse.Types.LookupType.Connect:
                    var brokerUrl = BrokerUrlOf(answer);
                    if (answer.ProxyThroughServiceUrl)
                    {
                        return await GetConnectionAsync(_options.ServiceUrl, ProxyTarget(brokerUrl), cancellationToken);
                    }
                    return await GetConnectionAsync(brokerUrl, null, cancellationToken);
                default:
                    throw new PulsarProtocolException($"LOOKUP answer without a known response type ({answer.Response})");
            }
        }
        throw new PulsarProtocolException($"LOOKUP of {topic} redirected more than {_options.MaxLookupRedirects} times");
    }

    /// <summary>The broker URL to use: the TLS one when we speak TLS.</summary>
    private Uri BrokerUrlOf(CommandLookupTopicResponse answer)
    {
        if (_options.UsesTls)
        {
            return answer.HasBrokerServiceUrlTls && answer.BrokerServiceUrlTls.Length > 0
                ? new Uri(answer.BrokerServiceUrlTls)
                : throw new PulsarProtocolException($"LOOKUP answer names no TLS URL for a pulsar+ssl client (plain URL {answer.BrokerServiceUrl})");
        }
        return new Uri(answer.BrokerServiceUrl);
    }

    private static string ProxyTarget(Uri brokerUrl) => $"{brokerUrl.Host}:{brokerUrl.Port}";

    internal async Task<PulsarConnection> GetConnectionAsync(Uri url, string? proxyTo, CancellationToken cancellationToken)
    {
        Task<PulsarConnection> pending;
        lock (_poolLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var key = (url, proxyTo);
            if (!_pool.TryGetValue(key, out pending!) || IsDead(pending))
            {
                // Opened without the caller's token: the connection is shared by later callers.
                pending = PulsarConnection.OpenAsync(url, _options, proxyTo, CancellationToken.None);
                _pool[key] = pending;
            }
        }
        return await pending.WaitAsync(cancellationToken);
    }

    private static bool IsDead(Task<PulsarConnection> connection) =>
        connection.IsFaulted || connection.IsCanceled || (connection.IsCompletedSuccessfully && !connection.Result.IsOpen);

    /// <summary>
    /// Creates a producer on <see cref="ProducerOptions.Topic"/>: a <see cref="PulsarProducer"/>,
    /// or a <see cref="PartitionedProducer"/> when the topic is partitioned.
    /// </summary>
    public async Task<IPulsarProducer> CreateProducerAsync(ProducerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        options = options with { Topic = TopicName.Normalize(options.Topic) };
        var producer = await OpenTopicAsync<PulsarProducer, IPulsarProducer>(
            options.Topic,
            topic => CreateSingleProducerAsync(options with { Topic = topic }, cancellationToken),
            partitions => new PartitionedProducer(options.Topic, partitions, options.HashingScheme),
            cancellationToken);
        Track(producer);
        return producer;
    }

    private Task<PulsarProducer> CreateSingleProducerAsync(ProducerOptions options, CancellationToken cancellationToken)
    {
        var topic = options.Topic;
        return PulsarProducer.CreateAsync(ct => LookupConnectionAsync(topic, ct), options, _options, cancellationToken);
    }

    /// <summary>
    /// Subscribes to <see cref="ConsumerOptions.Topic"/>: a <see cref="PulsarConsumer"/>, or a
    /// <see cref="PartitionedConsumer"/> when the topic is partitioned.
    /// </summary>
    public async Task<IPulsarConsumer> SubscribeAsync(ConsumerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        IPulsarConsumer consumer = options.TopicIsPattern
            ? await MultiTopicConsumer.SubscribePatternAsync(this, options, cancellationToken)
            : await SubscribeUntrackedAsync(options, cancellationToken);
        Track(consumer);
        return consumer;
    }

    /// <summary>
    /// Subscribes to several topics (each partitioned or not) on one subscription, merged into
    /// one <see cref="MultiTopicConsumer"/>. <see cref="ConsumerOptions.Topic"/> of
    /// <paramref name="options"/> is replaced by each of <paramref name="topics"/>.
    /// </summary>
    public async Task<IPulsarConsumer> SubscribeAsync(IReadOnlyList<string> topics, ConsumerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topics);
        ArgumentNullException.ThrowIfNull(options);
        if (topics.Count == 0)
        {
            throw new ArgumentException("topics (empty) must name at least one topic", nameof(topics));
        }
        options.Validate();
        if (options.TopicIsPattern || options.StartMessageId is not null)
        {
            throw new ArgumentException("a topic list cannot be combined with topicIsPattern or startMessageId", nameof(options));
        }
        var consumer = await MultiTopicConsumer.SubscribeListAsync(this, topics, options, cancellationToken);
        Track(consumer);
        return consumer;
    }

    /// <summary>Subscribes one topic (partitioned or not) without tracking it for disposal by the client.</summary>
    internal async Task<IPulsarConsumer> SubscribeUntrackedAsync(ConsumerOptions options, CancellationToken cancellationToken)
    {
        options = options with { Topic = TopicName.Normalize(options.Topic) };
        return await OpenTopicAsync<PulsarConsumer, IPulsarConsumer>(
            options.Topic,
            topic => SubscribeSingleAsync(options with { Topic = topic }, cancellationToken),
            partitions => new PartitionedConsumer(options.Topic, options.SubscriptionName, partitions, options.ReceiverQueueSize),
            cancellationToken);
    }

    /// <summary>Opens <paramref name="topic"/> with <paramref name="open"/>, or, when it is a
    /// partitioned topic, each of its partitions in order, joined by <paramref name="join"/>; when a
    /// partition fails, those already opened are disposed before the failure is thrown.</summary>
    private async Task<T> OpenTopicAsync<TChild, T>(string topic, Func<string, Task<TChild>> open, Func<TChild[], T> join, CancellationToken cancellationToken)
        where TChild : T, IAsyncDisposable
    {
        var partitions = TopicName.PartitionIndex(topic) >= 0 ? 0 : await GetPartitionCountAsync(topic, cancellationToken);
        if (partitions == 0)
        {
            return await open(topic);
        }
        var children = new List<TChild>(partitions);
        try
        {
            for (var i = 0; i < partitions; i++)
            {
                children.Add(await open(TopicName.Partition(topic, i)));
            }
        }
        catch
        {
            foreach (var child in children)
            {
                await child.DisposeAsync();
            }
            throw;
        }
        return join([.. children]);
    }

    private Task<PulsarConsumer> SubscribeSingleAsync(ConsumerOptions options, CancellationToken cancellationToken)
    {
        var topic = options.Topic;
        return PulsarConsumer.SubscribeAsync(ct => LookupConnectionAsync(topic, ct), options, _options, cancellationToken);
    }

    private void Track(IAsyncDisposable child)
    {
        lock (_poolLock)
        {
            // Forget what the application already disposed, so a long-lived client that creates
            // and closes many consumers does not keep them all.
            _children.RemoveAll(c => c is IPulsarConsumer { State: PulsarObjectState.Closed } or IPulsarProducer { State: PulsarObjectState.Closed });
            _children.Add(child);
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<IAsyncDisposable> children;
        List<Task<PulsarConnection>> connections;
        lock (_poolLock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            children = [.. _children];
            connections = [.. _pool.Values];
            _pool.Clear();
        }
        foreach (var child in children)
        {
            await child.DisposeAsync();
        }
        foreach (var connection in connections)
        {
            try
            {
                await (await connection).DisposeAsync();
            }
            catch (PulsarException e)
            {
                _logger.LogDebug(e, "A connection that never opened is dropped");
            }
        }
    }
}
