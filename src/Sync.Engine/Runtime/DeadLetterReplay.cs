using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>What a replay (or a dry run, or a listing) of one materializer's dead letters found.</summary>
/// <param name="Letters">Letters of the materializer read.</param>
/// <param name="FailedAgain">Letters that failed again (back to the dead-letter target; in a dry run: would fail to decode or map).</param>
/// <param name="Reasons">Per stage and reason, how many: of the letters read (a listing) or of those that failed again (a replay).</param>
public sealed record DeadLetterReport(
    string Materializer,
    string Target,
    bool DryRun,
    long Letters,
    long FailedAgain,
    long OtherMaterializers,
    MaterializerCounters Counters,
    IReadOnlyList<(string Stage, string Reason, long Count)> Reasons);

/// <summary><c>sync dlq</c>: reads a materializer's dead letters from its target (topics or file)
/// and feeds them again through decode, map and apply, as <see cref="MaterializerRunner"/> does.
/// Letters that fail again go back to the dead-letter target with their new reason; the others are
/// removed (acknowledged on the topic, dropped from the file). Replayed changes obey never-regress
/// like any other (a letter older than the state held is counted stale) and move no checkpoint:
/// they come from positions the materializer has passed long ago.</summary>
public sealed class DeadLetterReplay
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;
    private readonly ILoggerFactory _loggerFactory;
    private readonly Func<string, ISuppressionFilter> _suppression;

    public DeadLetterReplay(SyncConfig config, SyncComponents components, ILoggerFactory loggerFactory, Func<string, ISuppressionFilter>? suppression = null)
    {
        _config = config;
        _components = components;
        _loggerFactory = loggerFactory;
        _suppression = suppression ?? (_ => NoSuppression.Instance);
    }

    public async Task<DeadLetterReport> ReplayAsync(string name, MaterializerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sinkConfig = _config.Sinks[options.Sink];
        await using var sink = await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
        await using var reader = OpenReader(name, options, dryRun: false, sink);
        await using var target = TallyingTarget.Over(SyncRuntime.OpenDeadLetters(_config, _components, name, options, sink));
        var runner = new MaterializerRunner(name, options, reader, MaterializerReading.Of(_config, _components, name, options).Decoder, new CheckpointlessSink(sink), target, _loggerFactory.CreateLogger($"sync.dlq.{name}"), _suppression(name))
        {
            // A letter's change carries its bare source order: it is put in its stream's current epoch,
            // as the sink stores it with the checkpoint, so that after an epoch change it compares with
            // the state the new epoch wrote instead of counting as older.
            Epochs = SourceEpochs.FromCheckpoint(await sink.LoadCheckpointAsync(name, cancellationToken)),
            EpochsFixed = true,
        };
        await runner.RunAsync(cancellationToken);
        var (seen, others) = (reader.Seen, reader.OtherMaterializers);
        return new DeadLetterReport(name, target.Description, false, seen.Count, target.Count, others, runner.Counters, target.Reasons());
    }

    /// <summary>Decodes and maps every letter without applying it or changing the target. A
    /// change the sink would reject (the apply stage) cannot be told without applying it.</summary>
    public async Task<DeadLetterReport> DryRunAsync(string name, MaterializerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        await using var sink = await OpenTableSinkAsync(options, cancellationToken);
        await using var reader = OpenReader(name, options, dryRun: true, sink);
        var reading = MaterializerReading.Of(_config, _components, name, options);
        var suppression = _suppression(name);
        var tally = new Dictionary<(string, string), long>();
        long failed = 0;
        var counters = new MaterializerCounters();
        while (await reader.ReadBatchAsync(options.BatchSize, TimeSpan.Zero, cancellationToken) is { } records)
        {
            await suppression.RefreshAsync(cancellationToken);
            foreach (var record in records)
            {
                counters.AddRead(1);
                string stage, reason;
                if (record.Error is { } error)
                {
                    (stage, reason) = ("read", error.Reason);
                }
                else
                {
                    try
                    {
                        var change = reading.Decode(record.Message!);
                        // A delete applied instead of a suppressed change counts as suppressed, as in a replay.
                        if (suppression.Decide(change) != SuppressionDecision.Keep)
                        {
                            counters.AddSuppressed(1);
                        }
                        else if (change.Op is ChangeOp.Delete or ChangeOp.Tombstone or ChangeOp.Truncate)
                        {
                            counters.AddDeleted(1);
                        }
                        else
                        {
                            counters.AddApplied(1);
                        }

                        continue;
                    }
                    catch (NonRowMessageException e) when (options.Messages == MessageHandling.Skip || e.Skipped.Message is null)
                    {
                        // Skipped by a replay too (a letter written before such messages were recognised).
                        counters.AddSkipped(e.Skipped.Kind, 1);
                        continue;
                    }
                    catch (NonRowMessageException)
                    {
                        // Kept as a row (messages: keep).
                        counters.AddApplied(1);
                        continue;
                    }
                    catch (DecodeException e)
                    {
                        (stage, reason) = ("decode", e.Message);
                    }
                    catch (MapException e)
                    {
                        (stage, reason) = ("map", e.Message);
                    }
                }

                failed++;
                tally[(stage, reason)] = tally.GetValueOrDefault((stage, reason)) + 1;
            }

            await reader.AcknowledgeAsync(cancellationToken);
        }

        var (seen, others) = (reader.Seen, reader.OtherMaterializers);
        return new DeadLetterReport(name, Describe(name, options, sink), true, seen.Count, failed, others, counters, Order(tally));
    }

    /// <summary>Counts the letters per stage and reason, changing nothing.</summary>
    public async Task<DeadLetterReport> ListAsync(string name, MaterializerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        await using var sink = await OpenTableSinkAsync(options, cancellationToken);
        await using var reader = OpenReader(name, options, dryRun: true, sink);
        while (await reader.ReadBatchAsync(options.BatchSize, TimeSpan.Zero, cancellationToken) is not null)
        {
            await reader.AcknowledgeAsync(cancellationToken);
        }

        var (seen, others) = (reader.Seen, reader.OtherMaterializers);
        var tally = new Dictionary<(string, string), long>();
        foreach (var entry in seen)
        {
            tally[(entry.Stage, entry.Reason)] = tally.GetValueOrDefault((entry.Stage, entry.Reason)) + 1;
        }

        return new DeadLetterReport(name, Describe(name, options, sink), true, seen.Count, 0, others, new MaterializerCounters(), Order(tally));
    }

    /// <summary>The materializer's sink when its letters are in the sink's table; null otherwise.</summary>
    private async Task<ISink?> OpenTableSinkAsync(MaterializerOptions options, CancellationToken cancellationToken)
    {
        if (_config.DeadLetterKindOf(options) != DeadLetterKind.Table)
        {
            return null;
        }

        var sinkConfig = _config.Sinks[options.Sink];
        return await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
    }

    private string Describe(string name, MaterializerOptions options, ISink? sink) =>
        _config.DeadLetterKindOf(options) switch
        {
            DeadLetterKind.Topic => _components.Sources[_config.Sources[options.Source].Type].DescribeDeadLetterTopics(options.Source) ?? $"source {options.Source}",
            DeadLetterKind.Table => SyncRuntime.DeadLetterStoreOf(_config, name, options, sink).DeadLetterTable,
            _ => _config.DeadLetterPath(name, options),
        };

    private IDeadLetterReader OpenReader(string name, MaterializerOptions options, bool dryRun, ISink? sink)
    {
        if (_config.DeadLetterKindOf(options) == DeadLetterKind.Table)
        {
            return new DeadLetterTableReader(SyncRuntime.DeadLetterStoreOf(_config, name, options, sink), name, dryRun);
        }

        if (_config.DeadLetterKindOf(options) == DeadLetterKind.File)
        {
            return new DeadLetterFileReader(_config.DeadLetterPath(name, options), name, dryRun);
        }

        var source = _config.Sources[options.Source];
        var request = MaterializerReading.Of(_config, _components, name, options).ReadRequest(new Dictionary<string, StreamPosition>(), false);
        return _components.Sources[source.Type].OpenDeadLetterReader(source, request, dryRun)
            ?? throw new InvalidOperationException($"source {source.Name} ({source.Type}) has no dead-letter topics");
    }

    private static List<(string Stage, string Reason, long Count)> Order(Dictionary<(string Stage, string Reason), long> tally) =>
        [.. tally.OrderByDescending(t => t.Value).ThenBy(t => t.Key.Stage, StringComparer.Ordinal).ThenBy(t => t.Key.Reason, StringComparer.Ordinal).Select(t => (t.Key.Stage, t.Key.Reason, t.Value))];

    /// <summary>Passes letters on and counts them per stage and reason.</summary>
    private class TallyingTarget(IDeadLetterTarget inner) : IDeadLetterTarget
    {
        private readonly Dictionary<(string, string), long> _tally = [];

        public static TallyingTarget Over(IDeadLetterTarget inner) =>
            inner is IBatchDeadLetters batch ? new TallyingBatchTarget(batch) : new TallyingTarget(inner);

        public string Description => inner.Description;

        public long Count { get; private set; }

        public void Add(string stage, SourceMessage message, string reason)
        {
            Count++;
            _tally[(stage, reason)] = _tally.GetValueOrDefault((stage, reason)) + 1;
            inner.Add(stage, message, reason);
        }

        public void Add(SourceError error)
        {
            ArgumentNullException.ThrowIfNull(error);
            Count++;
            _tally[("read", error.Reason)] = _tally.GetValueOrDefault(("read", error.Reason)) + 1;
            inner.Add(error);
        }

        public ValueTask FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public IReadOnlyList<(string Stage, string Reason, long Count)> Reasons() => Order(_tally.Where(t => t.Value > 0).ToDictionary());

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        /// <summary>Forgets the tally of letters dropped with a rolled-back batch attempt.</summary>
        protected void Untally(IEnumerable<DeadLetterRow> dropped)
        {
            foreach (var letter in dropped)
            {
                Count--;
                _tally[(letter.Stage, letter.Reason)]--;
            }
        }
    }

    /// <summary>The same over a dead-letter table, whose letters ride in the batch.</summary>
    private sealed class TallyingBatchTarget(IBatchDeadLetters inner) : TallyingTarget(inner), IBatchDeadLetters
    {
        public int Pending => inner.Pending;

        public IReadOnlyList<DeadLetterRow> PendingRows => inner.PendingRows;

        public void KeepFirst(int count)
        {
            Untally(inner.PendingRows.Skip(count));
            inner.KeepFirst(count);
        }

        public void Committed() => inner.Committed();
    }

    /// <summary>Applies replayed batches without their checkpoint: the letters' positions lie
    /// behind the materializer's own, which must not move back.</summary>
    private sealed class CheckpointlessSink(ISink inner) : DelegatingSink(inner)
    {
        private static readonly IReadOnlyDictionary<string, StreamPosition> None = new Dictionary<string, StreamPosition>();

        public override ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken) =>
            Inner.ApplyAsync(batch with { Checkpoint = None }, cancellationToken);
    }
}
