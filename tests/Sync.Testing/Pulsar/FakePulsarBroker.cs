using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Sync.Pulsar;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;
using Sync.Testing.Process;

namespace Sync.Testing.Pulsar;

/// <summary>Settings of a <see cref="FakePulsarBroker"/>.</summary>
public sealed record FakePulsarBrokerOptions
{
    /// <summary>TCP port for the binary protocol; 0 picks a free one. Default 0.</summary>
    public int Port { get; init; }

    /// <summary>Port of the admin REST endpoint; 0 picks a free one, null runs none. Default 0.</summary>
    public int? AdminPort { get; init; } = 0;

    /// <summary>When set, CONNECT must carry auth method "token" with exactly this token. Default null (no auth).</summary>
    public string? RequiredToken { get; init; }

    /// <summary>Announced in CONNECTED.max_message_size and enforced on SEND. Default 5 MiB, the broker default.</summary>
    public int MaxMessageSize { get; init; } = FrameFormat.DefaultMaxMessageSize;

    /// <summary>Highest protocol version the fake speaks (CONNECTED answers with the smaller one). Default 21.</summary>
    public int ProtocolVersion { get; init; } = 21;

    /// <summary>
    /// Server certificate (with private key): the binary protocol then speaks TLS only and the
    /// service URL is pulsar+ssl://. Default null (plain TCP).
    /// </summary>
    public X509Certificate2? TlsCertificate { get; init; }

    /// <summary>When set, clients must present a certificate signed by this CA (mutual TLS). Default null.</summary>
    public X509Certificate2? TlsClientCertificateAuthority { get; init; }

    /// <summary>Receives one line per command received and sent, for debugging. Default null (silent).</summary>
    public Action<string>? Trace { get; init; }

    /// <summary>
    /// The broker's acknowledgmentAtBatchIndexLevelEnabled: keep acks of single messages inside a
    /// batch (ack_set) and send the remaining ack_set with a redelivered batch. Off, acks with an
    /// ack_set are ignored until the whole entry is acknowledged. Default false, the broker default.
    /// </summary>
    public bool AcknowledgmentAtBatchIndexLevelEnabled { get; init; }

    /// <summary>Entries per ledger before the topic rolls over to a new one (managedLedgerMaxEntriesPerLedger). Default 50000, the broker default.</summary>
    public int MaxEntriesPerLedger { get; init; } = 50_000;

