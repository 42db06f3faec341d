namespace Sync.Engine.Sinks;

/// <summary>A materialization target. A sink applies a collapsed batch and returns only when the
/// batch and its checkpoint are durable; only the engine acknowledges the source.</summary>
public interface ISink : IAsyncDisposable
{
    /// <summary>The sink's name in the config.</summary>
    string Name { get; }

    /// <summary>The last applied position per stream (topic) of a materializer; empty when it never ran.</summary>
    ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken);

    /// <summary>Applies the batch: upserts and deletes that are not older than the state held
    /// (never regress), and the batch's checkpoint, atomically where the sink can.</summary>
    ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken);

    /// <summary>Applies the batches of several materializers of this sink (a consistency group's source
    /// transaction, or several) in ONE sink transaction, each as <see cref="ApplyAsync"/> would (never
    /// regress, rejections, <see cref="SinkBatch.BeforeCommit"/>, <see cref="SinkBatch.ExpectedCheckpoint"/>)
    /// with each batch's checkpoint, so that a reader sees all of them or none. Returns one result per
    /// batch, in order. This default cannot: it throws <see cref="NotSupportedException"/>.</summary>
    ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"sink {Name} cannot apply several materializers' batches in one transaction (consistency groups need a postgres or sqlite sink)");

    /// <summary>Removes every row of the target whose column equals the value (a key column: the row
    /// of that key; another column: every row that holds it), leaving an erasure marker
    /// (<see cref="ChangeVersion.Erased"/>) for each key so that no replay and no change still in
    /// flight brings it back. Returns how many rows were removed.</summary>
    ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken);

    /// <summary>How many rows of the target match (0 after a complete erase).</summary>
    ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken);

    /// <summary><see cref="EraseAsync"/> for many values of one column at once (a batch erase), with an
    /// erasure marker for each removed key and, when <see cref="SubjectMatches.IsKey"/> and the target is
    /// keyed by that column alone, for each value that has no row too (a key already deleted, or never
    /// written), so that a change still in flight cannot create it. Returns the rows removed per value, in
    /// the order of <see cref="SubjectMatches.Values"/>; a row is counted once, at the first value that
    /// matches it (a repeated value counts 0), so the counts add up to the rows removed. This default
    /// calls <see cref="EraseAsync"/> per value (no markers for absent keys); sinks override it.</summary>
    async ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(matches);
        var counts = new long[matches.Values.Count];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = await EraseAsync(target, new SubjectMatch(matches.Column, matches.Values[i]), cancellationToken);
        }

        return counts;
    }

    /// <summary><see cref="EraseManyAsync"/> for several targets of this sink (the tables of a consistency
    /// group's members) in ONE sink transaction, erasure markers included, so that a reader sees the
    /// subject in all of them or in none. Returns, per target in order, the rows removed per value. This
    /// default cannot: it throws <see cref="NotSupportedException"/>.</summary>
    ValueTask<IReadOnlyList<IReadOnlyList<long>>> EraseTogetherAsync(IReadOnlyList<(TargetSpec Target, SubjectMatches Matches)> erasures, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"sink {Name} cannot erase from several tables in one transaction (consistency groups need a postgres or sqlite sink)");

    /// <summary><see cref="CountAsync"/> for many values of one column at once: rows matching, per
    /// value in the order of <see cref="SubjectMatches.Values"/>, each row counted once, at the first
    /// value that matches it. This default calls <see cref="CountAsync"/> per value; sinks override it.</summary>
    async ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(matches);
        var counts = new long[matches.Values.Count];
        var seen = new HashSet<FieldValue>();
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = seen.Add(matches.Values[i]) ? await CountAsync(target, new SubjectMatch(matches.Column, matches.Values[i]), cancellationToken) : 0;
        }

        return counts;
    }

    /// <summary>Per value of <see cref="SubjectMatches.Values"/>, in order: null, or why the value can
    /// match no row of the target, however the target is filled — "cannot match (long)" for text that is
    /// not a number, compared with a column of that type. Such a value counts 0 in
    /// <see cref="CountManyAsync"/> and <see cref="EraseManyAsync"/> and never fails the other values;
    /// the erasure report names it. This default knows of none.</summary>
    ValueTask<IReadOnlyList<string?>> CannotMatchAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(matches);
        return ValueTask.FromResult<IReadOnlyList<string?>>(new string?[matches.Values.Count]);
    }

    /// <summary>Leaves an erasure marker (<see cref="ChangeVersion.Erased"/> of the version held, or of a
    /// new erasure stream) for each key of the target that holds no row: the keys of the messages an
    /// erase tombstoned, which a running materializer may have deleted already, leaving an ordinary
    /// delete marker at the key's last version that a later change would pass. A key that holds a row
    /// is left alone: the erase deleted it if it matched the subject, so a row now is someone else's.
    /// Returns the markers written or converted; this default writes none and says it cannot.</summary>
    ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken) =>
        ValueTask.FromResult(MarkOutcome.Unsupported);

    /// <summary>Snapshot reconciliation of a new source epoch (Runtime.SourceEpochs): deletes the rows of
    /// the target whose stored version was last written from <paramref name="stream"/> with a source
    /// order below <paramref name="epochStart"/> (so neither the epoch's snapshot nor a later change of
    /// the epoch wrote them), leaving a delete marker at order <c>epochStart</c> (above the old epoch's highest order, <c>epochStart - 1</c>, which a marker just below the epoch would only tie) so that a replay of
    /// the old epoch cannot bring them back while every change of the new epoch passes. Erasure markers
    /// and rows of other streams are left alone. Works through the target in bounded pages. Returns
    /// the rows deleted; this default cannot (null).</summary>
    ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken) =>
        ValueTask.FromResult<long?>(null);

    /// <summary>Stores each of <paramref name="entries"/> in the materializer's checkpoint unless an entry
    /// of that name is stored already (a stored one is never replaced), in one step, and returns what the
    /// checkpoint holds under those names afterwards. Two callers that race with the same names in the
    /// same order both get the entries of the one that stored the first name first: the way the processes
    /// of a shared subscription agree on a source epoch (Runtime.SourceEpochs.AgreedPrefix). Null when the
    /// sink cannot (this default).</summary>
    ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyDictionary<string, StreamPosition>?>(null);

    /// <summary>The text of <paramref name="column"/> in every live row of the target (null columns left
    /// out), streamed a page at a time so that memory stays flat whatever the size of the target: what
    /// <c>ledger verify</c> hashes to find erased subjects that came back. A row changed during the sweep
    /// may be seen once, twice or not at all. This default cannot sweep (null).</summary>
    IAsyncEnumerable<string>? ScanColumn(TargetSpec target, string column, CancellationToken cancellationToken) => null;

    /// <summary>Every key the target holds a row or a delete marker of, with the row's values as the
    /// sink reads them back and the version stored with it, streamed a page at a time so that memory stays
    /// flat whatever the size of the target: what <c>sync verify</c> compares with the changelog. The
    /// order is the sink's own (the verifier partitions by key hash and needs none). A row changed during
    /// the sweep may be seen once, twice or not at all. This default cannot sweep (null).</summary>
    IAsyncEnumerable<Verify.StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken) => null;

    /// <summary>Called when the materializer has a stored checkpoint: null when its target exists (the sink
    /// then records it as the materializer's target) or when the sink never recorded a target for the
    /// materializer (no row written yet: the first row creates it); otherwise the target is missing while
    /// the checkpoint belongs to the target recorded before (its schema or table changed, or it was
    /// dropped), and resuming would leave it without every change before the checkpoint. This default
    /// cannot tell (null).</summary>
    ValueTask<MissingTarget?> FindMissingTargetAsync(string materializer, TargetSpec target, CancellationToken cancellationToken) =>
        ValueTask.FromResult<MissingTarget?>(null);
}

