namespace Sync.Engine.Tests.Runtime;

/// <summary>The stages of a materializer overlap through a bounded channel (<c>readAhead</c>):
/// the next batches are read and decoded while the sink applies the current one, no more than the
/// channel holds, and batches are still committed and acknowledged one by one, in order.</summary>
public sealed class MaterializerPipelineTests
{
    private const string Topic = "persistent://public/default/users";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_next_batches_are_read_and_decoded_while_the_sink_applies_but_no_more_than_the_channel_holds()
    {
        var log = new EventLog();
        var reader = new ScriptedReader(log, batches: 6, canReadAhead: true);
        var sink = new GatedSink(log, blockedBatch: 1);
        var runner = Runner(reader, sink, readAhead: 1);

        var run = runner.RunAsync(CancellationToken.None);
        await sink.Blocked.WaitAsync(Patience);
        // While batch 1 is in the sink: batch 2 waits in the channel, batch 3 is read and waits to enter it.
        await reader.Started(3).WaitAsync(Patience);
        var waiting = runner.Counters.BatchesWaiting;
        sink.Release();
        await run.WaitAsync(Patience);

        // Batch 4 is read only once batch 1 left the sink and batch 2 left the channel: the order of
        // the log proves it without waiting for something not to happen.
        Assert.True(log.IndexOf("read 4") > log.IndexOf("ack 1"), string.Join(", ", log.Entries));
        Assert.True(log.IndexOf("read 3") < log.IndexOf("commit 1"), string.Join(", ", log.Entries));
        Assert.Equal(1, waiting);
        Assert.True(log.IndexOf("read 2") < log.IndexOf("commit 1"), string.Join(", ", log.Entries));
        Assert.Equal(Enumerable.Range(1, 6).SelectMany(n => new[] { $"commit {n}", $"ack {n}" }), log.Entries.Where(e => !e.StartsWith("read", StringComparison.Ordinal)));
        Assert.Equal(6, runner.Counters.Batches);
        Assert.Equal(12, runner.Counters.Applied);
        Assert.Equal(0, runner.Counters.BatchesWaiting);
    }

    [Fact]
    public async Task Without_read_ahead_the_next_batch_is_read_only_after_the_last_one_was_acknowledged()
    {
        var log = new EventLog();
        var reader = new ScriptedReader(log, batches: 3, canReadAhead: true);
        var runner = Runner(reader, new GatedSink(log, blockedBatch: 0), readAhead: 0);

        await runner.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(["read 1", "commit 1", "ack 1", "read 2", "commit 2", "ack 2", "read 3", "commit 3", "ack 3"], log.Entries);
    }

    [Fact]
    public async Task A_source_that_cannot_keep_batches_apart_is_read_one_batch_at_a_time_whatever_readAhead_says()
    {
        var log = new EventLog();
        var reader = new ScriptedReader(log, batches: 2, canReadAhead: false);
        var runner = Runner(reader, new GatedSink(log, blockedBatch: 0), readAhead: 4);

        await runner.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(["read 1", "commit 1", "ack 1", "read 2", "commit 2", "ack 2"], log.Entries);
    }

    [Fact]
    public async Task A_sink_failure_stops_the_reading_stage_and_acknowledges_nothing_after_the_last_commit()
    {
        var log = new EventLog();
        var reader = new ScriptedReader(log, batches: 10, canReadAhead: true);
        var runner = Runner(reader, new GatedSink(log, blockedBatch: 0) { FailingBatch = 2 }, readAhead: 2);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunAsync(CancellationToken.None).WaitAsync(Patience));

