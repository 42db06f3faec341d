using Sync.Engine.Changes;
using Sync.Engine.Sinks;

namespace Sync.Testing.Sinks;

/// <summary>The materialization rules as a plain in-memory model: never regress by
/// <see cref="ChangeVersion"/>, deletes kept as versioned markers, truncate marks every key
/// deleted, checkpoint stored with the batch. Tests compare real sinks with it, and use it as a
/// sink where the target does not matter.</summary>
public sealed class ReferenceSink : ISink
{
    private readonly Dictionary<string, Dictionary<string, KeyState>> _tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, StreamPosition>> _checkpoints = new(StringComparer.Ordinal);

    public string Name { get; init; } = "reference";

    /// <summary>Throws on the n-th ApplyAsync call (1-based) before anything of it is applied, to model a crash.</summary>
    public int FailOnApply { get; set; }

    public int ApplyCalls { get; private set; }

    public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyDictionary<string, StreamPosition>>(
            _checkpoints.TryGetValue(materializer, out var c) ? new Dictionary<string, StreamPosition>(c) : new Dictionary<string, StreamPosition>());

    public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ApplyCalls++;
        if (ApplyCalls == FailOnApply)
        {
            throw new IOException("injected failure before the batch was applied");
        }

        var result = Apply(batch.Target.Table, batch.Changes);
        if (result.Rejected.Count > 0 && batch.BeforeCommit is { } beforeCommit)
        {
            await beforeCommit(result.Rejected, cancellationToken);
        }

        if (!_checkpoints.TryGetValue(batch.Materializer, out var checkpoint))
        {
            _checkpoints[batch.Materializer] = checkpoint = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        }

        foreach (var (stream, position) in batch.Checkpoint)
        {
            checkpoint[stream] = position;
        }

        return result;
    }

    /// <summary>Applies changes one by one with the never-regress rule.</summary>
    public ApplyResult Apply(string table, IEnumerable<ChangeEvent> changes)
    {
        if (!_tables.TryGetValue(table, out var rows))
        {
            _tables[table] = rows = new Dictionary<string, KeyState>(StringComparer.Ordinal);
        }

        int upserted = 0, deleted = 0, stale = 0, unavailable = 0;
        foreach (var change in changes)
        {
            if (change.Op == ChangeOp.Truncate)
            {
                foreach (var key in rows.Keys.ToList())
                {
                    rows[key] = new KeyState(change.Version, null);
                }

                deleted++;
                continue;
            }

            var version = change.Version;
            if (rows.TryGetValue(change.KeyText, out var current))
            {
                if (!version.Supersedes(current.Version))
                {
                    stale++;
                    continue;
                }

                // A change without an LSN keeps the LSN already known for the key.
                version = version with { Lsn = version.Lsn ?? current.Version.Lsn };
            }

            var image = change.IsDelete ? null : change.After;
            if (image is not null && image.Values.Any(v => v.IsUnavailable))
            {
                // An unavailable column keeps the stored value; without a stored row it is null, and counted.
                var stored = rows.TryGetValue(change.KeyText, out var held) ? held.Row : null;
                var values = image.Values.Select((v, i) => !v.IsUnavailable ? v
                    : stored is not null && stored.TryGet(image.Names[i], out var kept) ? kept : FieldValue.Null).ToArray();
                unavailable += stored is null ? 1 : 0;
                image = new Row(image.Names, values, image.Schema);
            }

            rows[change.KeyText] = new KeyState(version, image);
            if (change.IsDelete)
            {
                deleted++;
            }
            else
            {
                upserted++;
            }
        }

        return new ApplyResult(upserted, deleted, stale, []) { Unavailable = unavailable };
    }

    public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
    {
        long removed = 0;
        if (_tables.TryGetValue(target.Table, out var rows))
        {
            foreach (var (key, state) in rows.ToList())
            {
                if (Matches(state, match))
                {
                    rows[key] = new KeyState(state.Version.Erased(), null);
                    removed++;
                }
            }
        }

        return ValueTask.FromResult(removed);
    }

    public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_tables.TryGetValue(target.Table, out var rows) ? rows.Values.LongCount(s => Matches(s, match)) : 0L);

    private static bool Matches(KeyState state, SubjectMatch match) =>
        state.Row is { } row && row.TryGet(match.Column, out var value) && value == match.Value;

    /// <summary>Live rows of a table: key text -> row as JSON.</summary>
    public IReadOnlyDictionary<string, string> Rows(string table) =>
        _tables.TryGetValue(table, out var rows)
            ? rows.Where(r => r.Value.Row is not null).ToDictionary(r => r.Key, r => r.Value.Row!.ToJson(), StringComparer.Ordinal)
            : new Dictionary<string, string>();

    public IReadOnlyDictionary<string, StreamPosition> Checkpoint(string materializer) =>
        _checkpoints.TryGetValue(materializer, out var c) ? c : new Dictionary<string, StreamPosition>();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed record KeyState(ChangeVersion Version, Row? Row);
}
