using Sync.Sources.Pulsar;
using Sync.Pulsar;
using Sync.Testing.Fixtures;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>A fake broker, a producer client on it, and a <see cref="ReferenceSink"/> that the
/// runtime writes into through a thread-safe, fault-injecting wrapper.</summary>
public abstract class PulsarSourceFixture : FakeBrokerTest
{
    /// <summary>Against hangs only: every wait ends on what the run or the broker shows, and a
    /// loaded machine must not run out of it first.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly string _dir = Directory.CreateTempSubdirectory("sync-pulsar-source-").FullName;

    protected ObservedSink Sink { get; } = new();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    protected PulsarSourceFixture()
    {
        Components = new([new PulsarSourceFactory()], [new ObservedSinkFactory(Sink)], MessageFormats.Names, MessageFormats.Create);
    }

    protected SyncComponents Components { get; }

    /// <summary>A config with one materializer <c>users</c> on a pulsar source.</summary>
    /// <param name="topics">The materializer's <c>topics:</c> or <c>topicPattern:</c> line.</param>
    protected SyncConfig Config(string topics, string sourceExtra = "")
    {
        var text = $"""
            sources:
              broker:
                type: pulsar
                serviceUrl: {Broker.ServiceUrl}
                adminUrl: {Broker.AdminUrl}
                patternDiscoveryInterval: 200ms
                compactionPollInterval: 20ms
                compactedReadIdle: 300ms
            {sourceExtra}
            sinks:
              ref: {"{"} type: observed {"}"}
            materializers:
              users:
                source: broker
                {topics}
                sink: ref
                table: users
                batchSize: 4
                linger: 20ms
            """;
        return ConfigLoader.Parse(text, Path.Combine(_dir, "sync.yaml"), Components.Types, _ => null);
    }

    /// <summary>Runs until <paramref name="done"/> holds (or the run ends by itself), then stops it.</summary>
    protected async Task<MaterializerOutcome> RunUntilAsync(SyncConfig config, Func<bool> done, RunMode mode = RunMode.Resume)
    {
        using var stop = new CancellationTokenSource();
        var run = new SyncRuntime(config, Components, NullLoggerFactory.Instance).RunAsync([], mode, stop.Token);
        var deadline = DateTime.UtcNow + Patience;
        while (!done() && !run.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        var reached = done();
        var endedByItself = run.IsCompleted;
        await stop.CancelAsync();
        var outcome = Assert.Single(await run);
        if (!reached && !endedByItself && outcome.Failure is null)
        {
            Assert.Fail($"the run did not reach the expected state within {Patience}; received {Sink.Received.Count} changes");
        }

        return outcome;
    }

    /// <summary>Publishes a Debezium change the way Pulsar IO's Debezium source writes it: the key as
    /// base64 of the JSON key bytes (partition_key_b64_encoded), the envelope without schema, and a
    /// delete as <c>op=d</c> with no tombstone after it.</summary>
    protected static async Task<MessageId> PublishAsync(IPulsarProducer producer, int id, string op, string? name, long lsn)
    {
        var key = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}");
        return await producer.SendAsync(new OutgoingMessage { KeyBytes = key, Data = Encoding.UTF8.GetBytes(DebeziumValue(id, op, name, lsn)) });
    }

    /// <summary>The Debezium value (no schema) of a change of user <paramref name="id"/>.</summary>
    protected static string DebeziumValue(int id, string op, string? name, long lsn)
    {
        var row = name is null ? "null" : $"{{\"id\":{id},\"name\":\"{name}\"}}";
        var before = op is "u" or "d" ? $"{{\"id\":{id},\"name\":\"old\"}}" : "null";
        var after = op == "d" ? "null" : row;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"before\":{before},\"after\":{after},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
    }

    protected Task<IPulsarProducer> ProducerAsync(string topic) => Client.CreateProducerAsync(new ProducerOptions { Topic = topic });

    /// <summary>A reader of the one <paramref name="topic"/> on the source of <see cref="Config"/>, for the
    /// materializer <paramref name="materializer"/>, resuming after <paramref name="checkpoint"/> (from
    /// the subscription's position when there is none); <paramref name="adjust"/> changes the source's
    /// options first.</summary>
    protected PulsarSourceReader Reader(
        string topic,
        IReadOnlyDictionary<string, StreamPosition>? checkpoint = null,
        string sourceExtra = "",
        TimeProvider? time = null,
        Action<PulsarSourceOptions>? adjust = null,
        string materializer = "users")
    {
        var options = (PulsarSourceOptions)Config($"topics: [{topic}]", sourceExtra).Sources["broker"].Options;
        adjust?.Invoke(options);
        var request = new SourceReadRequest(materializer, _ => true, checkpoint ?? new Dictionary<string, StreamPosition>(), false) { Topics = [topic] };
        return new PulsarSourceReader("broker", options, request, time);
    }
}

/// <summary>Options of the test sink (it takes none).</summary>
public sealed class ObservedSinkOptions;

/// <summary>Hands the runtime the test's <see cref="ObservedSink"/>.</summary>
public sealed class ObservedSinkFactory(ObservedSink observed) : ISinkFactory
{
    public string Type => "observed";

    public Type OptionsType => typeof(ObservedSinkOptions);

    public ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
        ValueTask.FromResult<ISink>(observed);
}

/// <summary>A <see cref="ReferenceSink"/> behind a lock, recording every change it receives, with
/// faults: fail before a batch is applied, or after it committed (a crash before the acknowledgement).</summary>
public sealed class ObservedSink : ISink
{
    private readonly Lock _lock = new();
    private readonly ReferenceSink _inner = new();
    private readonly List<(string Topic, StreamPosition Position)> _received = [];
    private int _calls;

    public string Name => "observed";

    /// <summary>Throw on this ApplyAsync call (1-based) before anything is applied.</summary>
    public int FailBeforeApplyOnCall { get; set; }

    /// <summary>Throw on this ApplyAsync call (1-based) after the batch and its checkpoint are committed.</summary>
    public int FailAfterCommitOnCall { get; set; }

    /// <summary>Origins of every change applied, in order.</summary>
    public IReadOnlyList<(string Topic, StreamPosition Position)> Received
    {
        get
        {
            lock (_lock)
            {
                return [.. _received];
            }
        }
    }

    public IReadOnlyDictionary<string, string> Rows(string table)
    {
        lock (_lock)
        {
            return _inner.Rows(table);
        }
    }

    public IReadOnlyDictionary<string, StreamPosition> Checkpoint(string materializer)
    {
        lock (_lock)
        {
            return new Dictionary<string, StreamPosition>(_inner.Checkpoint(materializer));
        }
    }

    /// <summary>Forgets recorded changes and faults (the state and checkpoints stay).</summary>
    public void ResetObservations()
    {
        lock (_lock)
        {
            _received.Clear();
            _calls = 0;
            FailBeforeApplyOnCall = 0;
            FailAfterCommitOnCall = 0;
        }
    }

    public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _inner.LoadCheckpointAsync(materializer, cancellationToken);
        }
    }

    public ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _calls++;
            if (_calls == FailBeforeApplyOnCall)
            {
                throw new IOException("injected failure before the batch was applied");
            }

            var result = _inner.ApplyAsync(batch, cancellationToken).Result;
            _received.AddRange(batch.Changes.Select(c => (c.Origin.Topic, c.Origin.Position)));
            if (_calls == FailAfterCommitOnCall)
            {
                throw new IOException("injected crash after the batch committed, before the acknowledgement");
            }

            return ValueTask.FromResult(result);
        }
    }

    public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