/// <summary>A materializer's <paramref name="Target"/> does not exist, but its checkpoint was stored
/// while it wrote to <paramref name="Recorded"/> (the same name when the table was dropped).</summary>
public sealed record MissingTarget(string Target, string Recorded);

/// <summary>What <see cref="ISink.MarkErasedManyAsync"/> did: how many erasure markers it wrote or
/// converted, and whether the sink can write them at all.</summary>
public sealed record MarkOutcome(long Written, bool Supported)
{
    public static MarkOutcome Unsupported { get; } = new(0, false);

    /// <summary>Why the sink could not mark the target's keys (safe to show: no key, no value), when it says.</summary>
    public string? Reason { get; init; }

    /// <summary>The sink cannot mark this target's keys, for <paramref name="reason"/>.</summary>
    public static MarkOutcome UnsupportedBecause(string reason) => new(0, false) { Reason = reason };
}

/// <summary>Rows whose <paramref name="Column"/> (the sink's column name) equals any of
/// <paramref name="Values"/>, each compared as <see cref="SubjectMatch"/> compares.</summary>
public sealed record SubjectMatches(string Column, IReadOnlyList<FieldValue> Values)
{
    /// <summary>The column is the subject's key column (a subject bound by <c>key:</c>): where the
    /// target is keyed by that column alone, a value names a key whether or not a row holds it, so an
    /// erase leaves a marker for it either way.</summary>
    public bool IsKey { get; init; }
}

