using System.Runtime.CompilerServices;
using Sync.Engine.Ledger;

namespace Sync.Sources.Pulsar;

/// <summary>The suppression ledger on a topic of a pulsar source's cluster
/// (<c>erasure.ledger: { topic: TOPIC }</c>): one message per request and one per revocation, keyed
/// by request id (<see cref="PulsarLedgerEntries"/> says why), JSON with the request's fields and
/// never the subject's key. Every process of a fleet reads the topic from the start and tails it
/// (<see cref="PulsarTopicLedgerView"/>).
/// <list type="bullet">
/// <item>Every write waits for the broker's receipt, i.e. until the entry is persisted.</item>
/// <item>A partitioned topic is refused before anything is read or written (<see cref="PulsarLedgerPartitions"/>).</item>
/// <item>Before the first write the topic's retention and compaction are checked and, where
/// missing, set on the topic (<see cref="PulsarLedgerRetention"/>); when that fails nothing is
/// written, so that no erasure rests on a ledger that retention could delete.</item>
/// <item>Reads (record, find, get, list) read the compacted view of the topic from the earliest
/// message up to the last message id taken when the read starts. The last message of the topic is
/// always the latest of its key (no entry is a tombstone), so compaction never removes it and the
/// read always reaches it.</item>
/// <item>Recording several requests is one batch of messages whose receipts are all awaited, not one
/// atomic step: a failure may leave some recorded. Running the erasure again finds those and
/// records the rest, as for an erasure interrupted after its ledger step.</item>
/// </list></summary>
public sealed class PulsarTopicLedger : ISuppressionLedger
{
    private readonly string _sourceName;
    private readonly PulsarSourceOptions _options;
    private readonly string _topic;
    private readonly PulsarClient _client;
    private readonly SemaphoreSlim _writeSetup = new(1, 1);
    private IPulsarProducer? _producer;
    private PulsarAdminClient? _admin;
    private volatile bool _notPartitioned;

    public PulsarTopicLedger(string sourceName, PulsarSourceOptions options, string topic)
    {
        ArgumentNullException.ThrowIfNull(options);
        _sourceName = sourceName;
        _options = options;
        _topic = TopicName.Normalize(topic);
        _client = PulsarConnections.Client(options);
    }

    public string Location => $"topic {_topic} on source {_sourceName}";

    public async Task<IReadOnlyList<ErasureRequest>> RecordAsync(IReadOnlyList<ErasureRequest> requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var producer = await WritableAsync(cancellationToken);
        var entries = await ReadAsync(cancellationToken);
        var recorded = new List<ErasureRequest>(requests.Count);
        var inThisCall = new Dictionary<(string, string), ErasureRequest>();
        var receipts = new List<Task<MessageId>>();
        foreach (var request in requests)
        {
            if (entries.FindActive(request.Subject, request.KeyHash) is { } existing)
            {
                recorded.Add(existing);
                continue;
            }

            if (inThisCall.TryGetValue((request.Subject, request.KeyHash), out var earlier))
            {
                recorded.Add(earlier);
                continue;
            }

            var fresh = request with { CompletedAt = null, Revocation = null };
            inThisCall[(request.Subject, request.KeyHash)] = fresh;
            receipts.Add(producer.SendAsync(PulsarLedgerEntries.RequestMessage(fresh), cancellationToken).AsTask());
            recorded.Add(fresh);
        }

        await AwaitReceiptsAsync(receipts, "record erasure requests");
        return recorded;
    }

    public async Task SetStatusAsync(IReadOnlyList<(string RequestId, RequestStatus Status)> statuses, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        var producer = await WritableAsync(cancellationToken);
        var entries = await ReadAsync(cancellationToken);
        var receipts = new List<Task<MessageId>>();
        foreach (var (requestId, status) in statuses)
        {
            if (entries.Get(requestId) is { } request)
            {
                var changed = request with { Status = status, CompletedAt = status == RequestStatus.InProgress ? null : now };
                receipts.Add(producer.SendAsync(PulsarLedgerEntries.RequestMessage(changed), cancellationToken).AsTask());
            }
        }

        await AwaitReceiptsAsync(receipts, "set the status of erasure requests");
    }

    public async Task<ErasureRequest?> FindAsync(string subject, string keyHash, CancellationToken cancellationToken) =>
        (await ReadAsync(cancellationToken)).FindActive(subject, keyHash);

