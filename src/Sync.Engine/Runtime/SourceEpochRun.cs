using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>What a run does with a materializer's source epochs (<see cref="SourceEpochs"/>) beside
/// ordering its changes: reports each move through the epochs (log, counters, the degraded status),
/// takes in the bumps declared with <c>sync epoch bump</c>, and reconciles a stream once its new epoch's
/// snapshot is applied. Shared by a lone materializer (MaterializerRunner.Epochs.cs) and each member of a
/// consistency group (ConsistencyGroupRunner.Epochs.cs), which differ only in when they call it.</summary>
internal static partial class SourceEpochRun
{
    /// <summary>Orders a change in its stream's epoch on a reader that sees the stream's whole history in
    /// order, and reports what happened to the epoch.</summary>
    public static ChangeEvent Apply(SourceEpochs epochs, ChangeEvent change, Reporter reporter, out EpochTransition transition)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        ChangeEvent shifted;
        lock (epochs)
        {
            shifted = epochs.Apply(change, out transition);
        }

        Report(epochs, change, shifted, transition, reporter);
        return shifted;
    }

    /// <summary>Logs and counts what <see cref="SourceEpochs.Apply"/> did to the change's stream.</summary>
    public static void Report(SourceEpochs epochs, ChangeEvent change, ChangeEvent shifted, EpochTransition transition, Reporter reporter)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(shifted);
        ArgumentNullException.ThrowIfNull(reporter);
        StreamEpoch epoch;
        lock (epochs)
        {
            epoch = epochs.Of(change.Origin.Topic);
        }

        var (logger, name, counters) = (reporter.Logger, reporter.Materializer, reporter.Counters);
        var stream = change.Origin.Topic;
        switch (transition)
        {
            case EpochTransition.Started:
                counters.EpochStarted();
                LogEpochStarted(logger, name, stream, epoch.Epoch, change.Origin.Position.ToString(), epoch.Offset);
                break;
            case EpochTransition.Declared:
                counters.EpochStarted();
                LogEpochDeclared(logger, name, stream, epoch.Epoch, change.Origin.Position.ToString(), epoch.Offset);
                break;
            case EpochTransition.Regressed:
                counters.SourceRegressed(
                    $"the source order of {stream} fell from {epoch.Max} to {shifted.Source?.Lsn} at {change.Origin.Position} outside a snapshot: the source went back in time (failover, restore or new cluster); older changes are skipped per key until a new snapshot or `sync epoch bump --materializer {name}`",
                    reporter.Time.GetUtcNow());
                LogRegressed(logger, name, stream, change.Source?.Lsn ?? 0, epoch.Max, change.Origin.Position.ToString());
                break;
            case EpochTransition.Refused:
                counters.SourceRegressed(
                    $"{stream} would start a new source epoch at {change.Origin.Position} (a new snapshot after streaming, or a declared bump) on a shared subscription, but sink '{reporter.SinkName}' cannot store the processes' agreement on it: no epoch is started, and changes older than the stored state of their key are skipped. Rebuild with `sync backfill --materializer {name} --shadow` and restart the processes, or read through a failover subscription (docs/operations.md)",
                    reporter.Time.GetUtcNow());
                LogRefused(logger, name, stream, change.Origin.Position.ToString());
                break;
            case EpochTransition.Overflow:
                LogOverflow(logger, name, stream, change.Origin.Position.ToString(), epoch.Offset);
                break;
        }

        if (transition is EpochTransition.Started or EpochTransition.Declared)
        {
            counters.SourceRecovered();
        }
    }

    /// <summary>Takes in the bumps declared in <paramref name="stored"/> (the materializer's checkpoint as
    /// the sink holds it) and logs each; returns the streams whose next change starts a new epoch.</summary>
    public static IReadOnlyList<string> TakeDeclarations(SourceEpochs epochs, IReadOnlyDictionary<string, StreamPosition> stored, Reporter reporter)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        ArgumentNullException.ThrowIfNull(reporter);
        IReadOnlyList<string> declared;
        lock (epochs)
        {
            declared = epochs.TakeDeclarations(stored);
        }

        foreach (var stream in declared)
        {
            LogBumpTaken(reporter.Logger, reporter.Materializer, stream);
        }

        return declared;
    }

    /// <summary>Streams whose epoch's snapshot completed and whose reconciliation has not run.</summary>
    public static List<(string Stream, StreamEpoch Epoch)> PendingReconciliations(SourceEpochs epochs)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        lock (epochs)
        {
            return epochs.Streams.Where(s => s.Value.Has(EpochFlags.ReconcilePending)).Select(s => (s.Key, s.Value)).ToList();
        }
    }

    /// <summary>Deletes the target's rows last written from <paramref name="stream"/> in an earlier epoch:
    /// its new snapshot did not hold them and no change of the new epoch touched them, so they exist only
    /// in transactions the source lost or in its old cluster; then marks the reconciliation done, to be
    /// stored with the next checkpoint. Idempotent (the sink marks what it deletes at the epoch's start),
    /// so a crash before that checkpoint only repeats it. Does nothing when the stream has moved on.</summary>
    public static async Task ReconcileAsync(ISink sink, TargetSpec target, SourceEpochs epochs, string stream, StreamEpoch epoch, Reporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(epochs);
        ArgumentNullException.ThrowIfNull(epoch);
        ArgumentNullException.ThrowIfNull(reporter);
        lock (epochs)
        {
            var now = epochs.Of(stream);
            if (!now.Has(EpochFlags.ReconcilePending) || now.Start != epoch.Start)
            {
                return;
            }
        }

        var removed = await sink.ReconcileEpochAsync(reporter.Materializer, target, stream, epoch.Start, cancellationToken);
        Reconciled(removed, stream, epoch.Epoch, reporter);
        lock (epochs)
        {
            if (epochs.Of(stream).Start == epoch.Start)
            {
                epochs.Reconciled(stream);
            }
        }
    }

    /// <summary>Counts and logs a reconciliation's outcome (null: the sink cannot reconcile).</summary>
    public static void Reconciled(long? removed, string stream, int epoch, Reporter reporter)
    {
        ArgumentNullException.ThrowIfNull(reporter);
        if (removed is { } count)
        {
            reporter.Counters.AddReconciled(count);
            LogReconciled(reporter.Logger, reporter.Materializer, stream, epoch, count);
        }
        else
        {
            LogCannotReconcile(reporter.Logger, reporter.Materializer, stream, epoch);
        }
    }

    /// <summary>Where a materializer reports: its log, its counters (the metrics and the status), its clock.</summary>
    public sealed record Reporter(ILogger Logger, string Materializer, MaterializerCounters Counters, TimeProvider Time, string SinkName);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: {Stream} starts source epoch {Epoch} at {Position}: a new full snapshot after streaming (failover, restore or new cluster); its changes order above every earlier one (offset {Offset})")]
    private static partial void LogEpochStarted(ILogger logger, string materializer, string stream, int epoch, string position, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: a source epoch bump was declared for {Stream} with sync epoch bump; its next change starts a new epoch")]
    private static partial void LogBumpTaken(ILogger logger, string materializer, string stream);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: {Stream} starts source epoch {Epoch} at {Position}, as declared with sync epoch bump (offset {Offset})")]
    private static partial void LogEpochDeclared(ILogger logger, string materializer, string stream, int epoch, string position, long offset);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Materializer}: degraded, the source order of {Stream} fell to {Order}, far below {Highest} already applied, at {Position}, outside a snapshot: the source went back in time without a new snapshot. Changes older than the stored state of their key are skipped. Take a new snapshot in the connector, or declare the new history with `sync epoch bump --materializer {Materializer} --reason ...`")]
    private static partial void LogRegressed(ILogger logger, string materializer, string stream, long order, long highest, string position);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Materializer}: degraded, {Stream} would start a new source epoch at {Position} (a new snapshot after streaming, or a declared bump) on a shared subscription, but the sink cannot store the processes' agreement on it. No epoch is started; changes older than the stored state of their key are skipped. Rebuild with sync backfill --materializer {Materializer} --shadow, then restart the processes, or read through a failover subscription")]
    private static partial void LogRefused(ILogger logger, string materializer, string stream, string position);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Materializer}: a change of {Stream} at {Position} does not fit the 62-bit order with its epoch offset {Offset}; it is ordered by its position only")]
    private static partial void LogOverflow(ILogger logger, string materializer, string stream, string position, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: the snapshot of source epoch {Epoch} of {Stream} is complete; {Count} row(s) it did not hold were deleted")]
    private static partial void LogReconciled(ILogger logger, string materializer, string stream, int epoch, long count);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Materializer}: the snapshot of source epoch {Epoch} of {Stream} is complete, but the sink cannot delete the rows it did not hold; rebuild with sync backfill to drop them")]
    private static partial void LogCannotReconcile(ILogger logger, string materializer, string stream, int epoch);
}
