using System.Threading.Channels;

namespace Sync.Engine.Tests.Runtime;

/// <summary>A process that joins a key-shared subscription finds the subscription acknowledged past
/// the sink's checkpoint both when another process is busy (its checkpoint lags one batch behind what
/// it acknowledged) and when the sink went back in time while no run watched. It tells them apart by
/// waiting, on its clock, for the checkpoint to reach what it saw acknowledged: another process
/// moves it there; nobody moves a rolled-back one.</summary>
public sealed class SharedCheckpointLagTests
{
    private const string Topic = "persistent://public/default/users";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(10);
    private static readonly StreamPosition Committed = new(1, 999);
    private static readonly StreamPosition Acknowledged = new(1, 1049);

    [Fact]
    public async Task A_checkpoint_one_batch_behind_while_another_process_commits_is_no_rollback()
    {
        var (reader, sink, replays, time) = Fixture();
        var runner = Runner(reader, sink, replays, time);
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);

        await reader.DeliverAsync(1);
        await sink.Applied(1).WaitAsync(Patience);
        // Not yet told from a rollback: the batch is applied, no checkpoint written with it.
        Assert.Null(sink.LastWritten);
        Assert.Equal(Committed, sink.Stored[Topic]);

        // The other process's next batch writes the position it saw acknowledged.
        sink.Commit(Acknowledged);
        await reader.DeliverAsync(2);
        await sink.Applied(2).WaitAsync(Patience);
        var since = time.GetUtcNow();
        while (time.GetUtcNow() - since < CheckInterval * 4)
        {
            await UntilIdleCheckAsync(time, sink, CheckInterval * 2);
        }

        Assert.Equal(0, runner.Counters.Rollbacks);
        Assert.False(runner.Counters.Healing);
        Assert.Empty(replays);
        // The checkpoint moves on again: this process writes it with its batches.
        Assert.Equal(Acknowledged, sink.LastWritten);
        Assert.Equal(Acknowledged, sink.Stored[Topic]);
        await stop.CancelAsync();
        await run.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_checkpoint_behind_the_subscription_that_nobody_moves_is_healed_once_the_bound_passed()
    {
        var (reader, sink, replays, time) = Fixture();
        var runner = Runner(reader, sink, replays, time);
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);
        var since = time.GetUtcNow();

        await reader.DeliverAsync(1);
        await sink.Applied(1).WaitAsync(Patience);
        // An idle check within the bound (three check intervals) finds the gap and goes on waiting.
        await UntilIdleCheckAsync(time, sink, (CheckInterval * 3) - TimeSpan.FromSeconds(1));
        Assert.True(time.GetUtcNow() - since < CheckInterval * 3);
        Assert.Equal(0, runner.Counters.Rollbacks);
        Assert.Empty(replays);
        Assert.Null(sink.LastWritten);

        while (!sink.Healed.IsCompleted)
        {
            await UntilIdleCheckAsync(time, sink, CheckInterval * 2);
        }