/// <summary>Rows whose <paramref name="Column"/> (the sink's column name) equals <paramref name="Value"/>,
/// compared as the column's type would (an integer value matches a text column holding its digits).</summary>
public sealed record SubjectMatch(string Column, FieldValue Value);

/// <summary>Where in a sink a materializer writes.</summary>
/// <param name="Table">Table (or key prefix, or index) name.</param>
public sealed record TargetSpec(string Table)
{
    /// <summary>The sink-specific target settings bound from the materializer's <c>target:</c>
    /// block (an instance of the sink factory's <see cref="ISinkFactory.TargetOptionsType"/>), or null.</summary>
    public object? Options { get; init; }
}

/// <summary>A collapsed batch: at most one change per key (the newest), plus truncates in order,
/// and the positions to checkpoint once it is applied.</summary>
public sealed record SinkBatch(
    string Materializer,
    TargetSpec Target,
    IReadOnlyList<ChangeEvent> Changes,
    IReadOnlyDictionary<string, StreamPosition> Checkpoint)
{
    /// <summary>Called inside the batch's transaction, before it commits, with the batch's rejected
    /// changes: it returns once their dead letters are durable, so that they are before the checkpoint
    /// moves past them, and returns the letters that a sink holding the materializer's dead-letter table
    /// (<see cref="IDeadLetterStore"/>) writes in that transaction, so that they are durable exactly when
    /// the batch is (none for other dead-letter targets). Async, so that nothing blocks a thread on I/O
    /// while the transaction and the sink's lock are held. A sink without a dead-letter table calls it
    /// only when it rejected changes. If it throws, the batch is rolled back. Called again when the sink
    /// retries the batch.</summary>
    public Func<IReadOnlyList<RejectedChange>, CancellationToken, ValueTask<IReadOnlyList<DeadLetterRow>>>? BeforeCommit { get; init; }

    /// <summary>Called when the sink backs off after a transient failure and will try the batch
    /// again, with a description of the failure that is safe to show (no secrets); the
    /// materializer reports itself degraded meanwhile.</summary>
    public Action<string>? Retrying { get; init; }

    /// <summary>Per stream, the position the sink held when the materializer read its checkpoint just
    /// before this batch (null: write <see cref="Checkpoint"/> unconditionally). A sink that can
    /// compare and write in one step writes the checkpoint only while it holds every one of these
    /// streams at or past that position, and throws <see cref="SinkCheckpointChangedException"/>
    /// otherwise: a sink that went back in time between the read and the write (a restart from an
    /// older snapshot during the batch, which the sink's own retries would write across) must not
    /// get a checkpoint that claims the changes it lost. At or past, not equal: other processes of a
    /// shared subscription move the checkpoint up meanwhile.</summary>
    public IReadOnlyDictionary<string, StreamPosition>? ExpectedCheckpoint { get; init; }
}

/// <summary>What a sink did with a batch.</summary>
public sealed record ApplyResult(int Upserted, int Deleted, int Stale, IReadOnlyList<RejectedChange> Rejected)
{
    public static ApplyResult Empty { get; } = new(0, 0, 0, []);

    /// <summary>Upserts among <see cref="Upserted"/> that carried a column the source did not send
    /// (<see cref="FieldValue.Unavailable"/>) for which the target held no stored value, so the column
    /// stays empty (null or absent) until a change carries it.</summary>
    public int Unavailable { get; init; }
}

/// <summary>A change the sink could not write (a poison row), with the reason; it goes to the dead-letter target.</summary>
public sealed record RejectedChange(ChangeEvent Change, string Reason);
