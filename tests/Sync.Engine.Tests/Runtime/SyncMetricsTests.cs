using System.Diagnostics.Metrics;
using Sync.Engine.Topics;
using Sync.Engine.Verify;
using Sync.Testing.Process;

namespace Sync.Engine.Tests.Runtime;

/// <summary>The backlog gauge and the last committed source time of <see cref="SyncMetrics"/>, on a
/// fake clock: a scrape reports the last counts and starts at most one refresh per interval.</summary>
public sealed class SyncMetricsTests
{
    private const string Topic = "persistent://public/default/users";

    private readonly string _name = $"users-{Guid.NewGuid():N}";
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
    private readonly List<IReadOnlyDictionary<string, StreamPosition>> _refreshes = [];
    private long _behind = 7;

    /// <summary>What the source's answer waits for: every <see cref="MeterListener"/> in the process observes
    /// this meter's instruments, so a scrape of a test running in parallel can start this test's refresh too.</summary>
    private Task _sourceAnswers = Task.CompletedTask;

    [Fact]
    public async Task The_backlog_is_refreshed_once_per_interval_of_the_clock_and_at_the_first_committed_position()
    {
        var sourceAnswers = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sourceAnswers = sourceAnswers.Task;
        using var metrics = NewMetrics();
        metrics.Starting(_name);
        var sink = metrics.Measure(new ReferenceSink());
        await sink.LoadCheckpointAsync(_name, CancellationToken.None);

        // The first scrape starts a refresh and reports nothing yet: it never waits for the source.
        Assert.Null(Scrape("backlog.messages"));
        sourceAnswers.SetResult();
        await Poll.UntilAsync(() => Scrape("backlog.messages") == 7);
        Assert.Empty(Assert.Single(Refreshes()));

        // A committed position: counted from there at the next scrape, without waiting for the interval.
        _behind = 4;
        await sink.ApplyAsync(Batch(position: 5, tsMs: 1_765_000_000_250), CancellationToken.None);
        Scrape("backlog.messages");
        await Poll.UntilAsync(() => Scrape("backlog.messages") == 4);
        Assert.Equal(new StreamPosition(0, 5), Refreshes()[1][Topic]);

        // Within the interval the scrapes report the cached count and ask the source nothing.
        _behind = 1;
        _clock.Advance(TimeSpan.FromSeconds(14));
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(4, Scrape("backlog.messages"));
        }

        Assert.Equal(2, Refreshes().Count);

