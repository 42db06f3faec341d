using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>One materializer's loop: read a batch -> decode -> collapse per key -> apply with its
/// checkpoint -> acknowledge. What cannot be read, decoded or written goes to the dead-letter
/// target, flushed before the checkpoint that moves past it is stored.</summary>
public sealed partial class MaterializerRunner
{
    private readonly string _name;
    private readonly MaterializerOptions _options;
    private readonly ISourceReader _reader;
    private readonly IMessageDecoder _decoder;
    private readonly ISink _sink;
    private readonly IDeadLetterTarget _deadLetters;
    private readonly ILogger _logger;
    private readonly ChangeMapper _mapper;
    private readonly ISuppressionFilter _suppression;
    private readonly TombstoneRepair? _tombstoneRepair;
    private readonly TargetSpec _target;
    // Tombstone repair, reading side: the last position read per stream, and the streams read
    // since their end was last reached that may leave a repair waiting.
    private readonly Dictionary<string, StreamPosition> _lastRead = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unsettled = new(StringComparer.Ordinal);
    private bool _sourceEnded;
    private bool _firstReceived;

    /// <summary>True once the source reported its end; false while it runs and when a stop request ended the run first.</summary>
    public bool SourceEnded => _sourceEnded;

    public MaterializerRunner(
        string name,
        MaterializerOptions options,
        ISourceReader reader,
        IMessageDecoder decoder,
        ISink sink,
        IDeadLetterTarget deadLetters,
        ILogger logger,
        ISuppressionFilter? suppression = null,
        TombstoneRepair? tombstoneRepair = null)
    {
        _name = name;
        _options = options;
        _reader = reader;
        _decoder = decoder;
        _sink = sink;
        _deadLetters = deadLetters;
        _logger = logger;
        _mapper = new ChangeMapper(options);
        _suppression = suppression ?? NoSuppression.Instance;
        _tombstoneRepair = tombstoneRepair;
        if (tombstoneRepair is not null)
        {
            tombstoneRepair.Counters = Counters;
        }

        _target = new TargetSpec(options.Table) { Options = options.Target };
    }

    public MaterializerCounters Counters { get; } = new();

    /// <summary>The clock of degraded-since times and of the engine's own backoff.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>First wait before an engine-level attempt of a batch whose sink stays unavailable; doubled per attempt.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a stopping run waits for the source to say whether the streams with repairs
    /// still waiting are at their end, and for those repairs to be published.</summary>
    public TimeSpan StopCheckTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The source epochs of the materializer's streams, as its checkpoint stored them (a
    /// resume) or from the start (a backfill); see <see cref="SourceEpochs"/>.</summary>
    public SourceEpochs Epochs { get; init; } = new();

    private readonly object _prepareLock = new();

    /// <summary>Longest wait between two engine-level attempts of a batch whose sink stays unavailable.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many dead letters this run tolerates (<c>errors:</c>): past them, the run stops
    /// with an <see cref="ErrorPolicyException"/> once the batch that wrote the letter is committed.
    /// Tolerate all by default.</summary>
    public ErrorPolicy ErrorPolicy { get; init; } = ErrorPolicy.TolerateAll;

    /// <summary>Runs until the source ends or <paramref name="cancellationToken"/> fires. A batch
    /// already read when cancellation comes is still applied, so stopping loses nothing.
    /// <para>With <c>readAhead</c> above 0 (and a source that can keep batches apart) the stages
    /// overlap: one task receives, decodes, maps and collapses the next batches into a bounded
    /// channel while this one applies, checkpoints and acknowledges them in order. Dead letters,
    /// tombstone repairs and counters are handled on the applying side only, in batch order, so
    /// everything after the read is exactly as in the sequential loop.</para></summary>
    public Task RunAsync(CancellationToken cancellationToken) => RunWatchedAsync(RunLoopAsync, cancellationToken);

