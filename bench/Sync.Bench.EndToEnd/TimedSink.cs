using System.Diagnostics;
using System.Globalization;
using Sync.Engine.Config;
using Sync.Engine.Sinks;

namespace Sync.Bench.EndToEnd;

/// <summary>Records, per applied event, the time from its publication (the <c>sent</c> property,
/// a <see cref="Stopwatch"/> timestamp of this process) to the moment the sink returned from
/// ApplyAsync, which is when the batch and its checkpoint are durable.</summary>
internal sealed class LatencyRecorder
{
    private readonly Lock _gate = new();
    private readonly List<long> _ticks = [];
    private long _applied;
    private long _lastSeen;
    private TaskCompletionSource _recorded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Applied => Interlocked.Read(ref _applied);

    /// <summary>How many events marked <c>last</c> (one per topic, the end of a backlog) were applied.</summary>
    public long LastSeen => Interlocked.Read(ref _lastSeen);

    /// <summary>Completes at the next <see cref="Record"/>: a wait for the run's progress that wakes
    /// once per batch instead of polling on a timer, whose wakes were charged to the measured process.</summary>
    public Task NextRecord
    {
        get
        {
            lock (_gate)
            {
                return _recorded.Task;
            }
        }
    }

    public void Record(SinkBatch batch)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            foreach (var change in batch.Changes)
            {
                if (change.Origin.Properties.TryGetValue("sent", out var sent))
                {
                    _ticks.Add(now - long.Parse(sent, CultureInfo.InvariantCulture));
                }

                if (change.Origin.Properties.ContainsKey("last"))
                {
                    Interlocked.Increment(ref _lastSeen);
                }
            }
        }

        Interlocked.Add(ref _applied, batch.Changes.Count);
        TaskCompletionSource recorded;
        lock (_gate)
        {
            recorded = _recorded;
            _recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        recorded.SetResult();
    }

    public (double P50Ms, double P99Ms, double MaxMs, int Count) Percentiles()
    {
        lock (_gate)
        {
            var sorted = _ticks.Order().ToArray();
            double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            return sorted.Length == 0
                ? throw new InvalidOperationException("no event was applied")
                : (Ms(sorted[(int)(sorted.Length * 0.50)]), Ms(sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))]), Ms(sorted[^1]), sorted.Length);
        }
    }
}

/// <summary>The PostgreSQL sink type under another name, its batches timed by a recorder.</summary>
internal sealed class TimedSinkFactory(ISinkFactory inner, LatencyRecorder recorder) : ISinkFactory
{
    public const string TypeName = "timed-postgres";

    public string Type => TypeName;

    public Type OptionsType => inner.OptionsType;

    public Type? TargetOptionsType => inner.TargetOptionsType;

    public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
        new TimedSink(await inner.OpenAsync(sink, cancellationToken), recorder);

    private sealed class TimedSink(ISink inner, LatencyRecorder recorder) : ISink
    {
        public string Name => inner.Name;

        public ValueTask<IReadOnlyDictionary<string, Sync.Engine.Changes.StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
            inner.LoadCheckpointAsync(materializer, cancellationToken);

        public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            var result = await inner.ApplyAsync(batch, cancellationToken);
            recorder.Record(batch);
            return result;
        }

        public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => inner.EraseAsync(target, match, cancellationToken);

        public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => inner.CountAsync(target, match, cancellationToken);

        public ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) => inner.EraseManyAsync(target, matches, cancellationToken);

        public ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) => inner.CountManyAsync(target, matches, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