        _clock.Advance(TimeSpan.FromSeconds(2));
        Scrape("backlog.messages");
        await Poll.UntilAsync(() => Scrape("backlog.messages") == 1);
        Assert.Equal(3, Refreshes().Count);
    }

    [Fact]
    public async Task The_backlog_counts_from_the_checkpoint_loaded_at_start_before_any_batch()
    {
        using var metrics = NewMetrics();
        metrics.Starting(_name);
        metrics.CheckpointLoaded(_name, new Dictionary<string, StreamPosition>
        {
            [Topic] = new(0, 41),
            [SinkCheckpointGuard.HealingStream] = SinkCheckpointGuard.HealedMark,
        });

        Scrape("backlog.messages");
        await Poll.UntilAsync(() => Scrape("backlog.messages") == 7);

        var asked = Assert.Single(Refreshes());
        Assert.Equal(new StreamPosition(0, 41), Assert.Single(asked).Value);
    }

    [Fact]
    public async Task The_last_committed_source_time_is_that_of_the_newest_change_committed_in_seconds()
    {
        using var metrics = NewMetrics();
        metrics.Starting(_name);
        var sink = metrics.Measure(new ReferenceSink());
        Assert.Null(Scrape("source.last_committed_timestamp"));

        await sink.ApplyAsync(Batch(position: 5, tsMs: 1_765_000_000_250), CancellationToken.None);
        Assert.Equal(1_765_000_000.25, Scrape("source.last_committed_timestamp"));

        // An older change committed later (a redelivery) does not move it back.
        await sink.ApplyAsync(Batch(position: 6, tsMs: 1_764_999_999_000), CancellationToken.None);
        Assert.Equal(1_765_000_000.25, Scrape("source.last_committed_timestamp"));
        await sink.ApplyAsync(Batch(position: 7, tsMs: 1_765_000_001_000), CancellationToken.None);
        Assert.Equal(1_765_000_001, Scrape("source.last_committed_timestamp"));
    }

    [Fact]
    public async Task The_last_verification_stored_with_the_checkpoint_is_a_gauge_per_drift_class()
    {
        using var metrics = NewMetrics();
        metrics.Starting(_name);
        var inner = new ReferenceSink();
        var sink = metrics.Measure(inner);
        await sink.LoadCheckpointAsync(_name, CancellationToken.None);
        Assert.Null(Scrape("verify.last_timestamp"));
        Assert.Null(Scrape("verify.drift_keys", drift: "missing"));

        var drift = DriftClasses.All.ToDictionary(d => d, d => d == DriftClass.Missing ? 2L : d == DriftClass.Stale ? 1L : 0L);
        var verified = new VerificationResult(_name, "local", "users", 40, drift, new Dictionary<DriftClass, IReadOnlyList<string>>()) { At = _clock.GetUtcNow() };
        await inner.ApplyAsync(new SinkBatch(_name, new TargetSpec("users"), [], LastVerification.EntriesOf(verified)), CancellationToken.None);
        await sink.LoadCheckpointAsync(_name, CancellationToken.None);

        Assert.Equal(_clock.GetUtcNow().ToUnixTimeSeconds(), Scrape("verify.last_timestamp"));
        Assert.Equal(40, Scrape("verify.keys"));
        Assert.Equal(2, Scrape("verify.drift_keys", drift: "missing"));
        Assert.Equal(1, Scrape("verify.drift_keys", drift: "stale"));
        Assert.Equal(0, Scrape("verify.drift_keys", drift: "different"));

        // A run's batches carry no record: the gauges keep the last one loaded.
        await sink.ApplyAsync(Batch(position: 5, tsMs: 1_765_000_000_250), CancellationToken.None);
        Assert.Equal(2, Scrape("verify.drift_keys", drift: "missing"));
    }

    private SyncMetrics NewMetrics() => new(_clock)
    {
        BacklogRefresh = TimeSpan.FromSeconds(15),
        TopicEnds = async (name, committed, _) =>
        {
            if (name == _name)
            {
                lock (_refreshes)
                {
                    _refreshes.Add(committed);
                }
            }

            await _sourceAnswers;
            return [new TopicEnd(Topic, new StreamPosition(0, 10), Interlocked.Read(ref _behind))];
        },
    };

    private List<IReadOnlyDictionary<string, StreamPosition>> Refreshes()
    {
        lock (_refreshes)
        {
            return [.. _refreshes];
        }
    }

    private SinkBatch Batch(long position, long tsMs)
    {
        var change = Change.Upsert(("id", position), position, ("name", "a")).OnTopic(Topic);
        var timed = new ChangeEvent { Op = change.Op, Key = change.Key, After = change.After, Source = change.Source! with { TsMs = tsMs }, Origin = change.Origin };
        return new SinkBatch(_name, new TargetSpec("users"), [timed], new Dictionary<string, StreamPosition> { [Topic] = new(0, position) });
    }

    /// <summary>The value this test's materializer has for the instrument (of the drift class, when given) at a scrape (all the
    /// instruments of the meter are observed, as an exporter does), or null without a sample.</summary>
    private double? Scrape(string instrumentName, string? drift = null)
    {
        double? value = null;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SyncMetrics.MeterName && instrument.Name == instrumentName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(ReadOnlySpan<KeyValuePair<string, object?>> tags, double measured)
        {
            var ofClass = drift is null;
            foreach (var tag in tags)
            {
                ofClass |= tag is { Key: "class", Value: string named } && named == drift;
            }

            if (!ofClass)
            {
                return;
            }

            foreach (var tag in tags)
            {
                if (tag is { Key: "materializer", Value: string name } && name == _name)
                {
                    value = measured;
                }
            }
        }

        listener.SetMeasurementEventCallback<long>((_, measured, tags, _) => Record(tags, measured));
        listener.SetMeasurementEventCallback<double>((_, measured, tags, _) => Record(tags, measured));
        listener.Start();
        listener.RecordObservableInstruments();
        return value;
    }
}