        await sink.Healed.WaitAsync(Patience);
        Assert.True(time.GetUtcNow() - since >= CheckInterval * 3);
        Assert.Equal(1, runner.Counters.Rollbacks);
        // Healed from the checkpoint the sink still holds.
        Assert.Equal(Committed, Assert.Single(replays)[Topic]);
        await stop.CancelAsync();
        await run.WaitAsync(Patience);
    }

    private static (SharedReader Reader, CheckpointSink Sink, List<IReadOnlyDictionary<string, StreamPosition>> Replays, FakeTimeProvider Time) Fixture() =>
        (new SharedReader { AcknowledgedThrough = Acknowledged }, new CheckpointSink(Committed), [], new FakeTimeProvider());

    /// <summary>Moves the clock on a second at a time until the sink's checkpoint was read (the idle
    /// check, whose timer on the fake clock may be set a little after a step), within
    /// <paramref name="limit"/> of the clock.</summary>
    private static async Task UntilIdleCheckAsync(FakeTimeProvider time, CheckpointSink sink, TimeSpan limit)
    {
        var end = time.GetUtcNow() + limit;
        while (time.GetUtcNow() < end)
        {
            var load = sink.NextLoad();
            time.Advance(TimeSpan.FromSeconds(1));
            if (await Task.WhenAny(load, Task.Delay(20)) == load)
            {
                return;
            }
        }

        throw new TimeoutException($"no idle check within {limit} of the clock");
    }

    private static MaterializerRunner Runner(SharedReader reader, CheckpointSink sink, List<IReadOnlyDictionary<string, StreamPosition>> replays, TimeProvider time) =>
        new(
            "users",
            new MaterializerOptions { Source = "s", Sink = "k", Table = "users", Topics = [Topic], Format = "json", BatchSize = 2, Linger = TimeSpan.Zero },
            reader,
            MessageFormats.Create("json", new DecoderOptions()),
            sink,
            new NoDeadLetters(),
            NullLogger.Instance)
        {
            Time = time,
            RollbackCheckInterval = CheckInterval,
            OpenReplay = starts =>
            {
                lock (replays)
                {
                    replays.Add(starts);
                }

                return new SharedReader { Ended = true };
            },
        };

    /// <summary>A consumer of a key-shared subscription: batches as the test delivers them, and the
    /// subscription's mark-delete position as the test sets it.</summary>
    private sealed class SharedReader : ISourceReader
    {
        private readonly Channel<IReadOnlyList<SourceRecord>> _batches = Channel.CreateUnbounded<IReadOnlyList<SourceRecord>>();

        public StreamPosition? AcknowledgedThrough { get; set; }

        /// <summary>A replay: it has nothing to read.</summary>
        public bool Ended { get; init; }

        public bool SharesStreams => true;

        public IReadOnlyDictionary<string, StreamPosition> Cursor { get; } = new Dictionary<string, StreamPosition>();

        public async Task DeliverAsync(int batch) =>
            await _batches.Writer.WriteAsync([.. Enumerable.Range(0, 2).Select(i => Record(batch, i))]);

        public async ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
        {
            if (Ended)
            {
                return null;
            }

            try
            {
                return await _batches.Reader.ReadAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        }

        public ValueTask<StreamPosition?> AcknowledgedThroughAsync(string stream, CancellationToken cancellationToken) =>
            ValueTask.FromResult(AcknowledgedThrough);

        public ValueTask AcknowledgeAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private static SourceRecord Record(int batch, int i)
        {
            var id = (batch * 10) + i;
            return new SourceRecord(
                new SourceMessage
                {
                    Topic = Topic,
                    Position = new StreamPosition(2, id),
                    Key = new MessageKey($"{{\"id\":{id}}}", false),
                    Value = Encoding.UTF8.GetBytes($"{{\"id\":{id},\"name\":\"n{id}\"}}"),
                },
                null);
        }
    }

    /// <summary>A sink that keeps only its checkpoint, entry by entry as the sinks store it, which
    /// the test can also write as another process of the subscription does.</summary>
    private sealed class CheckpointSink(StreamPosition committed) : ISink
    {
        private readonly Dictionary<string, StreamPosition> _stored = new(StringComparer.Ordinal) { [Topic] = committed };
        private readonly List<(int Batches, TaskCompletionSource Done)> _applied = [];
        private readonly TaskCompletionSource _healed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _nextLoad = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _batches;

        public string Name => "checkpoints";

        /// <summary>Completes once the heal mark was cleared: the replay caught up.</summary>
        public Task Healed => _healed.Task;

        public StreamPosition? LastWritten { get; private set; }

        public IReadOnlyDictionary<string, StreamPosition> Stored
        {
            get
            {
                lock (_stored)
                {
                    return new Dictionary<string, StreamPosition>(_stored, StringComparer.Ordinal);
                }
            }
        }

        public void Commit(StreamPosition position)
        {
            lock (_stored)
            {
                _stored[Topic] = position;
            }
        }

        /// <summary>Completes once <paramref name="batches"/> batches of changes were applied.</summary>
        public Task Applied(int batches)
        {
            lock (_stored)
            {
                var applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_batches >= batches)
                {
                    applied.SetResult();
                }
                else
                {
                    _applied.Add((batches, applied));
                }

                return applied.Task;
            }
        }

        /// <summary>Completes at the next read of the checkpoint.</summary>
        public Task NextLoad()
        {
            lock (_stored)
            {
                return _nextLoad.Task;
            }
        }

        public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
        {
            var stored = Stored;
            lock (_stored)
            {
                _nextLoad.SetResult();
                _nextLoad = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return ValueTask.FromResult(stored);
        }

        public ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            lock (_stored)
            {
                foreach (var (entry, position) in batch.Checkpoint)
                {
                    _stored[entry] = position;
                }

                if (batch.Changes.Count > 0)
                {
                    if (batch.Checkpoint.TryGetValue(Topic, out var written))
                    {
                        LastWritten = written;
                    }

                    _batches++;
                    foreach (var applied in _applied.Where(a => a.Batches <= _batches))
                    {
                        applied.Done.SetResult();
                    }

                    _applied.RemoveAll(a => a.Batches <= _batches);
                }
            }

            if (batch.Checkpoint.TryGetValue(SinkCheckpointGuard.HealingStream, out var mark) && mark == SinkCheckpointGuard.HealedMark)
            {
                _healed.TrySetResult();
            }

            return ValueTask.FromResult(new ApplyResult(batch.Changes.Count, 0, 0, []));
        }

        public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

        public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