    private async Task RunLoopAsync(CancellationToken cancellationToken)
    {
        await ReconcileAsync(Epochs, PendingReconciliations(Epochs), CancellationToken.None);
        await InheritEpochTraceAsync(CancellationToken.None);
        await SweepSharedAsync(CancellationToken.None);
        if (_options.ReadAhead > 0 && _reader.CanReadAhead)
        {
            await RunPipelinedAsync(cancellationToken);
            return;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            var batch = await ReadAndPrepareAsync(cancellationToken);
            if (batch is null)
            {
                break;
            }

            await ApplyAsync(batch, readAhead: false, cancellationToken);
        }

        await PublishRepairsAtStopAsync();
    }

    private async Task RunPipelinedAsync(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<PreparedBatch>(new BoundedChannelOptions(_options.ReadAhead)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        // Stops the reading stage when applying fails, so that it does not wait forever on a full
        // channel. A stop of the run only ends the reads: what was read is still written, drained
        // and applied (graceful shutdown).
        using var applyFailed = new CancellationTokenSource();
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, applyFailed.Token);
        Exception? readFailure = null;
        var reading = Task.Run(
            async () =>
            {
                try
                {
                    while (!stopReading.IsCancellationRequested)
                    {
                        var batch = await ReadAndPrepareAsync(stopReading.Token);
                        if (batch is null)
                        {
                            break;
                        }

                        await channel.Writer.WriteAsync(batch, applyFailed.Token);
                        Counters.SetBatchesWaiting(channel.Reader.Count);
                    }
                }
                catch (OperationCanceledException) when (applyFailed.IsCancellationRequested)
                {
                    // Read but never applied nor acknowledged: the source delivers it again.
                }
                catch (Exception e)
                {
                    readFailure = e;
                }
                finally
                {
                    channel.Writer.TryComplete();
                }
            },
            CancellationToken.None);

        try
        {
            await foreach (var batch in channel.Reader.ReadAllAsync(CancellationToken.None))
            {
                Counters.SetBatchesWaiting(channel.Reader.Count);
                await ApplyAsync(batch, readAhead: true, cancellationToken);
            }
        }
        catch
        {
            await applyFailed.CancelAsync();
            throw;
        }
        finally
        {
            await reading;
            Counters.SetBatchesWaiting(0);
        }

        if (readFailure is not null)
        {
            // Every batch read before the failure was applied and acknowledged above.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(readFailure);
        }

        await PublishRepairsAtStopAsync();
    }

