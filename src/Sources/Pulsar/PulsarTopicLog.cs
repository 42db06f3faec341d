using System.Net;
using System.Runtime.CompilerServices;
using System.Text;

namespace Sync.Sources.Pulsar;

/// <summary>A Pulsar source's topics as erasure, status and dump see them. The topics are those of
/// the source's <see cref="PulsarSourceOptions.Namespaces"/> (listed through the admin API) that
/// the caller's filter accepts; a partitioned topic is read partition by partition, and its
/// messages carry the partition's name, as the runtime's checkpoints do.
/// <list type="bullet">
/// <item>Reads (compacted and raw) are non-durable readers from the earliest message up to the
/// topic's last message id taken when the read starts; they leave no subscription behind.</item>
/// <item><see cref="EndsAsync"/> counts <c>Behind</c> in entries when the position and the last
/// message are in the same ledger (entry ids are dense within a ledger; a batch entry counts once),
/// and across ledgers from the sizes of the ledgers in between that the topic's internal stats list
/// (one admin call per stream); null when those stats cannot be read.</item>
/// <item>A tombstone goes to the partition named, or, for a partitioned topic named by its base
/// name, to the partition the Java client's default router picks for the key text.</item>
/// </list></summary>
public sealed class PulsarTopicLog : ITopicLog, ITopicPolicyReader
{
    private readonly string _sourceName;
    private readonly PulsarSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly PulsarTopicProducers _producers;
    private PulsarAdminClient? _admin;
    private readonly PulsarKeyValueResolver _keyValue;
    private string? _retentionNote;

    public PulsarTopicLog(string sourceName, PulsarSourceOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _sourceName = sourceName;
        _options = options;
        _producers = new PulsarTopicProducers(options);
        _keyValue = new PulsarKeyValueResolver(options.KeyValueEncoding, () => _producers.Client);
        _time = time ?? TimeProvider.System;
    }

    private PulsarClient Client => _producers.Client;

    private PulsarAdminClient Admin => _admin ??= PulsarConnections.Admin(_sourceName, _options, "reading the topics for erasure and status");

    /// <summary>Read once from the admin API (topic and namespace retention) and kept.</summary>
    public async ValueTask<string> RetentionNoteAsync(CancellationToken cancellationToken) =>
        _retentionNote ??= await DescribeRetentionAsync(cancellationToken);

