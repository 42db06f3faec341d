using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>Repairing what an earlier run of this instance lost in a crash on a shared subscription
/// (SourceEpochs.Shared.cs): it applied changes of a new epoch in the old one, acknowledged them, and
/// stopped before it learned the epoch, so the broker does not deliver them again. They are read again
/// from the topic instead, with the heal's replay reader (<see cref="OpenReplay"/>), from the epoch's
/// agreed position through the highest position that run stored in its trace, and applied in the epoch
/// their position lies in, as the stored agreements say. Changes of other processes in that range are
/// applied again too: each gets the order it has in its epoch, which the sink holds already or which is
/// older than what it holds, so that write is a no-op. Only when the topic no longer holds the range
/// (retention, a trim, a truncate) is the loss reported and stored (<see cref="SourceEpochs.LostPrefix"/>).</summary>
public sealed partial class MaterializerRunner
{
    // Losses found in this instance's trace, waiting for their replay.
    private readonly List<LostRepair> _lostToReplay = [];

    /// <summary>Replays each loss found, stores that it was applied again (<see cref="SourceEpochs.RepairedPrefix"/>),
    /// or reports the loss with the reason the replay could not be done; then stores the losses reported.
    /// A stop during a replay leaves the trace as it is, so the next run replays again.</summary>
    private async Task ReplayLostRepairsAsync(bool applyLockHeld, CancellationToken cancellationToken)
    {
        List<LostRepair> due;
        lock (_lostToReplay)
        {
            due = [.. _lostToReplay];
            _lostToReplay.Clear();
        }

        for (var i = 0; i < due.Count; i++)
        {
            var lost = due[i];
            string? impossible;
            try
            {
                impossible = await ReplayLostAsync(lost, applyLockHeld, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                lock (_lostToReplay)
                {
                    _lostToReplay.AddRange(due.Skip(i));
                }

                throw;
            }
            catch (Exception e) when (e is ITransientSinkFailure)
            {
                // The sink is out of reach: tried again at the next batch or idle check.
                lock (_lostToReplay)
                {
                    _lostToReplay.Add(lost);
                }

                LogLostReplayDeferred(_logger, _name, lost.Stream, e.Message);
                continue;
            }

            if (impossible is not null)
            {
                ReportLostRepair(lost, impossible);
                continue;
            }

            KeyValuePair<string, StreamPosition>? entry;
            lock (Epochs)
            {
                entry = Epochs.RepairedEntry(lost);
            }

            if (entry is { } repaired)
            {
                await _sink.AddCheckpointEntriesAsync(_name, [repaired], CancellationToken.None);
            }

            LogLostReplayed(_logger, _name, lost.Stream, lost.Epoch, lost.From?.ToString() ?? "", lost.Through.ToString());
        }

        await StoreLostRepairsAsync(cancellationToken);
    }

    /// <summary>Reads <paramref name="lost"/>'s stream again from its agreed position through its last
    /// position and applies those changes in their epoch. Returns why it could not (the topic no longer
    /// holds the range), or null when done.</summary>
    private async Task<string?> ReplayLostAsync(LostRepair lost, bool applyLockHeld, CancellationToken cancellationToken)
    {
        var from = lost.From!.Value;
        var stored = await _sink.LoadCheckpointAsync(_name, cancellationToken);
        // The other streams of the materializer from their stored positions (what the replay reader reads
        // beside, and skips), this one from the agreed position.
        var starts = ReplayStarts(OwnPositions(stored));
        starts[lost.Stream] = from;
        // Ordered as the sink's stored epochs say, as a heal's replay is: every position up to the stored
        // one lies in the epoch the agreements put it in.
        var epochs = SourceEpochs.FromCheckpoint(stored);
        var reached = false;
        var replayed = 0L;
        await using var replay = OpenReplay!(starts);
        while (true)
        {
            var records = await replay.ReadBatchAsync(_options.BatchSize, _options.Linger, cancellationToken);
            if (records is null)
            {
                return reached
                    ? $"the topic ends before {lost.Through}, the last position that run applied (retention, a trim or a truncate removed the rest)"
                    : $"the topic no longer holds the messages after {from}, where the epoch was agreed, through {lost.Through} (retention, a trim or a truncate removed them)";
            }

            var range = new List<SourceRecord>(records.Count);
            var done = false;
            foreach (var record in records)
            {
                if (record.Message is not { } message || message.Topic != lost.Stream || message.Position < from)
                {
                    continue;
                }

                if (!reached)
                {
                    if (message.Position > from)
                    {
                        return $"the topic no longer holds {from}, where the epoch was agreed: the first message it holds after it is {message.Position} (retention, a trim or a truncate removed the rest)";
                    }

                    reached = true;
                }

                if (message.Position > lost.Through)
                {
                    done = true;
                    break;
                }

                if (message.Position > from)
                {
                    range.Add(record);
                }

                if (message.Position == lost.Through)
                {
                    done = true;
                    break;
                }
            }

            if (range.Count > 0)
            {
                // Letters of unreadable messages were written when the range was first read.
                var prepared = Prepare(replay, range, replay: true, epochs);
                var batch = new SinkBatch(_name, _target, prepared.Changes, new Dictionary<string, StreamPosition>(StringComparer.Ordinal));
                if (!applyLockHeld)
                {
                    await _applyLock.WaitAsync(CancellationToken.None);
                }

                try
                {
                    var result = await ApplyWithRetryAsync(async () => await _sink.ApplyAsync(batch, CancellationToken.None), cancellationToken);
                    Counters.AddApplied(result.Upserted);
                    Counters.AddDeleted(result.Deleted);
                    Counters.AddStale(result.Stale);
                }
                finally
                {
                    if (!applyLockHeld)
                    {
                        _applyLock.Release();
                    }
                }

                replayed += range.Count;
                Counters.AddReplayed(range.Count);
            }

            if (done)
            {
                LogLostReplayCount(_logger, _name, lost.Stream, replayed);
                return null;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: {Stream} entered source epoch {Epoch} after an earlier run of this process had applied changes of it in the old epoch and stopped before it applied them again; they were read again from the topic, after {From} through {Through}, and applied in epoch {Epoch}")]
    private static partial void LogLostReplayed(ILogger logger, string materializer, string stream, int epoch, string from, string through);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: {Stream}: {Count} message(s) read again to repair what an earlier run lost")]
    private static partial void LogLostReplayCount(ILogger logger, string materializer, string stream, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: replaying what an earlier run lost on {Stream} waits for the sink: {Reason}")]
    private static partial void LogLostReplayDeferred(ILogger logger, string materializer, string stream, string reason);
}