    /// <summary>When the run stops or the source ends, the repairs still waiting are published if
    /// their streams are at their end now (the reading stage has finished, so the reader is free to
    /// ask). The rest are given up: their deletes are acknowledged, so no restart brings them back,
    /// and they stay the "not repaired" deletes that <c>sync audit topics</c> reports.</summary>
    private async Task PublishRepairsAtStopAsync()
    {
        if (_tombstoneRepair is not { HasPending: true } repair)
        {
            return;
        }

        var caughtUp = new List<string>();
        using var patience = new CancellationTokenSource(StopCheckTimeout);
        foreach (var stream in repair.PendingStreams)
        {
            try
            {
                if (_sourceEnded || (_lastRead.TryGetValue(stream, out var last) && await _reader.IsAtEndAsync(stream, last, patience.Token)))
                {
                    caughtUp.Add(stream);
                }
            }
            catch (OperationCanceledException) when (patience.IsCancellationRequested)
            {
                break;
            }
        }

        try
        {
            // Bounded too: a broker that is gone must not hold up the stop.
            await repair.PublishAsync(caughtUp, patience.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || patience.IsCancellationRequested)
        {
            LogRepairsFailedAtStop(_logger, _name, e.Message);
        }

        if (repair.HasPending)
        {
            LogRepairsGivenUp(_logger, _name, repair.PendingStreams.Count);
        }
    }

    /// <summary>Receive -> decode -> map -> collapse. Touches the reader, decoder, mapper and
    /// suppression filter only; null when the source ended or the run was cancelled before a read.</summary>
    private async Task<PreparedBatch?> ReadAndPrepareAsync(CancellationToken cancellationToken) =>
        await ReadAndPrepareAsync(_reader, replay: false, cancellationToken);

    /// <summary>Decodes, maps, orders and collapses a batch read. Under a lock: a heal's replay
    /// prepares its batches on its own task beside the live loop, and the decoder, the mapper, the
    /// suppression filter and the caught-up bookkeeping are not made for two threads at once.</summary>
    /// <param name="replayEpochs">The epochs a replay other than the heal's orders by (a lost repair's).</param>
    private PreparedBatch Prepare(ISourceReader reader, IReadOnlyList<SourceRecord> records, bool replay, SourceEpochs? replayEpochs = null)
    {
        lock (_prepareLock)
        {
            var changes = new List<ChangeEvent>(records.Count);
            var checkpoint = new Dictionary<string, StreamPosition>(reader.Cursor, StringComparer.Ordinal);
            var epochs = replay ? replayEpochs ?? _replayEpochs ?? Epochs : Epochs;
            var prepared = new PreparedBatch(records, checkpoint) { Replay = replay, Epochs = epochs };
            if (_tombstoneRepair is not null && !replay)
            {
                // Every keyed message is observed: one array of the batch's size, not a doubling series.
                prepared.Observed.EnsureCapacity(records.Count);
            }

            foreach (var record in records)
            {
                if (record.Error is { } error)
                {
                    prepared.Letters.Add(new Letter("read", null, error, error.Reason));
                    continue;
                }

                var message = record.Message!;
                checkpoint[message.Topic] = message.Position;
                ChangeEvent? change = null;
                if (TombstoneRepair.IsRepairTombstone(message))
                {
                    // Its op=d was applied already, and the tombstone may have landed after a newer
                    // value of the key (see TombstoneRepair): it never deletes anything from a sink.
                    Observe(prepared, message, null);
                    continue;
                }

                try
                {
                    var decoded = Decode(VersionedAsOriginal(message), prepared);
                    if (decoded is null)
                    {
                        Observe(prepared, message, null);
                        continue;
                    }

                    change = ApplyEpoch(epochs, _mapper.Map(decoded), replay);
                    var kept = Suppress(change);
                    if (!ReferenceEquals(kept, change))
                    {
                        // Dropped, or a delete that is ours, not the topic's: tombstone repair sees the message
                        // as it is on the topic (a live value of the key), never as an op=d.
                        prepared.Suppressed++;
                        if (kept is not null)
                        {
                            changes.Add(kept);
                        }

                        Observe(prepared, message, change);
                        continue;
                    }

                    changes.Add(change);
                }
                catch (DecodeException e)
                {
                    prepared.Letters.Add(new Letter("decode", message, null, e.Message));
                }
                catch (MapException e)
                {
                    prepared.Letters.Add(new Letter("map", message, null, e.Message));
                }

                Observe(prepared, message, change);
            }

            lock (epochs)
            {
                epochs.WriteTo(checkpoint);
                prepared.Reconcile.AddRange(PendingReconciliations(epochs));
            }

            var collapsed = Collapser.CollapseCounting(changes);
            prepared.Changes = collapsed.Changes;
            prepared.UnavailableNulled = collapsed.UnavailableNulled;
            prepared.CollapsedAway = changes.Count - prepared.Changes.Count;
            return prepared;
        }
    }

    /// <param name="replay">The batch comes from a heal's replay: no tombstone repair, no acknowledgement.</param>
    private async Task<PreparedBatch?> ReadAndPrepareAsync(ISourceReader reader, bool replay, CancellationToken cancellationToken)
    {
        IReadOnlyList<SourceRecord>? records;
        try
        {
            records = await reader.ReadBatchAsync(_options.BatchSize, _options.Linger, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        if (records is null)
        {
            if (!replay)
            {
                _sourceEnded = true;
            }

            return null;
        }

        if (!replay && !_firstReceived)
        {
            foreach (var record in records)
            {
                if (record.Message is { } first)
                {
                    _firstReceived = true;
                    MaterializerLog.FirstMessage(_logger, _name, first.Topic, first.Position.ToString());
                    break;
                }
            }
        }

        if (!await RefreshSuppressionAsync(cancellationToken))
        {
            return null;
        }

        if (!replay)
        {
            await TakeDeclaredBumpsAsync(cancellationToken);
        }

        var prepared = Prepare(reader, records, replay);
        if (_unsettled.Count > 0 && !replay)
        {
            await CheckCaughtUpAsync(prepared, cancellationToken);
        }

        return prepared;
    }

    /// <summary>Brings the suppression filter up to date before a batch is decided. While the ledger
    /// cannot be read, nothing is applied (an erased subject must never come back because its ledger
    /// was out of reach): the materializer reports degraded and tries again with backoff, holding
    /// the batch it read. False when stopped meanwhile.</summary>
    private async Task<bool> RefreshSuppressionAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        var failing = false;
        while (true)
        {
            try
            {
                await _suppression.RefreshAsync(cancellationToken);
                if (failing)
                {
                    Counters.Recover();
                    MaterializerLog.LedgerBack(_logger, _name);
                }

                return true;
            }
            catch (LedgerUnavailableException e)
            {
                Counters.Degrade("ledger", e.Message, Time.GetUtcNow());
                if (!failing)
                {
                    MaterializerLog.LedgerUnavailable(_logger, _name, e.Message, Durations.Format(backoff.Delay));
                    failing = true;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            try
            {
                await Task.Delay(backoff.Delay, Time, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            backoff.Increase();
        }
    }

    /// <summary>The decoded change; null for a message that is not a row change, counted by kind
    /// and skipped. With <c>messages: keep</c> a logical decoding message is an upsert of its own row
    /// instead, and a row change does not belong in the materializer's table.</summary>
    private ChangeEvent? Decode(SourceMessage message, PreparedBatch prepared)
    {
        ChangeEvent change;
        try
        {
            change = _decoder.Decode(message);
        }
        catch (NonRowMessageException e)
        {
            if (_options.Messages == MessageHandling.Keep && e.Skipped.Message is { } kept)
            {
                // A message without an lsn, or whose content does not decode, is a DecodeException: a letter.
                return NonRowMessages.ToChange(kept, message.ToOrigin(), _options.Connector.BinaryHandlingMode);
            }

            prepared.Skipped[(int)e.Skipped.Kind]++;
            return null;
        }

        return _options.Messages == MessageHandling.Keep
            ? throw new MapException($"{(change.Source?.Table is { } table ? $"a row change of table {table}" : "a row change")} does not belong in {_options.Table}: this materializer keeps logical decoding messages (messages: keep); narrow its topics to the connector's <prefix>.message topic")
            : change;
    }

    /// <summary>Hands every keyed message to the repair rule (on the applying side, in order), and
    /// notes where each stream was read up to. Nothing when repair is off.</summary>
    private void Observe(PreparedBatch prepared, SourceMessage message, ChangeEvent? change)
    {
        if (_tombstoneRepair is null || prepared.Replay)
        {
            return;
        }

        _lastRead[message.Topic] = message.Position;
        prepared.Observed.Add((message, change));
        if (TombstoneRepair.MayLeaveWork(message, change))
        {
            _unsettled.Add(message.Topic);
        }
    }

    /// <summary>Asks the reader, right after this batch was read, which streams that may have a
    /// repair waiting hold nothing more: every message they held at that moment is in this batch or
    /// an earlier one, so once this batch is applied the repair rule has seen them all. Asked after
    /// every batch while such streams exist; the reader answers no cheaply while it is behind.</summary>
    private async Task CheckCaughtUpAsync(PreparedBatch prepared, CancellationToken cancellationToken)
    {
        foreach (var stream in _unsettled.ToList())
        {
            try
            {
                if (_lastRead.TryGetValue(stream, out var last) && await _reader.IsAtEndAsync(stream, last, cancellationToken))
                {
                    prepared.CaughtUp.Add(stream);
                    _unsettled.Remove(stream);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: the batch is still applied; the stop asks once more.
                return;
            }
        }
    }

    /// <summary>A copy that a repair published again (<see cref="TombstoneRepair.RestoredProperty"/>) or
    /// that an erase published without its before image (<see cref="BeforeImageScrubber.ScrubbedProperty"/>)
    /// is decoded at the position of the message it copies, so that it carries that message's
    /// version (the same LSN, or for changes without one the same position): a sink that holds that
    /// state or a newer one (a delete published in between) treats it as already applied. A restored
    /// copy may be scrubbed in turn; its restored position is the older one, the message it repeats.</summary>
    private static SourceMessage VersionedAsOriginal(SourceMessage message) =>
        (TombstoneRepair.RestoredFrom(message) ?? BeforeImageScrubber.ScrubbedFrom(message)) is not { } original ? message : new SourceMessage
        {
            Topic = message.Topic,
            Position = original,
            Key = message.Key,
            Value = message.Value,
            HasValue = message.HasValue,
            Properties = message.Properties,
            PublishTime = message.PublishTime,
            EventTime = message.EventTime,
        };

    /// <summary>Dead letters -> apply with checkpoint -> tombstone repair -> acknowledge -> counters.
    /// A replayed batch (a heal) is applied the same way, without checkpoint, repair or acknowledgement.</summary>
    private async Task ApplyAsync(PreparedBatch prepared, bool readAhead, CancellationToken cancellationToken)
    {
        var records = prepared.Records;
        var notes = new List<string>(prepared.Letters.Count);
        foreach (var letter in prepared.Letters)
        {
            notes.Add(letter.Error is { } read
                ? $"{read.Location} ({letter.Stage}: {letter.Reason})"
                : $"message {letter.Message!.Describe()} ({letter.Stage}: {letter.Reason})");
            if (letter.Error is { } error)
            {
                LogUnreadable(_logger, _name, error.Location, error.Reason);
                _deadLetters.Add(error);
            }
            else if (letter.Stage == "decode")
            {
                LogUndecodable(_logger, _name, letter.Message!.Describe(), letter.Reason);
                _deadLetters.Add(letter.Stage, letter.Message!, letter.Reason);
            }
            else
            {
                LogUnmappable(_logger, _name, letter.Message!.Describe(), letter.Reason);
                _deadLetters.Add(letter.Stage, letter.Message!, letter.Reason);
            }
        }

        foreach (var (message, change) in prepared.Observed)
        {
            _tombstoneRepair!.Observe(message, change);
        }

        // Dead letters are durable before the checkpoint moves past their messages: flushed now,
        // or, for a dead-letter table, written by the sink in the batch's own transaction.
        var table = _deadLetters as IBatchDeadLetters;
        if (table is null)
        {
            await _deadLetters.FlushAsync(CancellationToken.None);
        }

        var beforeApply = table?.Pending ?? 0;
        var batch = new SinkBatch(_name, _target, prepared.Changes, prepared.Checkpoint)
        {
            BeforeCommit = async (rejections, _) =>
            {
                if (rejections.Count > 0)
                {
                    // A retried attempt reports its rejections again; those of the rolled-back one go.
                    table?.KeepFirst(beforeApply);
                    notes.RemoveRange(prepared.Letters.Count, notes.Count - prepared.Letters.Count);
                    foreach (var rejected in rejections)
                    {
                        var origin = rejected.Change.Origin;
                        notes.Add($"message {origin.Topic} @ {origin.Position} (apply: {rejected.Reason})");
                        LogRejected(_logger, _name, $"{origin.Topic} @ {origin.Position}", rejected.Reason);
                        _deadLetters.Add("apply", FindMessage(records, rejected.Change), rejected.Reason);
                    }
                }

                if (table is not null)
                {
                    return table.PendingRows;
                }

                if (rejections.Count > 0)
                {
                    await _deadLetters.FlushAsync(CancellationToken.None);
                }

                return [];
            },
            Retrying = failure => Counters.Degrade("sink", failure, Time.GetUtcNow()),
        };
        var result = await ApplyGuardedAsync(batch, prepared, cancellationToken);
        table?.Committed();
        Counters.Recover();
        await ReconcileAsync(prepared.Epochs, prepared.Reconcile, cancellationToken);
        if (prepared.Replay)
        {
            Counters.AddReplayed(records.Count);
        }
        else if (_tombstoneRepair is not null && prepared.CaughtUp.Count > 0)
        {
            // Before the acknowledgement, so that a crash in between repeats this batch's repairs.
            await _tombstoneRepair.PublishAsync(prepared.CaughtUp, CancellationToken.None);
        }

        if (prepared.Replay)
        {
            // A heal's reader keeps no position on the broker: nothing to acknowledge.
        }
        else if (readAhead)
        {
            await _reader.AcknowledgeOldestBatchAsync(CancellationToken.None);
        }
        else
        {
            await _reader.AcknowledgeAsync(CancellationToken.None);
        }

        if (!prepared.Replay)
        {
            Counters.AddRead(records.Count);
            // The acknowledgement may have moved the mark-delete position past a new epoch's snapshot; a
            // sweep waits for this process's repairs, so they come first.
            await ApplyEpochRepairsAsync(readAgreements: false, applyLockHeld: false, CancellationToken.None);
            await SweepSharedAsync(CancellationToken.None);
        }

        Counters.AddCollapsed(prepared.CollapsedAway);
        Counters.AddApplied(result.Upserted);
        Counters.AddDeleted(result.Deleted);
        Counters.AddStale(result.Stale);
        Counters.AddUnavailable(prepared.UnavailableNulled + result.Unavailable);
        var lettersBefore = Counters.DeadLettered;
        Counters.AddDeadLettered(prepared.Letters.Count + result.Rejected.Count);
        Counters.AddSuppressed(prepared.Suppressed);
        for (var kind = 0; kind < prepared.Skipped.Length; kind++)
        {
            Counters.AddSkipped((NonRowKind)kind, prepared.Skipped[kind]);
        }

        Counters.AddBatch();
        if (ErrorPolicy.Stops(Counters.DeadLettered))
        {
            // The letters are durable and the batch committed and acknowledged: a restart neither
            // reads the message again nor writes its letter twice.
            var crossing = notes[(int)Math.Clamp(ErrorPolicy.MaxDeadLetters!.Value - lettersBefore, 0, notes.Count - 1)];
            throw new ErrorPolicyException(_name, ErrorPolicy, Counters.DeadLettered, crossing, _deadLetters.Description);
        }
    }

    /// <summary>Applies the batch; when the sink gives up on transient errors
    /// (<see cref="ITransientSinkFailure"/>: the store stayed unreachable through its own retries),
    /// keeps the batch and tries again with capped, jittered backoff, degraded meanwhile, until it
    /// commits or the run stops (then the batch stays unacknowledged and comes again on restart).</summary>
    private async Task<ApplyResult> ApplyWithRetryAsync(Func<Task<ApplyResult>> attempt, CancellationToken cancellationToken)
    {
        var backoff = new Backoff(FirstRetryDelay, MaxRetryDelay);
        while (true)
        {
            try
            {
                return await attempt();
            }
            catch (Exception e) when (e is ITransientSinkFailure)
            {
                Counters.Degrade("sink", e.Message, Time.GetUtcNow());
                LogSinkUnavailable(_logger, _name, e.Message, backoff.Delay.TotalSeconds);
            }

            await Task.Delay(backoff.Jittered(), Time, cancellationToken);
            backoff.Increase();
        }
    }

    /// <summary>The message a rejected change was decoded from (a rare path: a linear search).</summary>
    private static SourceMessage FindMessage(IReadOnlyList<SourceRecord> records, ChangeEvent change)
    {
        foreach (var record in records)
        {
            if (record.Message is { } message && message.Position == change.Origin.Position
                && string.Equals(message.Topic, change.Origin.Topic, StringComparison.Ordinal))
            {
                return message;
            }
        }

        throw new InvalidOperationException($"the sink rejected a change from {change.Origin.Topic} @ {change.Origin.Position} that is not in the batch");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: {Location} cannot be read: {Reason}; sent to the dead-letter target")]
    private static partial void LogUnreadable(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: message {Location} cannot be decoded: {Reason}; sent to the dead-letter target")]
    private static partial void LogUndecodable(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: message {Location} cannot be mapped: {Reason}; sent to the dead-letter target")]
    private static partial void LogUnmappable(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: change from {Location} cannot be written: {Reason}; sent to the dead-letter target")]
    private static partial void LogRejected(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: publishing the tombstone repairs at the stop failed: {Reason}")]
    private static partial void LogRepairsFailedAtStop(ILogger logger, string materializer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: stopping with tombstone repairs waiting on {Streams} stream(s) that were not at their end; those deletes stay unrepaired (sync audit topics reports them)")]
    private static partial void LogRepairsGivenUp(ILogger logger, string materializer, int streams);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: degraded, the sink is unavailable: {Reason}; the batch is kept and tried again in {Seconds:0.#} s")]
    private static partial void LogSinkUnavailable(ILogger logger, string materializer, string reason, double seconds);

    /// <summary>A letter found while preparing a batch, sent to the dead-letter target when the batch is applied.</summary>
    private sealed record Letter(string Stage, SourceMessage? Message, SourceError? Error, string Reason);

    /// <summary>A batch read, decoded, mapped and collapsed, waiting for the sink.</summary>
    private sealed class PreparedBatch(IReadOnlyList<SourceRecord> records, Dictionary<string, StreamPosition> checkpoint)
    {
        public IReadOnlyList<SourceRecord> Records { get; } = records;

        public Dictionary<string, StreamPosition> Checkpoint { get; } = checkpoint;

        public IReadOnlyList<ChangeEvent> Changes { get; set; } = [];

        public int CollapsedAway { get; set; }

        /// <summary>Collapsed changes whose unavailable columns became null after a delete of their key in the batch.</summary>
        public int UnavailableNulled { get; set; }

        public int Suppressed { get; set; }

        /// <summary>Messages that are not row changes, skipped, by <see cref="NonRowKind"/>.</summary>
        public int[] Skipped { get; } = new int[Enum.GetValues<NonRowKind>().Length];

        public List<Letter> Letters { get; } = [];

        public List<(SourceMessage Message, ChangeEvent? Change)> Observed { get; } = [];

        /// <summary>Streams whose new epoch's snapshot is complete once this batch is applied: rows the
        /// snapshot did not hold are deleted then (<see cref="SourceEpochs"/>).</summary>
        public List<(string Stream, StreamEpoch Epoch)> Reconcile { get; } = [];

        /// <summary>The source epochs the batch was ordered by: the live ones, or a heal's replay's.</summary>
        public required SourceEpochs Epochs { get; init; }

        /// <summary>Streams found at their end right after this batch was read (tombstone repair).</summary>
        public List<string> CaughtUp { get; } = [];

        /// <summary>Read by a heal's replay, not from the live subscription.</summary>
        public bool Replay { get; init; }
    }
}