    public IAsyncEnumerable<SourceMessage> ReadCompactedAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken) =>
        ReadAllAsync(topicFilter, compacted: true, cancellationToken);

    public IAsyncEnumerable<SourceMessage> ScanRawAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken) =>
        ReadAllAsync(topicFilter, compacted: false, cancellationToken);

    private async IAsyncEnumerable<SourceMessage> ReadAllAsync(Func<string, bool> topicFilter, bool compacted, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var stream in await StreamsAsync(topicFilter, cancellationToken))
        {
            if (!compacted)
            {
                await foreach (var message in ReadStreamAsync(stream, compacted: false, cancellationToken))
                {
                    yield return message;
                }

                continue;
            }

            // The broker's compacted ledger covers messages up to the compaction horizon; what came
            // after it is delivered raw. Latest per key over both is the view; keyless messages
            // and keys whose latest message is a tombstone are left out, as the compactor does.
            var latest = new Dictionary<string, SourceMessage>(StringComparer.Ordinal);
            await foreach (var message in ReadStreamAsync(stream, compacted: true, cancellationToken))
            {
                if (message.Key.Text is { } key)
                {
                    latest.Remove(key);
                    latest[key] = message;
                }
            }

            foreach (var message in latest.Values.OrderBy(m => m.Position))
            {
                if (!message.IsTombstone)
                {
                    yield return message;
                }
            }
        }
    }

    /// <summary>One topic partition (or unpartitioned topic) from the earliest message up to the
    /// last id taken at the start.</summary>
    private async IAsyncEnumerable<SourceMessage> ReadStreamAsync(string stream, bool compacted, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var reader = (PulsarConsumer)await PulsarConnections.ReaderFromEarliestAsync(Client, stream, "sync-log", compacted, cancellationToken);
        var last = await reader.GetLastMessageIdAsync(cancellationToken);
        if ((long)last.EntryId < 0)
        {
            yield break;
        }

        while (true)
        {
            PulsarMessage message;
            if (compacted)
            {
                // The compacted view ends before the last id when compaction removed the last
                // message (a tombstone): stop once nothing more comes for a while.
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                idle.CancelAfter(_options.CompactedReadIdle);
                try
                {
                    message = await reader.ReceiveAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    yield break;
                }
            }
            else
            {
                message = await reader.ReceiveAsync(cancellationToken);
            }

            yield return await _keyValue.ToLogMessageAsync(message, cancellationToken);

            if (message.Id.CompareTo(last) >= 0)
            {
                yield break;
            }
        }
    }

    public async ValueTask<IReadOnlyList<TopicEnd>> EndsAsync(Func<string, bool> topicFilter, IReadOnlyDictionary<string, StreamPosition> after, CancellationToken cancellationToken)
    {
        var ends = new List<TopicEnd>();
        foreach (var stream in await StreamsAsync(topicFilter, cancellationToken))
        {
            await using var reader = (PulsarConsumer)await Client.SubscribeAsync(
                new ConsumerOptions
                {
                    Topic = stream,
                    SubscriptionName = $"sync-status-{Guid.NewGuid():N}",
                    SubscriptionType = SubscriptionType.Exclusive,
                    StartMessageId = MessageId.Latest,
                    ReceiverQueueSize = 1,
                },
                cancellationToken);
            var last = PulsarConnections.Position(await reader.GetLastMessageIdAsync(cancellationToken));
            // Within one ledger entry ids are dense, so the entries after the position are counted
            // exactly (a batch entry counts once); across ledgers the broker's ledger sizes are read.
            long? behind = !after.TryGetValue(stream, out var position) ? null
                : position >= last ? 0
                : position.Ledger == last.Ledger ? last.Entry - position.Entry
                : await EntriesBetweenLedgersAsync(stream, position, last, cancellationToken);
            ends.Add(new TopicEnd(stream, last, behind));
        }

        return ends;
    }

    /// <summary>Entries after <paramref name="position"/> up to <paramref name="last"/> when they lie
    /// in different ledgers: the rest of the position's ledger, every ledger in between, and the last
    /// ledger up to its last entry, from the stream's internal stats (one admin call). Null when the
    /// stats cannot be read or no longer list the position's ledger (retention or truncation deleted
    /// it): a status figure or a scrape is never worth a failure.</summary>
    private async Task<long?> EntriesBetweenLedgersAsync(string stream, StreamPosition position, StreamPosition last, CancellationToken cancellationToken)
    {
        IReadOnlyList<(long LedgerId, long Entries)>? ledgers;
        try
        {
            ledgers = await Admin.GetLedgerEntriesAsync(stream, cancellationToken);
        }
        catch (Exception e) when (e is PulsarException or HttpRequestException or System.Text.Json.JsonException or InvalidOperationException or KeyNotFoundException or FormatException
            || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }

        var positionLedger = ledgers?.Where(l => l.LedgerId == position.Ledger).Select(l => (long?)l.Entries).FirstOrDefault();
        if (ledgers is null || positionLedger is not { } positionLedgerEntries || positionLedgerEntries <= position.Entry)
        {
            return null;
        }

        var between = ledgers.Where(l => l.LedgerId > position.Ledger && l.LedgerId < last.Ledger).Sum(l => l.Entries);
        return positionLedgerEntries - 1 - position.Entry + between + last.Entry + 1;
    }

    public ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, CancellationToken cancellationToken) =>
        PublishTombstoneAsync(topic, key, Origin.EmptyProperties, cancellationToken);

    public ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, IReadOnlyDictionary<string, string> properties, CancellationToken cancellationToken) =>
        PublishAsync(topic, key, null, properties, null, cancellationToken);

    public async ValueTask<StreamPosition> PublishAsync(string topic, MessageKey key, ReadOnlyMemory<byte>? value, IReadOnlyDictionary<string, string> properties, DateTimeOffset? eventTime, CancellationToken cancellationToken)
    {
        var what = value is null ? "a tombstone" : "a keyed message";
        if (key.Text is not { } text)
        {
            throw new ArgumentException($"{what} needs a key", nameof(key));
        }

        var message = new OutgoingMessage { Data = value ?? ReadOnlyMemory<byte>.Empty, IsNullValue = value is null };
        if (key.IsBase64)
        {
            var bytes = key.GetBytes();
            if (Convert.ToBase64String(bytes) != text)
            {
                // The client sends binary keys in canonical base64; anything else would not be the
                // same key text, and compaction compares key text.
                throw new SourceException($"the base64 key of {what} on {topic} is not in canonical form and cannot be reproduced exactly");
            }

            message = message with { KeyBytes = bytes };
        }
        else
        {
            message = message with { Key = text };
        }

        message = message with
        {
            EventTimeMs = (ulong)(eventTime ?? _time.GetUtcNow()).ToUnixTimeMilliseconds(),
            Properties = properties.Count == 0 ? null : properties,
        };
        var producer = await _producers.GetAsync(topic, cancellationToken);

        return PulsarConnections.Position(await producer.SendAsync(message, cancellationToken));
    }

    public async ValueTask<CompactionOutcome> CompactAsync(string topic, IReadOnlyCollection<MessageKey> keys, CancellationToken cancellationToken)
    {
        var streams = TopicName.PartitionIndex(topic) >= 0 ? 0 : await Admin.GetPartitionCountAsync(topic, cancellationToken);
        var names = streams == 0 ? [topic] : Enumerable.Range(0, streams).Select(i => TopicName.Partition(topic, i)).ToList();
        foreach (var name in names)
        {
            var outcome = await CompactOneAsync(name, cancellationToken);
            if (!outcome.Succeeded)
            {
                return outcome;
            }
        }

        return new CompactionOutcome("SUCCESS", null);
    }

    /// <summary>Admin truncate on each partition: every subscription's cursor moves to the end of
    /// the topic (unread messages are skipped, for every reader) and the inactive ledgers are
    /// deleted; the ledger being written is not, so its messages stay until retention or rollover.</summary>
    public async ValueTask<TruncationOutcome> TruncateAsync(string topic, CancellationToken cancellationToken)
    {
        const string effect = "truncated: every subscription's cursor moved to the end of the topic (messages not yet consumed are skipped by every reader) and inactive ledgers were deleted; the ledger being written is kept, so the messages in it stay until it rolls over and retention expires";
        try
        {
            var streams = TopicName.PartitionIndex(topic) >= 0 ? 0 : await Admin.GetPartitionCountAsync(topic, cancellationToken);
            var names = streams == 0 ? [topic] : Enumerable.Range(0, streams).Select(i => TopicName.Partition(topic, i)).ToList();
            foreach (var name in names)
            {
                await Admin.TruncateAsync(name, cancellationToken);
            }
        }
        catch (PulsarAdminException e)
        {
            return new TruncationOutcome("ERROR", "not truncated", e.Message);
        }

        return new TruncationOutcome("SUCCESS", effect);
    }

    private async Task<CompactionOutcome> CompactOneAsync(string topic, CancellationToken cancellationToken)
    {
        try
        {
            await Admin.TriggerCompactionAsync(topic, cancellationToken);
        }
        catch (PulsarAdminException e) when (e.StatusCode == HttpStatusCode.Conflict)
        {
            // One is already running: wait for it. Its horizon may end before our tombstones;
            // erasure's verification (a compacted read) tells.
        }
        catch (PulsarAdminException e)
        {
            return new CompactionOutcome("ERROR", null, e.Message);
        }

        while (true)
        {
            CompactionStatus status;
            try
            {
                status = await Admin.GetCompactionStatusAsync(topic, cancellationToken);
            }
            catch (PulsarAdminException e)
            {
                return new CompactionOutcome("ERROR", null, e.Message);
            }

            switch (status.State)
            {
                case CompactionState.Success:
                    return new CompactionOutcome("SUCCESS", null);
                case CompactionState.Error:
                    return new CompactionOutcome("ERROR", null, status.LastError ?? "the broker reports ERROR without a reason");
            }

            await Task.Delay(_options.CompactionPollInterval, _time, cancellationToken);
        }
    }

    /// <summary>Topic partitions (or unpartitioned topics) of the source's namespaces that the filter
    /// accepts, by base name or by partition name, in name order.</summary>
    private async Task<IReadOnlyList<string>> StreamsAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken)
    {
        var streams = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var ns in _options.Namespaces)
        {
            IReadOnlyList<string> topics;
            try
            {
                topics = await Admin.ListTopicsAsync(ns, cancellationToken);
            }
            catch (PulsarAdminException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                continue;
            }

            foreach (var topic in topics)
            {
                if (topicFilter(topic) || topicFilter(TopicName.BaseName(topic)))
                {
                    streams.Add(topic);
                }
            }
        }

        return [.. streams];
    }

    /// <summary>The topic's own policies where set, else its namespace's; the broker's defaults
    /// are not readable through the namespace and topic admin API, so they are named, not valued.</summary>
    public async ValueTask<TopicPolicies> ReadPoliciesAsync(string topic, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadPoliciesOfAsync(topic, cancellationToken);
        }
        catch (PulsarAdminException e)
        {
            throw new SourceException($"source {_sourceName}: the settings of {topic} cannot be read: {e.Message}");
        }
    }

    private async Task<TopicPolicies> ReadPoliciesOfAsync(string topic, CancellationToken cancellationToken)
    {
        var baseName = TopicName.BaseName(topic);
        var ns = TopicName.Normalize(baseName)["persistent://".Length..].Split('/') is var parts && parts.Length == 3 ? $"{parts[0]}/{parts[1]}" : throw new SourceException($"topic {topic} is not tenant/namespace/name");
        var (retention, retentionOn) = await Admin.GetTopicRetentionAsync(baseName, cancellationToken) is { } own ? (own, "topic")
            : await Admin.GetNamespaceRetentionAsync(ns, cancellationToken) is { } inherited ? (inherited, "namespace")
            : ((RetentionPolicy?)null, "broker default");
        var (threshold, thresholdOn) = await Admin.GetTopicCompactionThresholdAsync(baseName, cancellationToken) is { } topicThreshold ? (topicThreshold, "topic")
            : await Admin.GetNamespaceCompactionThresholdAsync(ns, cancellationToken) is { } nsThreshold ? (nsThreshold, "namespace")
            : ((long?)null, "broker default");
        return new TopicPolicies(retention?.RetentionTimeInMinutes, retention?.RetentionSizeInMB, retentionOn, threshold, thresholdOn);
    }

    private async Task<string> DescribeRetentionAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var parts = new List<string>();
        try
        {
            foreach (var ns in _options.Namespaces)
            {
                var policy = await Admin.GetNamespaceRetentionAsync(ns, cancellationToken);
                parts.Add($"namespace {ns}: {Describe(policy, now)}");
                foreach (var topic in (await Admin.ListTopicsAsync(ns, cancellationToken)).Select(TopicName.BaseName).Distinct(StringComparer.Ordinal))
                {
                    if (await Admin.GetTopicRetentionAsync(topic, cancellationToken) is { } own)
                    {
                        parts.Add($"topic {topic}: {Describe(own, now)}");
                    }
                }
            }
        }
        catch (Exception e) when (e is PulsarException or HttpRequestException or TaskCanceledException or SourceException)
        {
            parts.Add($"retention could not be read ({e.Message}); raw messages stay until the broker's retention expires, which is unknown here");
        }

        var text = new StringBuilder("Pulsar keeps acknowledged raw messages (the superseded and erased ones included) until retention expires, and unacknowledged ones in any subscription's backlog for as long as they stay unacknowledged; compaction removes them from the compacted view only. ");
        text.AppendJoin("; ", parts);
        return text.ToString();
    }

    private static string Describe(RetentionPolicy? policy, DateTimeOffset now)
    {
        if (policy is null)
        {
            return "no retention set (the broker default applies, 0 minutes unless the cluster changed it: acknowledged messages go when their ledger is trimmed)";
        }

        var size = policy.RetentionSizeInMB switch
        {
            < 0 => "unlimited size",
            0 => "no size allowance",
            var mb => string.Create(CultureInfo.InvariantCulture, $"up to {mb} MB"),
        };
        return policy.RetentionTimeInMinutes switch
        {
            < 0 => $"unlimited time ({size}): raw messages stay until the topic is truncated or deleted",
            0 => $"0 minutes ({size}): acknowledged raw messages go when their ledger is trimmed",
            var minutes => string.Create(CultureInfo.InvariantCulture, $"{minutes} minutes ({size}) after their ledger is closed: a message acknowledged now leaves no earlier than {now.AddMinutes(minutes).UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}, later while its ledger is still being written"),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _producers.DisposeAsync();

        _admin?.Dispose();
        _admin = null;
    }
}