    public async Task<ErasureRequest?> GetAsync(string requestId, CancellationToken cancellationToken) =>
        (await ReadAsync(cancellationToken)).Get(requestId);

    /// <summary>Revokes the request, and any other active request of the same key (one that a
    /// concurrent erasure recorded at the same moment): the key is one suppression, and a revoke
    /// must lift it.</summary>
    public async Task<ErasureRequest?> RevokeAsync(string requestId, Revocation revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        var producer = await WritableAsync(cancellationToken);
        var entries = await ReadAsync(cancellationToken);
        var request = entries.Get(requestId);
        if (request is not { IsActive: true })
        {
            return request;
        }

        var receipts = entries.ActiveOf(request.Subject, request.KeyHash)
            .Append(request)
            .DistinctBy(r => r.RequestId)
            .Select(r => producer.SendAsync(PulsarLedgerEntries.RevocationMessage(r, revocation), cancellationToken).AsTask())
            .ToList();
        await AwaitReceiptsAsync(receipts, "revoke an erasure request");
        return request with { Revocation = revocation };
    }

    /// <summary>Every request, oldest first. The topic is read to its end before the first is
    /// returned: a request's latest state may be its last message.</summary>
    public async IAsyncEnumerable<ErasureRequest> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var request in (await ReadAsync(cancellationToken)).All())
        {
            yield return request;
        }
    }

    public ISuppressionView OpenView(TimeSpan refreshInterval, TimeProvider time) =>
        new PulsarTopicLedgerView(PulsarConnections.Client(_options), _topic, Location, ownsClient: true, beforeReading: RefuseIfPartitionedAsync);

    public async ValueTask DisposeAsync()
    {
        if (_producer is not null)
        {
            await _producer.DisposeAsync();
        }

        await _client.DisposeAsync();
        _admin?.Dispose();
        _writeSetup.Dispose();
    }

    /// <summary>The ledger's entries as of now: the compacted view from the earliest message up to
    /// the last message id taken at the start.</summary>
    private async Task<PulsarLedgerEntries> ReadAsync(CancellationToken cancellationToken)
    {
        await RefuseIfPartitionedAsync(cancellationToken);
        var entries = new PulsarLedgerEntries();
        await using var reader = await PulsarTopicLedgerView.OpenReaderAsync(_client, _topic, cancellationToken);
        var last = await reader.GetLastMessageIdAsync(_topic, cancellationToken);
        if ((long)last.EntryId < 0)
        {
            return entries;
        }

        while (true)
        {
            var message = await reader.ReceiveAsync(cancellationToken);
            entries.Apply(message);
            if (message.Id.CompareTo(last) >= 0)
            {
                return entries;
            }
        }
    }

    /// <summary>The producer, once the topic exists and its retention and compaction are in order.</summary>
    private async Task<IPulsarProducer> WritableAsync(CancellationToken cancellationToken)
    {
        await _writeSetup.WaitAsync(cancellationToken);
        try
        {
            if (_producer is not null)
            {
                return _producer;
            }

            await RefuseIfPartitionedAsync(cancellationToken);

            // The producer creates the topic (the broker's automatic topic creation): topic policies
            // can only be set on a topic that exists.
            var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = _topic }, cancellationToken);
            try
            {
                await new PulsarLedgerRetention(Admin(), _topic).EnsureAsync(cancellationToken);
            }
            catch
            {
                await producer.DisposeAsync();
                throw;
            }

            _producer = producer;
            return producer;
        }
        finally
        {
            _writeSetup.Release();
        }
    }

    private PulsarAdminClient Admin() =>
        _admin ??= PulsarConnections.Admin(_sourceName, _options, $"the ledger topic {_topic} (its retention and partitions must be checked before it is used)");

    private async Task RefuseIfPartitionedAsync(CancellationToken cancellationToken)
    {
        if (!_notPartitioned)
        {
            await PulsarLedgerPartitions.RefuseIfPartitionedAsync(Admin(), _topic, cancellationToken);
            _notPartitioned = true;
        }
    }

    private async Task AwaitReceiptsAsync(List<Task<MessageId>> receipts, string what)
    {
        try
        {
            await Task.WhenAll(receipts);
        }
        catch (PulsarException e)
        {
            throw new SourceException($"source {_sourceName}: could not {what} on the ledger topic {_topic}: {e.Message}", e);
        }
    }
}
