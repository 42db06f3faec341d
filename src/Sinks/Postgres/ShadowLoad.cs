namespace Sync.Sinks.Postgres;

/// <summary>
/// How a shadow table of <c>backfill --shadow</c> is being loaded. A shadow has one writer, in log
/// order, and no reader until the swap, so while its batches keep one shape (the same columns and key,
/// an LSN on every change, no truncate, no unavailable column) they are only appended to a staging
/// log with binary COPY; the shadow is built from the log set-wise (the newest change per key,
/// deletes as delete markers), and its primary key and indexes are created once, when the log is
/// <see cref="Built"/>: before the swap, or before anything else reads or changes the shadow, or when
/// a batch does not fit the shape. From then on the shadow takes the guarded path like any target.
/// Held by the sink, not by a connection, so that it outlives a discarded connection; a change made
/// in a transaction that rolls back is undone with <see cref="Restore"/>.
/// </summary>
internal sealed class ShadowLoad(string shadowId, string log)
{
    /// <summary>The shadow table's id (<see cref="PostgresTarget.Id"/>).</summary>
    public string ShadowId { get; } = shadowId;

    /// <summary>The staging log, an unlogged table in the state schema.</summary>
    public string Log { get; } = log;

    /// <summary>What the load has done so far.</summary>
    public ShadowLoadState State { get; set; } = ShadowLoadState.Empty;

    /// <summary>True once the shadow was built from the log (or the load never started): batches take the guarded path.</summary>
    public bool Built => State.Built;

    public ShadowLoadState Save() => State;

    public void Restore(ShadowLoadState saved) => State = saved;
}

/// <summary>The shape the staged changes share, and what the build needs to know.</summary>
/// <param name="Names">The upserts' column names, in order.</param>
/// <param name="KeyNames">The key's column names, in order.</param>
/// <param name="Types">The shadow table's type of each column of <paramref name="Names"/>.</param>
/// <param name="Indexes">The DDL that re-creates the shadow's primary key and indexes, dropped while the log fills.</param>
internal sealed record ShadowLoadShape(string[] Names, string[] KeyNames, PostgresColumnType[] Types, IReadOnlyList<string> Indexes);

/// <param name="Shape">Null until the first batch fixed it.</param>
/// <param name="Appended">Changes in the log (also the next change's sequence number).</param>
/// <param name="Built">The shadow was built; the log is gone.</param>
internal sealed record ShadowLoadState(ShadowLoadShape? Shape, long Appended, bool Built)
{
    public static ShadowLoadState Empty { get; } = new(null, 0, false);
}
