using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>
/// Consumes several topics on one subscription name: a fixed list, or every topic of a
/// namespace whose name matches a pattern. For a pattern the namespace is listed
/// (GET_TOPICS_OF_NAMESPACE) at start and again every discovery period, so topics created later
/// are picked up, and consumers of deleted topics are closed. Messages of all topics are merged
/// into one bounded queue; acknowledge with the message (its topic tells which consumer it
/// belongs to). Order holds per topic (and partition), not across topics. Its state is the worst
/// state of the topics' consumers (Connected while there are none), and Closed once disposed.
/// </summary>
public sealed class MultiTopicConsumer : PulsarStatefulObject, IPulsarConsumer
{
    private readonly PulsarClient _client;
    private readonly ConsumerOptions _options;
    private readonly Regex? _pattern;
    private readonly string? _namespace;
    private readonly IReadOnlyList<string>? _fixedTopics;
    private readonly ILogger _logger;
    private readonly ConsumerFanIn _fanIn;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (IPulsarConsumer Consumer, Task Pump)> _children = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _discovering = new(1, 1);
    private string? _topicsHash;
    private Task _discoveryLoop = Task.CompletedTask;
    private readonly AggregateState _aggregate;
    private int _disposed;

    private MultiTopicConsumer(PulsarClient client, ConsumerOptions options, Regex? pattern, string? tenantNamespace, IReadOnlyList<string>? fixedTopics)
        : base(PulsarObjectState.Connected)
    {
        _client = client;
        _options = options;
        _pattern = pattern;
        _namespace = tenantNamespace;
        _fixedTopics = fixedTopics;
        _logger = client.Options.LoggerFactory.CreateLogger<MultiTopicConsumer>();
        // A child closes when discovery finds its topic gone.
        _fanIn = new ConsumerFanIn(options.ReceiverQueueSize, () => $"consumer of {Topic}/{SubscriptionName}", childMayClose: true);
        _aggregate = new AggregateState(Monitor, ChildrenStates);
    }

    private IReadOnlyCollection<IPulsarStateful> ChildrenStates()
    {
        lock (_lock)
        {
            return [.. _children.Values.Select(c => c.Consumer)];
        }
    }

    /// <summary>The pattern, or the topics joined by commas.</summary>
    public string Topic => _fixedTopics is null ? _options.Topic : string.Join(',', _fixedTopics);

    public string SubscriptionName => _options.SubscriptionName;