        Assert.Equal("batch 2 cannot be written", failure.Message);
        Assert.Equal(["commit 1", "ack 1"], log.Entries.Where(e => !e.StartsWith("read", StringComparison.Ordinal)));
        Assert.True(reader.Reads <= 5, $"read {reader.Reads} batches: 1 applied, 1 failing, at most 2 waiting and 1 being read");
    }

    [Fact]
    public async Task A_stop_drains_what_was_read_applying_and_acknowledging_every_batch_in_order()
    {
        var log = new EventLog();
        var reader = new ScriptedReader(log, batches: 100, canReadAhead: true);
        var sink = new GatedSink(log, blockedBatch: 1);
        var runner = Runner(reader, sink, readAhead: 2);
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await sink.Blocked.WaitAsync(Patience);
        await reader.Started(3).WaitAsync(Patience);
        await stop.CancelAsync();
        sink.Release();
        await run.WaitAsync(Patience);

        var committed = log.Entries.Count(e => e.StartsWith("commit", StringComparison.Ordinal));
        Assert.InRange(committed, 3, 4);
        Assert.Equal(Enumerable.Range(1, committed).SelectMany(n => new[] { $"commit {n}", $"ack {n}" }), log.Entries.Where(e => !e.StartsWith("read", StringComparison.Ordinal)));
        Assert.Equal(reader.Reads, committed);
    }

    [Fact]
    public async Task A_sink_that_stays_unavailable_keeps_the_batch_degrades_the_materializer_and_commits_it_once_back()
    {
        var log = new EventLog();
        var reader = new ScriptedReader(log, batches: 2, canReadAhead: true);
        var sink = new GatedSink(log, blockedBatch: 0) { UnavailableAttempts = 3 };
        var runner = new MaterializerRunner(
            "users",
            new MaterializerOptions { Source = "s", Sink = "k", Table = "users", Topics = [Topic], Format = "json", BatchSize = 2, Linger = TimeSpan.Zero },
            reader,
            MessageFormats.Create("json", new DecoderOptions()),
            sink,
            new NoDeadLetters(),
            NullLogger.Instance)
        {
            FirstRetryDelay = TimeSpan.FromMilliseconds(1),
            MaxRetryDelay = TimeSpan.FromMilliseconds(4),
        };
        using var metrics = new SyncMetrics();
        metrics.Running("users", runner.Counters, reader);
        sink.WhileUnavailable = attempt =>
        {
            if (attempt == 3)
            {
                var health = Assert.Single(metrics.Health());
                sink.Seen = (health.State, health.Error, health.DegradedSince is not null);
            }
        };

        await runner.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.Equal((MaterializerState.Degraded, "the store stays unavailable (attempt 2)", true), sink.Seen);
        Assert.Equal(["commit 1", "ack 1", "commit 2", "ack 2"], log.Entries.Where(e => !e.StartsWith("read", StringComparison.Ordinal)));
        Assert.Equal(MaterializerState.Running, Assert.Single(metrics.Health()).State);
        Assert.Null(runner.Counters.Degraded);
        Assert.Equal(4, runner.Counters.Applied);
    }

    private static MaterializerRunner Runner(ISourceReader reader, ISink sink, int readAhead) =>
        TestRunners.OverReader(reader, sink, Topic, "json", batchSize: 2, readAhead);

    /// <summary>A source of numbered batches of two JSON rows each, acknowledged per batch.</summary>
    private sealed class ScriptedReader(EventLog log, int batches, bool canReadAhead) : ISourceReader
    {
        private readonly Dictionary<int, TaskCompletionSource> _started = [];
        private int _reads;
        private int _acks;

        public int Reads => Volatile.Read(ref _reads);

        public bool CanReadAhead => canReadAhead;

        public IReadOnlyDictionary<string, StreamPosition> Cursor { get; } = new Dictionary<string, StreamPosition>();

        public Task Started(int batch)
        {
            lock (_started)
            {
                return Started_(batch).Task;
            }
        }

        private TaskCompletionSource Started_(int batch)
        {
            if (!_started.TryGetValue(batch, out var started))
            {
                _started[batch] = started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return started;
        }

        public ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
        {
            if (Reads >= batches || cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromResult<IReadOnlyList<SourceRecord>?>(null);
            }

            var batch = Interlocked.Increment(ref _reads);
            log.Add($"read {batch}");
            lock (_started)
            {
                Started_(batch).TrySetResult();
            }

            IReadOnlyList<SourceRecord> records = [.. Enumerable.Range(0, 2).Select(i => Record(batch, i))];
            return ValueTask.FromResult<IReadOnlyList<SourceRecord>?>(records);
        }

        private static SourceRecord Record(int batch, int i)
        {
            var id = (batch * 10) + i;
            return new SourceRecord(
                new SourceMessage
                {
                    Topic = Topic,
                    Position = new StreamPosition(batch, i),
                    Key = new MessageKey($"{{\"id\":{id}}}", false),
                    Value = Encoding.UTF8.GetBytes($"{{\"id\":{id},\"name\":\"n{id}\"}}"),
                },
                null);
        }

        public ValueTask AcknowledgeAsync(CancellationToken cancellationToken)
        {
            while (_acks < Reads)
            {
                log.Add($"ack {++_acks}");
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask AcknowledgeOldestBatchAsync(CancellationToken cancellationToken)
        {
            log.Add($"ack {++_acks}");
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A sink that holds one batch until released, and can fail one.</summary>
    private sealed class GatedSink(EventLog log, int blockedBatch) : ISink
    {
        private readonly TaskCompletionSource _blocked = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _applies;

        public int FailingBatch { get; init; }

        /// <summary>The first attempts fail as a sink does once its own retries are used up.</summary>
        public int UnavailableAttempts { get; init; }

        public Action<int>? WhileUnavailable { get; set; }

        public (MaterializerState State, string? Error, bool HasSince) Seen { get; set; }

        private int _attempts;

        public Task Blocked => _blocked.Task;

        public string Name => "gated";

        public void Release() => _released.TrySetResult();

        public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, StreamPosition>>(new Dictionary<string, StreamPosition>());

        public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            if (++_attempts <= UnavailableAttempts)
            {
                WhileUnavailable?.Invoke(_attempts);
                throw new UnavailableException($"the store stays unavailable (attempt {_attempts})");
            }

            var n = ++_applies;
            if (n == FailingBatch)
            {
                throw new InvalidOperationException($"batch {n} cannot be written");
            }

            if (n == blockedBatch)
            {
                _blocked.TrySetResult();
                await _released.Task;
            }

            log.Add($"commit {n}");
            return new ApplyResult(batch.Changes.Count, 0, 0, []);
        }

        public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

        public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>As a sink's own exception once its retries are used up (SinkUnavailableException).</summary>
    private sealed class UnavailableException(string message) : Exception(message), ITransientSinkFailure;
}
