using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>A member of a consistency group: a materializer as the group reads and writes it.</summary>
public sealed record GroupMember(
    string Name,
    MaterializerReading Reading,
    TargetSpec Target,
    IDeadLetterTarget DeadLetters,
    ISuppressionFilter Suppression,
    MaterializerCounters Counters);

/// <summary>
/// Runs a consistency group (<c>consistency.&lt;name&gt;</c>): one reader over every member's topics
/// and the transaction topic; each change decoded, mapped and checked against the suppression ledger
/// by its member as a materializer would; whole source transactions (<see cref="TransactionAssembler"/>)
/// applied in commit order in ONE sink transaction (<see cref="ISink.ApplyTransactionAsync"/>) with
/// every member's checkpoint and the transaction topic's (stored under <see cref="CheckpointName"/>).
/// A restart replays whatever no checkpoint passed: changes at or before a member's checkpoint only
/// count toward their transaction's completion, the rest are held again until it is whole; never
/// regress keeps any change applied twice harmless. The source is acknowledged only when nothing read
/// is held. Every checkpoint write is conditional (<see cref="SinkBatch.ExpectedCheckpoint"/>): a sink
/// that went back in time (restored, failed over to a replica that was behind) refuses it with
/// <see cref="SinkCheckpointChangedException"/>, which ends <see cref="RunAsync"/>; the caller then
/// reads the checkpoints again and resumes from what the sink holds, as a restart would.
/// </summary>
/// <param name="checkpoints">Per member (and <see cref="CheckpointName"/>), the positions the sink holds.</param>
/// <param name="isTransactionTopic">Whether a stream is (a partition of) the transaction topic.</param>
public sealed partial class ConsistencyGroupRunner(
    string name,
    ConsistencyGroupOptions options,
    IReadOnlyList<GroupMember> members,
    ISourceReader reader,
    ISink sink,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, StreamPosition>> checkpoints,
    Func<string, bool> isTransactionTopic,
    ILogger logger,
    TimeProvider time)
{
    private static readonly Meter GroupMeter = new(SyncMetrics.MeterName);
    private static readonly Counter<long> RelaxedCounter = GroupMeter.CreateCounter<long>(
        "consistency.relaxed", "{transaction}", "Source transactions (or parts of one) a consistency group applied without the whole transaction, by reason: oversized, missing-end, timeout.");
    private static readonly Counter<long> AppliedCounter = GroupMeter.CreateCounter<long>(
        "consistency.transactions", "{transaction}", "Source transactions a consistency group applied whole.");

    // Set in the order they are declared, so the null checks come before any use.
    private readonly ConsistencyGroupOptions _options = options ?? throw new ArgumentNullException(nameof(options));
    private readonly IReadOnlyList<GroupMember> _members = members ?? throw new ArgumentNullException(nameof(members));
    private readonly Dictionary<string, Dictionary<string, StreamPosition>> _stored =
        (checkpoints ?? throw new ArgumentNullException(nameof(checkpoints))).ToDictionary(
            c => c.Key, c => new Dictionary<string, StreamPosition>(c.Value, StringComparer.Ordinal), StringComparer.Ordinal);
    private readonly string _name = name;
    private readonly ISourceReader _reader = reader;
    private readonly ISink _sink = sink;
    private readonly ILogger _logger = logger;
    private readonly Func<string, bool> _isTransactionTopic = isTransactionTopic;
    private readonly TimeProvider _time = time;
    private readonly TransactionAssembler _assembler = new(options.MaxTransactionChanges, options.EndTimeout, TableOfMembers(options, members), time);
    private readonly int _readBatch = Math.Min(options.MaxTransactionChanges, members.Max(m => m.Reading.Options.BatchSize));
    private readonly TimeSpan _linger = members.Max(m => m.Reading.Options.Linger);
    private readonly RelaxedTransactionLog _relaxedLog = new(name, logger, time, RelaxedTransactionLog.DefaultInterval);

    /// <summary>Debezium names a table's topic <c>&lt;prefix&gt;.&lt;data_collection&gt;</c> (TopicNamingStrategy) and the
    /// transaction topic <c>&lt;prefix&gt;.transaction</c>: a table counts when a member reads its topic.</summary>
    private static Func<string, bool> TableOfMembers(ConsistencyGroupOptions options, IReadOnlyList<GroupMember> members)
    {
        var prefix = options.Transactions.EndsWith("transaction", StringComparison.Ordinal) ? options.Transactions[..^"transaction".Length] : options.Transactions + ".";
        return collection => members.Any(m => m.Reading.Reads(prefix + collection));
    }

    /// <summary>The checkpoint name of a group's own stream, the transaction topic.</summary>
    public static string CheckpointName(string group) => $"consistency.{group}";

    /// <summary>Source transactions applied whole (committed in the sink).</summary>
    public long Transactions { get; private set; }

    /// <summary>Source transactions, or parts of one, applied without the whole transaction.</summary>
    public long Relaxed { get; private set; }

    /// <summary>Whether the source's end is the end of its topics, so that transactions still held
    /// then are applied in parts (a changelog file); false for a backfill of topics that go on.</summary>
    public bool DrainAtEnd { get; init; } = true;

    /// <summary>Whether a stream is one partition of a partitioned topic (the source's naming).</summary>
    public Func<string, bool> IsPartition { get; init; } = _ => false;

    /// <summary>True once the source reported its end.</summary>
    public bool SourceEnded { get; private set; }

    /// <summary>How many times in a row the sink went back in time before this reading (0: it did not).
    /// While above 0 the group's own checkpoint carries <see cref="SinkCheckpointGuard.GroupHealingMark"/>,
    /// which <c>sync status</c> shows, until the group committed again past <see cref="HealUntil"/>.</summary>
    public int RollbacksInARow { get; init; }

    /// <summary>Per owner (member, or <see cref="CheckpointName"/>), the positions the group had written
    /// before the sink went back: the tables lack what was lost until the group is past them again.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, StreamPosition>>? HealUntil { get; init; }

    /// <summary>Whether the stored checkpoint marked the group as healing when this reading started (an
    /// earlier run stopped while it healed): then the mark is cleared at its first commit.</summary>
    public bool HealingAtStart { get; init; }

    /// <summary>Whether the heal mark is written (false in a shadow backfill: its checkpoints are the
    /// shadows', which <c>sync status</c> does not read, and it writes whole transactions only).</summary>
    public bool MarksHealing { get; init; } = true;

    private bool _markedHealing;

    /// <summary>Per owner, the positions the group wrote or found stored: where a heal must get back to.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, StreamPosition>> Written =>
        _stored.ToDictionary(s => s.Key, s => (IReadOnlyDictionary<string, StreamPosition>)new Dictionary<string, StreamPosition>(s.Value, StringComparer.Ordinal), StringComparer.Ordinal);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (RollbacksInARow > 0 && MarksHealing)
        {
            await MarkAsync(SinkCheckpointGuard.GroupHealingMark(RollbacksInARow));
            _markedHealing = true;
        }
        else
        {
            _markedHealing = HealingAtStart && MarksHealing;
        }

        await ResumeEpochsAsync();

        // With read-ahead (a member's readAhead above 0 and a source that keeps batches apart), the next
        // read runs while the sink applies the last one, as a lone materializer's reading stage does; its
        // records are accepted only after that apply, so the group's state has one thread at a time.
        _readsAhead = _reader.CanReadAhead && _members.Any(m => m.Reading.Options.ReadAhead > 0);
        using var applyFailed = new CancellationTokenSource();
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, applyFailed.Token);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var records = await TakeReadAsync(reading.Token);
                if (records is null)
                {
                    break;
                }

                await TakeDeclaredBumpsAsync(reading.Token);
                foreach (var record in records)
                {
                    Accept(record);
                }

                _assembler.TransactionTopicCaughtUp = await CaughtUpWithTransactionsAsync(records.Count, reading.Token);
                await ApplyReleasedAsync(CancellationToken.None, startReading: _readsAhead ? () => StartRead(reading.Token) : null);
            }

            // A read still running when the run stops: what it returns is applied below, not dropped.
            if (_nextRead is not null && await TakeReadAsync(reading.Token) is { } last)
            {
                foreach (var record in last)
                {
                    Accept(record);
                }
            }
        }
        catch
        {
            await applyFailed.CancelAsync();
            throw;
        }
        finally
        {
            if (_nextRead is { } abandoned)
            {
                // Read but never applied nor acknowledged: the source delivers it again.
                _nextRead = null;
                await abandoned.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        // What was read and is releasable is applied, so that stopping loses nothing; what is held
        // (incomplete transactions) is left to the next run, which reads it again, unless the source
        // ended: then nothing more of them can come.
        await ApplyReleasedAsync(CancellationToken.None, drain: SourceEnded && DrainAtEnd);
        _relaxedLog.Flush();
        if (_assembler.Buffered > 0)
        {
            LogLeftHeld(_logger, _name, _assembler.Buffered);
        }
    }

    private bool _readsAhead;
    private Task<IReadOnlyList<ReadRecord>?>? _nextRead;
    private int _unacknowledgedReads;

    /// <summary>Starts the next read and its decoding on their own task (the read may parse on the calling
    /// thread before its first await).</summary>
    private void StartRead(CancellationToken cancellationToken) =>
        _nextRead = Task.Run(() => ReadDecodedAsync(cancellationToken), CancellationToken.None);

    /// <summary>The records of the read started ahead, or of a new one; null when the source ended (then
    /// <see cref="SourceEnded"/>) or the run stops.</summary>
    private async Task<IReadOnlyList<ReadRecord>?> TakeReadAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<ReadRecord>? records;
        try
        {
            var read = _nextRead ?? ReadDecodedAsync(cancellationToken);
            _nextRead = null;
            records = await read;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        if (records is null)
        {
            SourceEnded = true;
            return null;
        }

        _unacknowledgedReads++;
        return records;
    }

    /// <summary>Tells the source that every batch read before the one read ahead is durable: one by one
    /// with read-ahead (the batch read ahead is newer and stays unacknowledged), all at once without.</summary>
    private async Task AcknowledgeAsync(CancellationToken cancellationToken)
    {
        if (!_readsAhead)
        {
            await _reader.AcknowledgeAsync(cancellationToken);
            _unacknowledgedReads = 0;
            return;
        }

        for (; _unacknowledgedReads > 0; _unacknowledgedReads--)
        {
            await _reader.AcknowledgeOldestBatchAsync(cancellationToken);
        }
    }

    private void Accept(ReadRecord read)
    {
        var record = read.Record;
        if (record.Error is { } error)
        {
            _members[0].DeadLetters.Add(error);
            _members[0].Counters.AddDeadLettered(1);
            return;
        }

        var message = record.Message!;
        var route = read.Route!;
        if (route.IsTransactionTopic)
        {
            if (IsPartition(message.Topic))
            {
                // The order of the END records is the source's commit order only on one partition: Debezium
                // keys them by transaction id, so a partitioned topic spreads them, and the group could
                // apply a later transaction before an earlier one, a state the source never had.
                throw new NotSupportedException($"consistency group {_name}: the transaction topic {_options.Transactions} is partitioned ({message.Topic}); the group needs it on one partition, where the order of its END records is the source's commit order (the member topics may be partitioned)");
            }

            AcceptBoundary(message);
            return;
        }

        for (var slot = 0; slot < route.Members.Length; slot++)
        {
            var i = route.Members[slot];
            AcceptChange(i, _members[i], message, read.Decodings![slot]);
        }
    }

    private readonly Dictionary<string, TopicRoute> _routes = new(StringComparer.Ordinal);

    /// <summary>Whether a stream is the transaction topic and which members read it, worked out once
    /// per stream: the filters compare names (and a pattern's regular expression) for every message.</summary>
    private TopicRoute RouteOf(string stream)
    {
        if (!_routes.TryGetValue(stream, out var route))
        {
            route = _isTransactionTopic(stream)
                ? new TopicRoute(true, [])
                : new TopicRoute(false, [.. Enumerable.Range(0, _members.Count).Where(i => _members[i].Reading.Reads(stream))]);
            _routes[stream] = route;
        }

        return route;
    }

    private sealed record TopicRoute(bool IsTransactionTopic, int[] Members);

    private void AcceptBoundary(SourceMessage message)
    {
        _lastBoundary = (message.Topic, message.Position);
        if (IsApplied(CheckpointName(_name), message))
        {
            return;
        }

        TransactionBoundary boundary;
        try
        {
            boundary = TransactionRecordDecoder.Decode(message);
        }
        catch (DecodeException e)
        {
            LogBadBoundary(_logger, _name, message.Describe(), e.Message);
            _assembler.Passed(message.Topic, message.Position);
            return;
        }

        if (boundary.Status == TransactionStatus.Begin)
        {
            _assembler.Begin(boundary);
        }
        else
        {
            _assembler.End(boundary);
        }
    }

    private void AcceptChange(int index, GroupMember member, SourceMessage message, Decoding decoding)
    {
        member.Counters.AddRead(1);
        ChangeEvent change;
        try
        {
            change = ChangeOf(decoding);
        }
        catch (NonRowMessageException skipped)
        {
            member.Counters.AddSkipped(skipped.Skipped.Kind, 1);
            _assembler.Passed(message.Topic, message.Position);
            return;
        }
        catch (Exception e) when (e is DecodeException or MapException)
        {
            member.DeadLetters.Add(e is MapException ? "map" : "decode", message, e.Message);
            member.Counters.AddDeadLettered(1);
            _assembler.Passed(message.Topic, message.Position);
            return;
        }

        if (IsApplied(member.Name, message))
        {
            _assembler.Applied(change);
            return;
        }

        change = InEpoch(member, change);
        switch (member.Suppression.Decide(change))
        {
            case SuppressionDecision.Drop:
                member.Counters.AddSuppressed(1);
                _assembler.Applied(change);
                _assembler.Passed(message.Topic, message.Position);
                return;
            case SuppressionDecision.DeleteInstead:
                member.Counters.AddSuppressed(1);
                change = SuppressionFilter.AsDelete(change);
                break;
            default:
                break;
        }

        _assembler.Change(index, change);
    }

    private bool IsApplied(string owner, SourceMessage message) =>
        _stored.TryGetValue(owner, out var stored) && stored.TryGetValue(message.Topic, out var position) && message.Position <= position;

    /// <param name="startReading">Called once the sink transaction is prepared (the source's cursor taken)
    /// and before it is applied: starts the read ahead.</param>
    private async Task ApplyReleasedAsync(CancellationToken cancellationToken, bool drain = false, Action? startReading = null)
    {
        var released = drain ? _assembler.Drain() : _assembler.Release();
        var changes = _members.Select(_ => new List<ChangeEvent>()).ToArray();
        var (whole, relaxed) = (0, 0);
        foreach (var transaction in released)
        {
            if (transaction.Relaxed)
            {
                relaxed++;
                var reason = ReasonName(transaction.Reason);
                RelaxedCounter.Add(1, new KeyValuePair<string, object?>("group", _name), new KeyValuePair<string, object?>("reason", reason));
                _relaxedLog.Add(transaction.Key, transaction.Changes.Count, reason);
            }
            else if (transaction.Reason == TransactionRelease.Complete)
            {
                whole++;
            }

            foreach (var held in transaction.Changes)
            {
                changes[held.Member].Add(held.Change);
            }
        }

        _relaxedLog.Tick();
        var checkpointable = _assembler.Checkpointable();
        var batches = new List<SinkBatch>();
        var owners = new List<int>();
        for (var i = 0; i < _members.Count; i++)
        {
            var member = _members[i];
            var checkpoint = Advanced(member.Name, checkpointable.Where(c => member.Reading.Reads(c.Key)));
            if (changes[i].Count == 0 && checkpoint.Count == 0)
            {
                continue;
            }

            var collapsed = Collapser.CollapseCounting(changes[i]);
            member.Counters.AddCollapsed(changes[i].Count - collapsed.Changes.Count);
            batches.Add(new SinkBatch(member.Name, member.Target, collapsed.Changes, WithEpochState(member, checkpoint)) { BeforeCommit = DeadLettersOf(member), ExpectedCheckpoint = Expected(member.Name, checkpoint) });
            owners.Add(i);
        }

        // A source that keeps its own cursor (a changelog file: one line cursor over every topic) resumes
        // after it whatever the topics' positions say, so it is stored only while nothing read is held.
        IEnumerable<KeyValuePair<string, StreamPosition>> cursor = _assembler.HoldsAny ? [] : _reader.Cursor;
        var own = Advanced(CheckpointName(_name), checkpointable.Where(c => _isTransactionTopic(c.Key)).Concat(cursor));
        if (own.Count > 0)
        {
            batches.Add(new SinkBatch(CheckpointName(_name), _members[0].Target, [], own) { ExpectedCheckpoint = Expected(CheckpointName(_name), own) });
        }

        if (batches.Count == 0)
        {
            Counted(whole, relaxed);
            return;
        }

        foreach (var member in _members)
        {
            if (member.DeadLetters is not IBatchDeadLetters)
            {
                await member.DeadLetters.FlushAsync(cancellationToken);
            }
        }

        startReading?.Invoke();
        var results = await _sink.ApplyTransactionAsync(batches, cancellationToken);
        Counted(whole, relaxed);
        if (_markedHealing && HealedPast())
        {
            await MarkAsync(SinkCheckpointGuard.HealedMark);
            _markedHealing = false;
            LogHealed(_logger, _name, RollbacksInARow);
        }
        for (var b = 0; b < batches.Count; b++)
        {
            foreach (var (stream, position) in batches[b].Checkpoint.Where(p => SinkCheckpointGuard.IsStream(p.Key)))
            {
                Stored(batches[b].Materializer)[stream] = position;
            }

            if (b < owners.Count)
            {
                var member = _members[owners[b]];
                member.Counters.AddApplied(results[b].Upserted);
                member.Counters.AddDeleted(results[b].Deleted);
                member.Counters.AddStale(results[b].Stale);
                member.Counters.AddDeadLettered(results[b].Rejected.Count);
                member.Counters.AddBatch();
                (member.DeadLetters as IBatchDeadLetters)?.Committed();
            }
        }

        await ReconcileDueAsync(cancellationToken);
        if (!_assembler.HoldsAny)
        {
            await AcknowledgeAsync(cancellationToken);
        }
    }

    /// <summary>Whether every position the group had written before the sink went back is stored again.</summary>
    private bool HealedPast() =>
        HealUntil is null || HealUntil.All(owner => owner.Value.All(stream => Stored(owner.Key).TryGetValue(stream.Key, out var now) && now >= stream.Value));

    /// <summary>Writes the heal mark into the group's own checkpoint, outside the conditional writes: it
    /// is not a stream position, and <c>sync status</c> reads it from the sink as a restart does.</summary>
    private async Task MarkAsync(StreamPosition mark) =>
        await _sink.ApplyAsync(
            new SinkBatch(CheckpointName(_name), _members[0].Target, [], new Dictionary<string, StreamPosition>(StringComparer.Ordinal) { [SinkCheckpointGuard.HealingStream] = mark }),
            CancellationToken.None);

    /// <summary>Counts transactions once their sink transaction committed: a refused one (the sink
    /// went back in time) is read and applied again, and the rollback limit asks whether a reading
    /// kept any.</summary>
    private void Counted(int whole, int relaxed)
    {
        Transactions += whole;
        Relaxed += relaxed;
        if (whole > 0)
        {
            AppliedCounter.Add(whole, new KeyValuePair<string, object?>("group", _name));
        }
    }

    /// <summary>Rejected rows go to the member's dead-letter target inside the transaction, durable
    /// before it commits (a dead-letter table: written in it).</summary>
    private static Func<IReadOnlyList<RejectedChange>, CancellationToken, ValueTask<IReadOnlyList<DeadLetterRow>>> DeadLettersOf(GroupMember member) =>
        async (rejected, cancellationToken) =>
        {
            foreach (var rejection in rejected)
            {
                member.DeadLetters.Add("apply", ToMessage(rejection.Change), rejection.Reason);
            }

            if (member.DeadLetters is IBatchDeadLetters table)
            {
                return table.PendingRows;
            }

            if (rejected.Count > 0)
            {
                await member.DeadLetters.FlushAsync(cancellationToken);
            }

            return [];
        };

    private static SourceMessage ToMessage(ChangeEvent change) => new()
    {
        Topic = change.Origin.Topic,
        Position = change.Origin.Position,
        Key = change.Origin.Key,
        Properties = change.Origin.Properties,
        PublishTime = change.Origin.PublishTime,
        EventTime = change.Origin.EventTime,
    };

    private Dictionary<string, StreamPosition> Advanced(string owner, IEnumerable<KeyValuePair<string, StreamPosition>> positions)
    {
        var stored = Stored(owner);
        return positions
            .Where(p => !stored.TryGetValue(p.Key, out var held) || held < p.Value)
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
    }

    /// <summary>The condition of a checkpoint write (<see cref="SinkBatch.ExpectedCheckpoint"/>): each
    /// stream at or past the position the group last wrote or read for it (the start when none), so
    /// that the sink keeps the greater position of each (<see cref="IMonotonicCheckpointSink"/>) and a
    /// sink that went back in time since refuses the write (<see cref="SinkCheckpointChangedException"/>,
    /// the whole sink transaction rolled back) instead of taking a checkpoint past changes it lost.</summary>
    private Dictionary<string, StreamPosition>? Expected(string owner, Dictionary<string, StreamPosition> checkpoint)
    {
        if (checkpoint.Count == 0)
        {
            return null;
        }

        var stored = Stored(owner);
        return checkpoint.Keys.ToDictionary(stream => stream, stream => stored.TryGetValue(stream, out var held) ? held : StreamPosition.Start, StringComparer.Ordinal);
    }

    private Dictionary<string, StreamPosition> Stored(string owner)
    {
        if (!_stored.TryGetValue(owner, out var stored))
        {
            _stored[owner] = stored = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        }

        return stored;
    }

    private static string ReasonName(TransactionRelease reason) => reason switch
    {
        TransactionRelease.Oversized => "oversized",
        TransactionRelease.MissingEnd => "missing-end",
        _ => "timeout",
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "consistency group {Group}: {At} is not a transaction BEGIN or END record, skipped: {Reason}")]
    private static partial void LogBadBoundary(ILogger logger, string group, string at, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "consistency group {Group}: healed: the sink holds again everything the group had applied before {Rollbacks} rollbacks in a row")]
    private static partial void LogHealed(ILogger logger, string group, int rollbacks);

    [LoggerMessage(Level = LogLevel.Information, Message = "consistency group {Group}: {Changes} changes of incomplete transactions are left for the next run, which reads them again")]
    private static partial void LogLeftHeld(ILogger logger, string group, int changes);
}