    /// <summary>Topics currently consumed (base names of partitioned topics).</summary>
    public IReadOnlyList<string> Topics
    {
        get
        {
            lock (_lock)
            {
                return [.. _children.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Active when the broker dispatches any of the topics to this consumer.</summary>
    public bool? IsActive
    {
        get
        {
            lock (_lock)
            {
                return IPulsarConsumer.AnyActive(_children.Values.Select(c => c.Consumer));
            }
        }
    }

    public int QueuedMessages
    {
        get
        {
            lock (_lock)
            {
                return _fanIn.Queue.Count + _children.Values.Sum(c => c.Consumer.QueuedMessages);
            }
        }
    }

    /// <summary>How many discovery rounds have run (tests wait on it instead of sleeping).</summary>
    public int DiscoveryRounds { get; private set; }

    internal static async Task<MultiTopicConsumer> SubscribePatternAsync(PulsarClient client, ConsumerOptions options, CancellationToken cancellationToken)
    {
        var (pattern, tenantNamespace) = Parse(options.Topic);
        var consumer = new MultiTopicConsumer(client, options, pattern, tenantNamespace, null);
        await consumer.StartAsync(cancellationToken);
        consumer._discoveryLoop = Task.Run(consumer.DiscoveryLoopAsync, CancellationToken.None);
        return consumer;
    }

    internal static async Task<MultiTopicConsumer> SubscribeListAsync(PulsarClient client, IReadOnlyList<string> topics, ConsumerOptions options, CancellationToken cancellationToken)
    {
        var consumer = new MultiTopicConsumer(client, options, null, null, [.. topics.Select(TopicName.Normalize).Distinct(StringComparer.Ordinal)]);
        await consumer.StartAsync(cancellationToken);
        return consumer;
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await DiscoverAsync(cancellationToken);
        }
        catch
        {
            // Whatever subscribed before the failure is closed again: no half-started consumer.
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Splits <c>persistent://tenant/ns/REGEX</c> into the namespace to list and a regex matched,
    /// as the Java client does, against names without the <c>persistent://</c> domain.
    /// </summary>
    internal static (Regex Pattern, string Namespace) Parse(string topicsPattern)
    {
        const string domain = "persistent://";
        var withoutDomain = topicsPattern.StartsWith(domain, StringComparison.Ordinal) ? topicsPattern[domain.Length..] : topicsPattern;
        var parts = withoutDomain.Split('/', 3);
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || Regex.Escape(parts[0]) != parts[0] || Regex.Escape(parts[1]) != parts[1])
        {
            throw new ArgumentException(
                $"topic pattern ({topicsPattern}) must be persistent://tenant/namespace/REGEX with a literal tenant and namespace", nameof(topicsPattern));
        }
        return (new Regex($"^(?:{withoutDomain})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)), $"{parts[0]}/{parts[1]}");
    }

    private async Task DiscoveryLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.PatternDiscoveryPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(_fanIn.Stopping))
            {
                try
                {
                    await DiscoverAsync(_fanIn.Stopping);
                }
                catch (PulsarException e)
                {
                    // Discovery failing now (broker restarting) is retried at the next tick.
                    _logger.LogWarning(e, "Topic discovery for {Pattern} failed; retrying next period", Topic);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Lists the namespace now (for a pattern) and subscribes to new matching topics, closing vanished ones.</summary>
    public async Task DiscoverAsync(CancellationToken cancellationToken = default)
    {
        await _discovering.WaitAsync(cancellationToken);
        try
        {
            HashSet<string> wanted;
            if (_fixedTopics is not null)
            {
                wanted = [.. _fixedTopics];
            }
            else
            {
                var listed = await ListTopicsAsync(cancellationToken);
                if (listed is null)
                {
                    DiscoveryRounds++;
                    return;
                }
                wanted = listed
                    .Select(TopicName.BaseName)
                    .Where(name => _pattern!.IsMatch(name["persistent://".Length..]))
                    .ToHashSet(StringComparer.Ordinal);
            }
            List<string> added;
            List<(IPulsarConsumer Consumer, Task Pump)> removed;
            lock (_lock)
            {
                added = [.. wanted.Where(t => !_children.ContainsKey(t))];
                removed = [.. _children.Where(c => !wanted.Contains(c.Key)).Select(c => c.Value)];
                foreach (var gone in _children.Keys.Where(t => !wanted.Contains(t)).ToList())
                {
                    _children.Remove(gone);
                }
            }
            foreach (var topic in added.Order(StringComparer.Ordinal))
            {
                var child = await _client.SubscribeUntrackedAsync(_options with { Topic = topic, TopicIsPattern = false }, cancellationToken);
                lock (_lock)
                {
                    _children[topic] = (child, _fanIn.Start(child));
                }
                _aggregate.Watch(child);
                _logger.LogInformation("Pattern {Pattern} now also consumes {Topic}", Topic, topic);
            }
            foreach (var (consumer, _) in removed)
            {
                await consumer.DisposeAsync();
            }
            if (removed.Count > 0)
            {
                _aggregate.Recompute();
            }
            DiscoveryRounds++;
        }
        finally
        {
            _discovering.Release();
        }
    }

    /// <summary>The namespace's persistent topics, or null when the broker says nothing changed.</summary>
    private async Task<IReadOnlyList<string>?> ListTopicsAsync(CancellationToken cancellationToken)
    {
        var connection = await _client.GetConnectionAsync(_client.Options.ServiceUrl, null, cancellationToken);
        var requestId = connection.NextRequestId();
        var request = new CommandGetTopicsOfNamespace
        {
            RequestId = requestId,
            Namespace = _namespace!,
            Mode = CommandGetTopicsOfNamespace.Types.Mode.Persistent,
            TopicsPattern = _pattern!.ToString(),
        };
        if (_topicsHash is not null)
        {
            request.TopicsHash = _topicsHash;
        }
        var answer = (await connection.RequestAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.GetTopicsOfNamespace, GetTopicsOfNamespace = request },
            requestId,
            "GET_TOPICS_OF_NAMESPACE",
            cancellationToken)).GetTopicsOfNamespaceResponse;
        if (answer.HasChanged && !answer.Changed)
        {
            return null;
        }
        // Filtered or not, we filter again: a broker without pattern support returns everything.
        _topicsHash = answer.HasTopicsHash ? answer.TopicsHash : TopicListHash.Compute(answer.Topics);
        return answer.Topics;
    }

    public ValueTask<PulsarMessage> ReceiveAsync(CancellationToken cancellationToken = default) => _fanIn.Queue.ReceiveAsync(cancellationToken);

    public bool TryReceive([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PulsarMessage? message) => _fanIn.Queue.TryReceive(out message);

    public IAsyncEnumerable<PulsarMessage> ReceiveAllAsync(CancellationToken cancellationToken = default) => _fanIn.Queue.ReceiveAllAsync(cancellationToken);

    private IPulsarConsumer ChildOf(PulsarMessage message)
    {
        lock (_lock)
        {
            return _children.TryGetValue(TopicName.BaseName(message.Topic), out var child)
                ? child.Consumer
                : throw new PulsarObjectClosedException($"consumer of {message.Topic} (the topic is no longer consumed)");
        }
    }

    public ValueTask AcknowledgeAsync(PulsarMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ChildOf(message).AcknowledgeAsync(message.Id, cancellationToken);
    }

    /// <summary>Acknowledges a list with as few ACK commands as its topics allow.</summary>
    public async ValueTask AcknowledgeAsync(IReadOnlyList<PulsarMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var topic in messages.GroupBy(m => TopicName.BaseName(m.Topic)))
        {
            await ChildOf(topic.First()).AcknowledgeAsync([.. topic], cancellationToken);
        }
    }

    public ValueTask AcknowledgeCumulativeAsync(PulsarMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ChildOf(message).AcknowledgeCumulativeAsync(message.Id, cancellationToken);
    }

    public ValueTask AcknowledgeAsync(MessageId id, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("a message id does not name its topic: acknowledge the PulsarMessage instead");

    public ValueTask AcknowledgeCumulativeAsync(MessageId id, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("a message id does not name its topic: acknowledge the PulsarMessage instead");

    /// <summary>Asks the child that reads <paramref name="topic"/> (see <see cref="ChildReading"/>).</summary>
    public Task<MessageId> GetLastMessageIdAsync(string topic, CancellationToken cancellationToken = default) =>
        ChildReading(topic).GetLastMessageIdAsync(topic, cancellationToken);

    public Task<MessageId?> GetMarkDeletePositionAsync(string topic, CancellationToken cancellationToken = default) =>
        ChildReading(topic).GetMarkDeletePositionAsync(topic, cancellationToken);

    /// <summary>The child that reads <paramref name="topic"/>: the topic itself, or the
    /// partitioned topic it is a partition of.</summary>
    private IPulsarConsumer ChildReading(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        lock (_lock)
        {
            return _children.TryGetValue(topic, out var own) ? own.Consumer
                : _children.TryGetValue(TopicName.BaseName(topic), out var parent) ? parent.Consumer
                : throw new ArgumentException($"consumer of {Topic} does not read {topic}", nameof(topic));
        }
    }

    public async ValueTask RedeliverUnacknowledgedMessagesAsync(CancellationToken cancellationToken = default)
    {
        // Dropped: the children's redelivery brings them again.
        _fanIn.Queue.Clear();
        foreach (var child in Children())
        {
            await child.RedeliverUnacknowledgedMessagesAsync(cancellationToken);
        }
    }

    public ValueTask RedeliverAsync(IEnumerable<MessageId> ids, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("a message id does not name its topic: use RedeliverUnacknowledgedMessagesAsync");

    public Task SeekAsync(DateTimeOffset publishTime, CancellationToken cancellationToken = default) =>
        Task.WhenAll(Children().Select(c => c.SeekAsync(publishTime, cancellationToken)));

    private List<IPulsarConsumer> Children()
    {
        lock (_lock)
        {
            return [.. _children.Values.Select(c => c.Consumer)];
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _aggregate.Close();
        await _fanIn.StopAsync();
        await _discoveryLoop;
        List<(IPulsarConsumer Consumer, Task Pump)> children;
        lock (_lock)
        {
            children = [.. _children.Values];
            _children.Clear();
        }
        await Task.WhenAll(children.Select(c => c.Pump));
        foreach (var (consumer, _) in children)
        {
            await consumer.DisposeAsync();
        }
        _fanIn.Close();
    }
}