    /// <summary>The clock ledgers are stamped with and retention time is judged by. Default the system clock.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

/// <summary>
/// An in-process Pulsar broker speaking the binary protocol on a loopback port, with the real
/// broker's semantics for what our client uses, and a fault API (<see cref="Faults"/>) so that
/// tests provoke failures instead of sleeping. Each protocol command area lives in its own
/// FakeBrokerConnection.*.cs file and says which broker behaviour it models.
/// All broker state is guarded by one lock: simple, and fast enough for a test double.
/// </summary>
public sealed partial class FakePulsarBroker : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Dictionary<string, FakeTopic> _topics = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _partitionedTopics = new(StringComparer.Ordinal);
    private readonly List<FakeBrokerConnection> _connections = [];
    private readonly ConcurrentDictionary<BaseCommand.Types.Type, int> _received = new();
    private readonly ConcurrentDictionary<CommandAck.Types.ValidationError, int> _validationAcks = new();
    private readonly Task _acceptLoop;
    private readonly FakePulsarAdmin? _admin;
    private readonly Dictionary<string, RetentionBody> _retention = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _compactionThreshold = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Status, string? LastError)> _compactionStatus = new(StringComparer.Ordinal);
    private ulong _nextLedgerId = 1;
    private int _nextProducerName;

    private FakePulsarBroker(FakePulsarBrokerOptions options)
    {
        Options = options;
        RequiredToken = options.RequiredToken;
        _listener = new TcpListener(IPAddress.Loopback, options.Port);
        _listener.Start();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        ServiceUrl = new Uri($"{(options.TlsCertificate is null ? "pulsar" : "pulsar+ssl")}://127.0.0.1:{port}");
        if (options.AdminPort is { } adminPort)
        {
            _admin = new FakePulsarAdmin(this, adminPort);
        }
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary><c>http://127.0.0.1:PORT</c> of the admin REST endpoint.</summary>
    public Uri AdminUrl => _admin?.Url ?? throw new InvalidOperationException("the fake broker was started without an admin endpoint");

    /// <summary>Starts a broker listening on 127.0.0.1.</summary>
    public static FakePulsarBroker Start(FakePulsarBrokerOptions? options = null) => new(options ?? new FakePulsarBrokerOptions());

    public FakePulsarBrokerOptions Options { get; }

    /// <summary><c>pulsar://127.0.0.1:PORT</c>.</summary>
    public Uri ServiceUrl { get; }

    /// <summary>Fault injection: make the next operations fail in chosen ways, and count what fired.</summary>
    public FakeBrokerFaults Faults { get; } = new();

    internal Lock Sync { get; } = new();

    internal TimeProvider Clock => Options.Clock;

    // Ledger ids are unique across the broker and grow, as BookKeeper's ledger ids do.
    internal ulong NextLedgerIdLocked() => _nextLedgerId++;

    /// <summary>
    /// The token CONNECT, AUTH_RESPONSE and admin calls must carry; starts as
    /// <see cref="FakePulsarBrokerOptions.RequiredToken"/> and can be rotated by a test.
    /// </summary>
    public string? RequiredToken { get; set; }

    /// <summary>The credentials of the last AUTH_RESPONSE received.</summary>
    public string? LastAuthResponse { get; internal set; }

    /// <summary>
    /// Sends AUTH_CHALLENGE on every connection, as the broker does when the credentials it
    /// accepted are about to expire; each client must answer with AUTH_RESPONSE.
    /// </summary>
    public void ChallengeAllConnections()
    {
        lock (Sync)
        {
            foreach (var connection in _connections)
            {
                connection.SendAuthChallenge();
            }
        }
    }

    /// <summary>The authoritative flag of the last LOOKUP answered with Connect.</summary>
    public bool LastLookupWasAuthoritative { get; internal set; }

    /// <summary>proxy_to_broker_url values seen in CONNECT, in order.</summary>
    public ConcurrentQueue<string> ProxiedConnects { get; } = new();

    /// <summary>Open client connections.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (Sync)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>How many commands of <paramref name="type"/> the broker has received so far.</summary>
    public int Received(BaseCommand.Types.Type type) => _received.TryGetValue(type, out var count) ? count : 0;

    internal void CountReceived(BaseCommand.Types.Type type) => _received.AddOrUpdate(type, 1, (_, count) => count + 1);

    /// <summary>
    /// How many ACKs carried <paramref name="error"/> as validation_error (a client discarding a
    /// corrupt entry; the real broker logs these and treats them as ordinary acks).
    /// </summary>
    public int ValidationAcks(CommandAck.Types.ValidationError error) => _validationAcks.TryGetValue(error, out var count) ? count : 0;

    internal void CountValidationAck(CommandAck.Types.ValidationError error) => _validationAcks.AddOrUpdate(error, 1, (_, count) => count + 1);

    /// <summary>Names of all topics that exist (partitions included).</summary>
    public IReadOnlyList<string> TopicNames
    {
        get
        {
            lock (Sync)
            {
                return [.. _topics.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The topic, or null when nobody produced to or subscribed to it yet.</summary>
    public FakeTopic? FindTopic(string topic)
    {
        lock (Sync)
        {
            return _topics.GetValueOrDefault(TopicName.Normalize(topic));
        }
    }

    /// <summary>
    /// Creates a partitioned topic: PARTITIONED_METADATA reports <paramref name="partitions"/> and
    /// each partition is the topic <c>NAME-partition-i</c>.
    /// </summary>
    public void CreatePartitionedTopic(string topic, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        lock (Sync)
        {
            var name = TopicName.Normalize(topic);
            _partitionedTopics[name] = partitions;
            for (var i = 0; i < partitions; i++)
            {
                GetOrCreateTopicLocked(TopicName.Partition(name, i));
            }
        }
    }

    internal IEnumerable<FakeTopic> TopicsLocked() => _topics.Values;

    internal int PartitionCountLocked(string topic) => _partitionedTopics.GetValueOrDefault(topic);

    /// <summary>
    /// Appends an entry as if a producer had sent it (e.g. a batch or a compressed payload built
    /// by a test), and dispatches it to subscribers.
    /// </summary>
    public MessageId Publish(string topic, MessageMetadata metadata, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var messageBytes = FrameEncoder.EncodeMessagePart(metadata, payload);
        lock (Sync)
        {
            var fakeTopic = GetOrCreateTopicLocked(TopicName.Normalize(topic));
            var entry = fakeTopic.AppendLocked(messageBytes, metadata);
            fakeTopic.DispatchLocked();
            return new MessageId(entry.LedgerId, entry.LedgerEntryId, fakeTopic.PartitionIndex);
        }
    }

    // Models the broker's default allowAutoTopicCreation=true: producing to or subscribing to
    // a topic that does not exist creates it (non-partitioned).
    internal FakeTopic GetOrCreateTopicLocked(string name)
    {
        if (!_topics.TryGetValue(name, out var topic))
        {
            topic = new FakeTopic(this, name, _nextLedgerId++);
            _topics[name] = topic;
        }
        return topic;
    }

    internal string NextProducerNameLocked() => $"fake-standalone-0-{_nextProducerName++}";

    /// <summary>
    /// Runs compaction on the topic now and waits for it (the admin API's PUT .../compaction,
    /// without its asynchrony).
    /// </summary>
    public void Compact(string topic)
    {
        lock (Sync)
        {
            GetOrCreateTopicLocked(TopicName.Normalize(topic)).CompactLocked();
        }
    }

    /// <summary>Base names of partitioned topics.</summary>
    public IReadOnlyList<string> PartitionedTopicNames
    {
        get
        {
            lock (Sync)
            {
                return [.. _partitionedTopics.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Partition count of a topic; 0 when it is not partitioned.</summary>
    public int PartitionCount(string topic)
    {
        lock (Sync)
        {
            return PartitionCountLocked(TopicName.Normalize(topic));
        }
    }

    internal (System.Net.HttpStatusCode, object?) AdminCreateTopic(string topic, int partitions)
    {
        lock (Sync)
        {
            if (_topics.ContainsKey(topic) || _partitionedTopics.ContainsKey(topic))
            {
                // Creating an existing topic is a conflict.
                return (System.Net.HttpStatusCode.Conflict, new { reason = "This topic already exists" });
            }
            if (partitions == 0)
            {
                GetOrCreateTopicLocked(topic);
            }
            else
            {
                _partitionedTopics[topic] = partitions;
                for (var i = 0; i < partitions; i++)
                {
                    GetOrCreateTopicLocked(TopicName.Partition(topic, i));
                }
            }
            return (System.Net.HttpStatusCode.NoContent, null);
        }
    }

    internal (System.Net.HttpStatusCode, object?) AdminDeleteTopic(string topic, bool force)
    {
        lock (Sync)
        {
            var names = _partitionedTopics.TryGetValue(topic, out var partitions)
                ? Enumerable.Range(0, partitions).Select(i => TopicName.Partition(topic, i)).ToList()
                : [topic];
            if (!names.All(_topics.ContainsKey))
            {
                return (System.Net.HttpStatusCode.NotFound, new { reason = "Topic not found" });
            }
            var busy = names.Select(n => _topics[n]).Any(t => t.Subscriptions.Values.Any(s => s.Consumers.Count > 0))
                || _connections.Any(c => names.Any(c.HasProducerOnLocked));
            if (busy && !force)
            {
                // Without force the broker refuses to delete a topic that is in use.
                return (System.Net.HttpStatusCode.PreconditionFailed, new { reason = "Topic has active producers/subscriptions" });
            }
            foreach (var name in names)
            {
                foreach (var connection in _connections)
                {
                    connection.CloseEverythingOnLocked(name);
                }
                _topics.Remove(name);
                _compactionStatus.Remove(name);
                _retention.Remove(name);
                _compactionThreshold.Remove(name);
            }
            _partitionedTopics.Remove(topic);
            return (System.Net.HttpStatusCode.NoContent, null);
        }
    }

    internal (System.Net.HttpStatusCode, object?) AdminCompact(string topic)
    {
        lock (Sync)
        {
            if (!_topics.TryGetValue(topic, out var fakeTopic))
            {
                return (System.Net.HttpStatusCode.NotFound, new { reason = "Topic not found" });
            }
            if (Faults.TakeCompactionFailure(out var error))
            {
                _compactionStatus[topic] = ("ERROR", error);
                return (System.Net.HttpStatusCode.NoContent, null);
            }
            if (Faults.TakeCompactionStall())
            {
                // A compaction that never finishes (a stuck bookie, a huge backlog): the status
                // stays RUNNING, and a second trigger gets 409 as on the real broker.
                _compactionStatus[topic] = ("RUNNING", null);
                return (System.Net.HttpStatusCode.NoContent, null);
            }
            if (_compactionStatus.GetValueOrDefault(topic).Item1 == "RUNNING")
            {
                return (System.Net.HttpStatusCode.Conflict, new { reason = "Compaction already in progress" });
            }
            // The real compaction runs in the background; the fake finishes before answering,
            // so the status is SUCCESS at the first poll.
            fakeTopic.CompactLocked();
            _compactionStatus[topic] = ("SUCCESS", null);
            return (System.Net.HttpStatusCode.NoContent, null);
        }
    }

    /// <summary>Ends every compaction that <see cref="FakeBrokerFaults.StallNextCompactions"/> left
    /// RUNNING, as a stuck compaction that finally completes: its topic is compacted and the status
    /// becomes SUCCESS, so that the next trigger starts a new one instead of getting 409.</summary>
    public void EndStalledCompactions()
    {
        lock (Sync)
        {
            foreach (var topic in _compactionStatus.Where(s => s.Value.Status == "RUNNING").Select(s => s.Key).ToList())
            {
                _topics[topic].CompactLocked();
                _compactionStatus[topic] = ("SUCCESS", null);
            }
        }
    }

    internal (System.Net.HttpStatusCode, object?) AdminCompactionStatus(string topic)
    {
        lock (Sync)
        {
            if (!_topics.ContainsKey(topic))
            {
                return (System.Net.HttpStatusCode.NotFound, new { reason = "Topic not found" });
            }
            var (status, lastError) = _compactionStatus.GetValueOrDefault(topic, ("NOT_RUN", null));
            return (System.Net.HttpStatusCode.OK, new { status, lastError = lastError ?? string.Empty });
        }
    }

    internal (System.Net.HttpStatusCode, object?) AdminTruncate(string topic)
    {
        lock (Sync)
        {
            if (!_topics.TryGetValue(topic, out var fakeTopic))
            {
                return (System.Net.HttpStatusCode.NotFound, new { reason = "Topic not found" });
            }
            // Truncate moves every cursor to the end and deletes every ledger but the one being
            // written (ManagedLedgerImpl.asyncTruncate).
            fakeTopic.TruncateLocked();
            return (System.Net.HttpStatusCode.NoContent, null);
        }
    }

    /// <summary>
    /// Runs the broker's retention check now on every topic (what it does every
    /// retentionCheckIntervalInSeconds and after a ledger rollover): consumed ledgers past the
    /// topic's retention (topic policy, else its namespace's, else the broker default of 0 minutes
    /// and 0 MB) are deleted. Returns the number of ledgers deleted.
    /// </summary>
    public int EnforceRetention()
    {
        var deleted = 0;
        lock (Sync)
        {
            foreach (var topic in _topics.Values)
            {
                deleted += topic.EnforceRetentionLocked(EffectiveRetentionLocked(topic.Name));
            }
        }
        Faults.Fire(nameof(EnforceRetention));
        return deleted;
    }

    /// <summary>
    /// Closes the ledger being written on the topic and starts a new one, as the broker does on
    /// rollover (size, entries or time) and when it reloads the topic.
    /// </summary>
    public void RollLedger(string topic)
    {
        lock (Sync)
        {
            GetOrCreateTopicLocked(TopicName.Normalize(topic)).RollLedgerLocked();
        }
        Faults.Fire(nameof(RollLedger));
    }

    private RetentionBody EffectiveRetentionLocked(string topic)
    {
        // A partition follows the policy of its partitioned topic.
        var baseName = TopicName.BaseName(topic);
        var tenantNamespace = string.Join('/', baseName["persistent://".Length..].Split('/').Take(2));
        return _retention.GetValueOrDefault(topic)
            ?? _retention.GetValueOrDefault(baseName)
            ?? _retention.GetValueOrDefault($"namespace:{tenantNamespace}")
            ?? new RetentionBody(0, 0);
    }

    internal long? CompactionThreshold(string key)
    {
        lock (Sync)
        {
            return _compactionThreshold.TryGetValue(key, out var bytes) ? bytes : null;
        }
    }

    internal void SetCompactionThreshold(string key, long? bytes)
    {
        lock (Sync)
        {
            if (bytes is { } value)
            {
                _compactionThreshold[key] = value;
            }
            else
            {
                _compactionThreshold.Remove(key);
            }
        }
    }

    internal RetentionBody? Retention(string key)
    {
        lock (Sync)
        {
            return _retention.GetValueOrDefault(key);
        }
    }

    internal void SetRetention(string key, RetentionBody? policy)
    {
        lock (Sync)
        {
            if (policy is null)
            {
                _retention.Remove(key);
            }
            else
            {
                _retention[key] = policy;
            }
        }
    }

    /// <summary>
    /// Terminates the topic (admin "terminate"): later SENDs fail with TopicTerminatedError, and
    /// consumers that have received everything get REACHED_END_OF_TOPIC.
    /// </summary>
    public void Terminate(string topic)
    {
        lock (Sync)
        {
            var fakeTopic = GetOrCreateTopicLocked(TopicName.Normalize(topic));
            fakeTopic.IsTerminated = true;
            fakeTopic.DispatchLocked();
        }
    }

    /// <summary>Closes every client connection from the broker side (a broker crash or restart, as the client sees it).</summary>
    public void DropAllConnections()
    {
        List<FakeBrokerConnection> connections;
        lock (Sync)
        {
            connections = [.. _connections];
        }
        foreach (var connection in connections)
        {
            connection.Abort();
        }
        Faults.Fire(nameof(DropAllConnections));
    }

    /// <summary>
    /// Sends CLOSE_CONSUMER to every consumer of the subscription, as a broker does when it
    /// unloads a topic or after a seek; the consumers are detached and their unacked messages
    /// become available for redelivery.
    /// </summary>
    public void CloseConsumers(string topic, string subscription)
    {
        lock (Sync)
        {
            if (_topics.GetValueOrDefault(TopicName.Normalize(topic))?.Subscriptions.GetValueOrDefault(subscription) is { } sub)
            {
                foreach (var consumer in sub.Consumers.ToList())
                {
                    consumer.Connection.SendCloseConsumerLocked(consumer);
                }
            }
        }
        Faults.Fire(nameof(CloseConsumers));
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> as they are on every client connection, after what is
    /// already queued there: hostile frames (sizes that lie, unknown commands, garbage). With
    /// <paramref name="thenClose"/> each connection is closed once they are written, which makes
    /// a frame cut short when the bytes hold only its beginning.
    /// </summary>
    public void SendRawBytes(byte[] bytes, bool thenClose = false)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        lock (Sync)
        {
            foreach (var connection in _connections)
            {
                connection.SendRawLocked(bytes, thenClose);
            }
        }
        Faults.Fire(nameof(SendRawBytes));
    }

    /// <summary>Sends CLOSE_PRODUCER to every producer of the topic (topic unload, as the client sees it).</summary>
    public void CloseProducers(string topic)
    {
        lock (Sync)
        {
            foreach (var connection in _connections)
            {
                connection.CloseProducersLocked(TopicName.Normalize(topic));
            }
        }
        Faults.Fire(nameof(CloseProducers));
    }

    /// <summary>Sends PING on every connection; the client must answer PONG (counted by <see cref="Received"/>).</summary>
    public void PingAllConnections()
    {
        lock (Sync)
        {
            foreach (var connection in _connections)
            {
                connection.SendLocked(new BaseCommand { Type = BaseCommand.Types.Type.Ping, Ping = new CommandPing() });
            }
        }
    }

    private Task AcceptLoopAsync() => AcceptLoop.RunAsync(_listener.AcceptTcpClientAsync, Admit, _shutdown.Token);

    private void Admit(TcpClient client)
    {
        client.NoDelay = true;
        if (Faults.ListenerPaused)
        {
            // A broker that is down or restarting: the connection ends before CONNECTED.
            Faults.Fire(nameof(FakeBrokerFaults.ListenerPaused));
            client.Dispose();
            return;
        }
        _ = Task.Run(() => StartConnectionAsync(client));
    }

    private async Task StartConnectionAsync(TcpClient client)
    {
        Stream stream = client.GetStream();
        if (Options.TlsCertificate is { } certificate)
        {
            // TLS first, then the binary protocol, as on the broker's brokerServicePortTls.
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, presented, _, errors) => AcceptClientCertificate(presented, errors));
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await ssl.AuthenticateAsServerAsync(
                    new SslServerAuthenticationOptions
                    {
                        ServerCertificate = certificate,
                        ClientCertificateRequired = Options.TlsClientCertificateAuthority is not null,
                    },
                    timeout.Token);
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
            {
                Faults.Fire("TlsHandshakeFailed");
                await ssl.DisposeAsync();
                client.Dispose();
                return;
            }
            stream = ssl;
        }
        var connection = new FakeBrokerConnection(this, client, stream);
        lock (Sync)
        {
            _connections.Add(connection);
        }
        connection.Start();
    }

    private bool AcceptClientCertificate(X509Certificate? presented, SslPolicyErrors errors)
    {
        if (Options.TlsClientCertificateAuthority is not { } authority)
        {
            return true;
        }
        if (presented is null)
        {
            return false;
        }
        // Client certificates must chain to the configured CA (tlsTrustCertsFilePath on the broker).
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var certificate = new X509Certificate2(presented);
        return chain.Build(certificate);
    }

    internal void RemoveConnectionLocked(FakeBrokerConnection connection) => _connections.Remove(connection);

    internal IReadOnlyList<FakeBrokerConnection> ConnectionsLocked() => _connections;

    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync();
        _listener.Stop();
        List<FakeBrokerConnection> connections;
        lock (Sync)
        {
            connections = [.. _connections];
        }
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
        await _acceptLoop;
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }
        _shutdown.Dispose();
    }
}

/// <summary>
/// Faults to inject, in the manner of franz-go's kfake: arm a fault, run the scenario, then
/// check <see cref="Fired"/> to prove the fault really happened.
/// </summary>
public sealed partial class FakeBrokerFaults
{
    private readonly ConcurrentDictionary<string, int> _fired = new(StringComparer.Ordinal);
    private int _failSends;
    private ServerError _sendError;
    private int _failSubscribes;
    private ServerError _subscribeError;
    private int _corruptDeliveries;
    private int _rewriteDeliveries;
    private Func<byte[], byte[]>? _deliveryRewrite;
    private int _failCompactions;
    private int _stallCompactions;
    private int _redirectLookups;
    private bool _proxyThrough;
    private string _compactionError = string.Empty;

    /// <summary>The next <paramref name="count"/> SENDs are answered with SEND_ERROR <paramref name="error"/>.</summary>
    public void FailNextSends(int count, ServerError error = ServerError.PersistenceError)
    {
        _sendError = error;
        Volatile.Write(ref _failSends, count);
    }

    /// <summary>The next <paramref name="count"/> SUBSCRIBEs are answered with ERROR <paramref name="error"/>.</summary>
    public void FailNextSubscribes(int count, ServerError error = ServerError.ServiceNotReady)
    {
        _subscribeError = error;
        Volatile.Write(ref _failSubscribes, count);
    }

    /// <summary>The next <paramref name="count"/> MESSAGE deliveries carry a flipped payload byte (checksum mismatch).</summary>
    public void CorruptNextDeliveries(int count) => Volatile.Write(ref _corruptDeliveries, count);

    /// <summary>
    /// The next <paramref name="count"/> MESSAGE deliveries carry the entry's message bytes (from
    /// the 0x0e01 magic on) as <paramref name="rewrite"/> returns them: a stored entry that is
    /// corrupt in a chosen way (metadata, batch counts), while the frame around it stays valid.
    /// </summary>
    public void RewriteNextDeliveries(int count, Func<byte[], byte[]> rewrite)
    {
        _deliveryRewrite = rewrite ?? throw new ArgumentNullException(nameof(rewrite));
        Volatile.Write(ref _rewriteDeliveries, count);
    }

    /// <summary>When true the broker stops answering PING (a hung broker, as the keep-alive sees it).</summary>
    public bool IgnorePings { get; set; }

    /// <summary>
    /// While true, new connections are closed right after they are accepted, as when the broker
    /// is down; existing connections are not touched (combine with DropAllConnections).
    /// </summary>
    public bool ListenerPaused { get; set; }

    /// <summary>Delay before the broker writes anything it has to send (responses and messages alike). Default null.</summary>
    public TimeSpan? ResponseDelay { get; set; }

    /// <summary>How often the named fault fired (method names of this class and of the broker).</summary>
    public int Fired(string fault) => _fired.TryGetValue(fault, out var count) ? count : 0;

    internal void Fire(string fault) => _fired.AddOrUpdate(fault, 1, (_, count) => count + 1);

    internal bool TryTake(ref int counter, string fault)
    {
        while (true)
        {
            var current = Volatile.Read(ref counter);
            if (current <= 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref counter, current - 1, current) == current)
            {
                Fire(fault);
                return true;
            }
        }
    }

    internal bool TakeSendFailure(out ServerError error)
    {
        error = _sendError;
        return TryTake(ref _failSends, nameof(FailNextSends));
    }

    internal bool TakeSubscribeFailure(out ServerError error)
    {
        error = _subscribeError;
        return TryTake(ref _failSubscribes, nameof(FailNextSubscribes));
    }

    internal bool TakeDeliveryCorruption() => TryTake(ref _corruptDeliveries, nameof(CorruptNextDeliveries));

    internal Func<byte[], byte[]>? TakeDeliveryRewrite() =>
        TryTake(ref _rewriteDeliveries, nameof(RewriteNextDeliveries)) ? _deliveryRewrite : null;

    /// <summary>
    /// The next <paramref name="count"/> LOOKUPs answer Redirect (to this broker) instead of
    /// Connect; with <paramref name="proxyThroughServiceUrl"/> they answer Connect with
    /// proxy_through_service_url instead.
    /// </summary>
    public void RedirectNextLookups(int count, bool proxyThroughServiceUrl = false)
    {
        _proxyThrough = proxyThroughServiceUrl;
        Volatile.Write(ref _redirectLookups, count);
    }

    internal bool TakeLookupRedirect(out bool proxyThrough)
    {
        proxyThrough = _proxyThrough;
        return TryTake(ref _redirectLookups, nameof(RedirectNextLookups));
    }

    /// <summary>The next compaction ends in status ERROR with <paramref name="lastError"/>.</summary>
    public void FailNextCompaction(string lastError)
    {
        _compactionError = lastError;
        Volatile.Write(ref _failCompactions, 1);
    }

    /// <summary>The next <paramref name="count"/> compactions never finish: their status stays RUNNING.</summary>
    public void StallNextCompactions(int count) => Volatile.Write(ref _stallCompactions, count);

    internal bool TakeCompactionStall() => TryTake(ref _stallCompactions, nameof(StallNextCompactions));

    internal bool TakeCompactionFailure(out string error)
    {
        error = _compactionError;
        return TryTake(ref _failCompactions, nameof(FailNextCompaction));
    }

    internal void PingIgnored() => Fire(nameof(IgnorePings));

    private int _lastMessageIdHooks;
    private Action<string>? _afterLastMessageId;

    /// <summary>
    /// The next <paramref name="count"/> GET_LAST_MESSAGE_IDs run <paramref name="action"/> (given
    /// the topic's name, with the broker's lock held, so it may call
    /// <see cref="FakePulsarBroker.Publish"/>) after the answer was taken and before it is sent: a
    /// producer's message that lands between a client's look at the end of a topic and whatever the
    /// client does next.
    /// </summary>
    public void AfterNextLastMessageIds(int count, Action<string> action)
    {
        _afterLastMessageId = action ?? throw new ArgumentNullException(nameof(action));
        Volatile.Write(ref _lastMessageIdHooks, count);
    }

    internal Action<string>? TakeAfterLastMessageId() =>
        TryTake(ref _lastMessageIdHooks, nameof(AfterNextLastMessageIds)) ? _afterLastMessageId : null;
}
