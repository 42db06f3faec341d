using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using Sync.Engine.Changes;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks.Postgres;

namespace Sync.Bench.Postgres;

/// <summary>One measured figure: what, how many per second, and the limit it is compared with.</summary>
public sealed record PostgresFigure(string Name, double PerSecond, string Unit, string? LimitName, double? Limit)
{
    public double? Ratio => Limit is { } l && l > 0 ? PerSecond / l : null;

    /// <summary>A row of the bench table: <c>| figure | value | unit | limit | limit value | ratio |</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"| {Name} | {PerSecond:N0} | {Unit} | {LimitName ?? "-"} | {(Limit is { } l ? l.ToString("N0", CultureInfo.InvariantCulture) : "-")} | {(Ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : "-")} |");
}

/// <summary>
/// The PostgreSQL sink against the physical limit, in one run on one server:
/// <list type="bullet">
/// <item>sink: <c>events</c> changes over <c>keys</c> keys (60% update, 30% insert, 10% delete; the same
/// rows as the SQLite end-to-end bench: id, name, price numeric, qty, note) applied through
/// <see cref="PostgresSink.ApplyAsync"/> in batches collapsed by the engine's <see cref="Collapser"/>; events/s;</item>
/// <item>limit: binary COPY of the same number of rows into an unindexed table, rows/s;</item>
/// <item>upsert limit: the same collapsed batches, each one transaction of a binary COPY into a temporary
/// staging table, one <c>INSERT … SELECT … ON CONFLICT (id) DO UPDATE … WHERE</c> older version and one
/// <c>DELETE … USING</c> the staged deletes into a table with only its primary key — what any upsert of
/// these rows into an indexed table must do, without the sink's delete markers, checks and checkpoint; events/s;</item>
/// <item>naive baseline: one prepared <c>INSERT … ON CONFLICT DO UPDATE</c> (or <c>DELETE</c>) per event, autocommit,
/// over the first <c>naiveEvents</c> events, events/s.</item>
/// </list>
/// Usage from the bench's Program: <c>await PostgresBench.RunAsync(connectionString, 1_000_000, 100_000, 5_000, 100_000, Console.Out)</c>.
/// Each run owns a schema (dropped at the end).
/// </summary>
public static class PostgresBench
{
    public static async Task<IReadOnlyList<PostgresFigure>> RunAsync(
        string connectionString, int events, int keys, int batchSize, int naiveEvents, TextWriter? progress = null, CancellationToken cancellationToken = default,
        IReadOnlyList<int>? otherBatchSizes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        var schema = $"bench_{Guid.NewGuid():N}"[..18];
        var changes = Generate(events, keys);
        var figures = new List<PostgresFigure>();
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await admin.OpenAsync(cancellationToken);
        await ExecuteAsync(admin, $"CREATE SCHEMA {schema}", cancellationToken);
        try
        {
            progress?.WriteLine($"postgres bench: {events:N0} changes over {keys:N0} keys, batches of {batchSize:N0}, schema {schema}");
            // The limit is the best of three runs: the machine's noise should not flatter the sink.
            var copy = 0.0;
            for (var run = 0; run < 3; run++)
            {
                copy = Math.Max(copy, await CopyAsync(admin, schema, run, changes, cancellationToken));
            }

            progress?.WriteLine($"  COPY: {copy:N0} rows/s");
            var upsert = await UpsertLimitAsync(connectionString, schema, changes, batchSize, cancellationToken);
            progress?.WriteLine($"  staged upsert limit: {upsert:N0} events/s");
            var inServer = await InServerLimitAsync(connectionString, schema, cancellationToken);
            progress?.WriteLine($"  in-server guarded upsert limit: {inServer:N0} rows/s");
            var unnest = await UnnestUpsertAsync(connectionString, schema, changes, batchSize, prepared: false, cancellationToken);
            progress?.WriteLine($"  unnest upsert (arrays, one round trip per batch): {unnest:N0} events/s");
            var unnestPrepared = await UnnestUpsertAsync(connectionString, schema, changes, batchSize, prepared: true, cancellationToken);
            progress?.WriteLine($"  unnest upsert, prepared: {unnestPrepared:N0} events/s");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var sink = await SinkAsync(connectionString, schema, changes, batchSize, cancellationToken);
            var sinkCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / changes.Count;
            progress?.WriteLine($"  sink: {sink:N0} events/s, client CPU {sinkCpu:0.0} µs/event, wall {1e6 / sink:0.0} µs/event");
            var conditional = await SinkAsync(connectionString, schema, changes, batchSize, cancellationToken, conditionalCheckpoint: true);
            progress?.WriteLine($"  sink with the conditional checkpoint write: {conditional:N0} events/s");
            var naive = await NaiveAsync(admin, schema, changes.Take(naiveEvents).ToList(), cancellationToken);
            progress?.WriteLine($"  naive: {naive:N0} events/s");
            var label = string.Create(CultureInfo.InvariantCulture, $"{events:N0} changes over {keys:N0} keys");
            const string Limit = "binary COPY of as many rows into an unindexed table (best of 3)";
            figures.Add(new PostgresFigure($"Postgres sink, {label}, batches of {batchSize:N0}", sink, "events/s", Limit, copy));
            const string UpsertLimit = "COPY into a staging table + one guarded INSERT … ON CONFLICT and one DELETE per batch, same batches";
            figures.Add(new PostgresFigure($"Postgres sink against the staged upsert limit, {label}, batches of {batchSize:N0}", sink, "events/s", UpsertLimit, upsert));
            figures.Add(new PostgresFigure($"Postgres sink against the in-server guarded upsert limit, {label}, batches of {batchSize:N0}", sink, "events/s", InServerLimitName, inServer));
            figures.Add(new PostgresFigure($"Postgres sink: client CPU per event, {label}, batches of {batchSize:N0}", sinkCpu, "µs", null, null));
            figures.Add(new PostgresFigure($"guarded upsert from unnest arrays, one round trip per batch (candidate), {label}, batches of {batchSize:N0}", unnest, "events/s", InServerLimitName, inServer));
            figures.Add(new PostgresFigure($"guarded upsert from unnest arrays, prepared (candidate), {label}, batches of {batchSize:N0}", unnestPrepared, "events/s", InServerLimitName, inServer));
            figures.Add(new PostgresFigure($"staged upsert (COPY into a staging table, candidate baseline), {label}, batches of {batchSize:N0}", upsert, "events/s", InServerLimitName, inServer));
            figures.Add(new PostgresFigure(
                $"Postgres sink with the conditional checkpoint write (ExpectedCheckpoint, as a running materializer writes it), {label}, batches of {batchSize:N0}",
                conditional, "events/s", "the same sink writing its checkpoint unconditionally, same run", sink));
            foreach (var other in otherBatchSizes ?? [])
            {
                var (otherSink, otherUpsert) = (await SinkAsync(connectionString, schema, changes, other, cancellationToken), await UpsertLimitAsync(connectionString, schema, changes, other, cancellationToken));
                progress?.WriteLine($"  batches of {other:N0}: sink {otherSink:N0} events/s, staged upsert limit {otherUpsert:N0} events/s");
                figures.Add(new PostgresFigure($"Postgres sink, {label}, batches of {other:N0} (other batch size)", otherSink, "events/s", UpsertLimit, otherUpsert));
            }

            figures.Add(new PostgresFigure($"naive INSERT … ON CONFLICT per event, autocommit ({Math.Min(naiveEvents, events):N0} events)", naive, "events/s", Limit, copy));
            return figures;
        }
        finally
        {
            await ExecuteAsync(admin, $"DROP SCHEMA IF EXISTS {schema} CASCADE", CancellationToken.None);
        }
    }

    /// <summary>One round of <see cref="SteadyAsync"/>: the limit, the sink and the conditional sink, each in a schema of its own.</summary>
    public sealed record SteadyRound(double Load, double InServer, double Sink, double SinkCpuMicros, double Conditional);

    /// <summary>
    /// Only the steady-state figure, several rounds: per round the in-server limit
    /// (<see cref="InServerLimitAsync"/>), then the sink and the sink with the conditional checkpoint
    /// write, each into an empty table of a schema of its own, so that no run replays changes into a
    /// table an earlier run filled (a replay is mostly stale changes, which cost the server less).
    /// The 1-minute load average (<c>/proc/loadavg</c>) is read at the start of each round.
    /// </summary>
    public static async Task<IReadOnlyList<SteadyRound>> SteadyAsync(
        string connectionString, int events, int keys, int batchSize, int rounds, TextWriter? progress = null, CancellationToken cancellationToken = default)
    {
        var changes = Generate(events, keys);
        var result = new List<SteadyRound>();
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await admin.OpenAsync(cancellationToken);
        for (var round = 0; round < rounds; round++)
        {
            var load = ReadLoad();
            var schemas = new List<string>();
            try
            {
                async Task<string> FreshSchemaAsync()
                {
                    var schema = $"bench_{Guid.NewGuid():N}"[..18];
                    await ExecuteAsync(admin, $"CREATE SCHEMA {schema}", cancellationToken);
                    schemas.Add(schema);
                    return schema;
                }

                var inServer = await InServerLimitAsync(connectionString, await FreshSchemaAsync(), cancellationToken);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var sink = await SinkAsync(connectionString, await FreshSchemaAsync(), changes, batchSize, cancellationToken);
                var sinkCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / changes.Count;
                var conditional = await SinkAsync(connectionString, await FreshSchemaAsync(), changes, batchSize, cancellationToken, conditionalCheckpoint: true);
                progress?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  round {round + 1} (load {load:0.0}): in-server limit {inServer:N0} rows/s, sink {sink:N0} events/s ({sink / inServer:0.00}x, client CPU {sinkCpu:0.0} µs/event), conditional {conditional:N0} events/s ({conditional / inServer:0.00}x)"));
                result.Add(new SteadyRound(load, inServer, sink, sinkCpu, conditional));
            }
            finally
            {
                foreach (var schema in schemas)
                {
                    await ExecuteAsync(admin, $"DROP SCHEMA IF EXISTS {schema} CASCADE", CancellationToken.None);
                }
            }
        }

        return result;
    }

    private static double ReadLoad() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load) ? load : double.NaN;

    /// <summary>The name of the in-server limit (<see cref="InServerLimitAsync"/>).</summary>
    public const string InServerLimitName = "in-server guarded upsert: INSERT … SELECT FROM generate_series ON CONFLICT DO UPDATE WHERE older, 200 transactions of 5,000 keys over 100,000 rows";

    /// <summary>The most a version-guarded upsert of these rows can do in this server: the rows are made
    /// by the server itself (<c>generate_series</c>, nothing crosses the wire), 200 transactions of one
    /// <c>INSERT … SELECT … ON CONFLICT (id) DO UPDATE … WHERE t.v &lt; excluded.v</c> of 5,000 keys
    /// spread over 100,000 existing rows (every update passes the guard), into a table of the bench's
    /// row shape with only its primary key. Best of 2. Rows/s.</summary>
    public static async Task<double> InServerLimitAsync(string connectionString, string schema, CancellationToken cancellationToken)
    {
        const int Rows = 100_000, Batch = 5_000, Batches = 200;
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        var table = $"{schema}.in_server_limit";
        await ExecuteAsync(connection, $"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, price numeric, qty bigint, note text, v bigint NOT NULL)", cancellationToken);
        await ExecuteAsync(connection, $"INSERT INTO {table} SELECT g, 'item ' || g, (g % 1000) + 0.25, g % 17, 'change ' || g, 0 FROM generate_series(0, {Rows - 1}) g", cancellationToken);
        await ExecuteAsync(connection, $"VACUUM ANALYZE {table}", cancellationToken);
        await using var upsert = new NpgsqlCommand(
            $"""
            INSERT INTO {table} AS t (id, name, price, qty, note, v)
            SELECT k, 'item ' || k, (($1 * {Batch} + g) % 1000) + 0.25, ($1 * {Batch} + g) % 17, 'change ' || ($1 * {Batch} + g), $1 * {Batch} + g + 1
            FROM generate_series(0, {Batch - 1}) g, LATERAL (SELECT (g * {Rows / Batch} + $1 % {Rows / Batch})::bigint AS k) key
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price, qty = excluded.qty, note = excluded.note, v = excluded.v
            WHERE t.v < excluded.v
            """,
            connection);
        var round = new NpgsqlParameter<long>();
        upsert.Parameters.Add(round);
        var best = 0.0;
        var next = 0L;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var clock = Stopwatch.StartNew();
            for (var b = 0; b < Batches; b++)
            {
                // Autocommit: one transaction per statement.
                round.TypedValue = next++;
                await upsert.ExecuteNonQueryAsync(cancellationToken);
            }

            best = Math.Max(best, Batch * Batches / clock.Elapsed.TotalSeconds);
        }

        return best;
    }

    /// <summary>Candidate: the same collapsed batches as <see cref="UpsertLimitAsync"/>, but the rows travel as
    /// array parameters (one per column) read with <c>unnest</c>, and each batch is one round trip:
    /// BEGIN, the guarded upsert, the guarded delete and COMMIT in one <see cref="NpgsqlBatch"/>.</summary>
    private static async Task<double> UnnestUpsertAsync(string connectionString, string schema, List<ChangeEvent> changes, int batchSize, bool prepared, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        var table = $"{schema}.unnest_{(prepared ? "prepared" : "plain")}";
        await ExecuteAsync(connection, $"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, price numeric, qty bigint, note text, lsn bigint) WITH (fillfactor = 80)", cancellationToken);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < changes.Count; i += batchSize)
        {
            var collapsed = Collapser.Collapse(changes.GetRange(i, Math.Min(batchSize, changes.Count - i)));
            var ids = new long[collapsed.Count];
            var names = new string?[collapsed.Count];
            var prices = new string?[collapsed.Count];
            var qtys = new long?[collapsed.Count];
            var notes = new string?[collapsed.Count];
            var lsns = new long[collapsed.Count];
            var deleted = new bool[collapsed.Count];
            for (var r = 0; r < collapsed.Count; r++)
            {
                var change = collapsed[r];
                ids[r] = change.Key.Values[0].AsInt64;
                lsns[r] = change.Source!.Lsn!.Value;
                if (change.After?.Values is { } values)
                {
                    names[r] = values[1].AsText;
                    prices[r] = values[2].AsText;
                    qtys[r] = values[3].AsInt64;
                    notes[r] = values[4].AsText;
                }
                else
                {
                    deleted[r] = true;
                }
            }

            await using var batch = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand("BEGIN"),
                    new NpgsqlBatchCommand(
                        $"""
                        INSERT INTO {table} AS t (id, name, price, qty, note, lsn)
                        SELECT id, name, CAST(price AS numeric), qty, note, lsn FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::boolean[]) AS u(id, name, price, qty, note, lsn, del)
                        WHERE NOT del
                        ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price, qty = excluded.qty, note = excluded.note, lsn = excluded.lsn
                        WHERE t.lsn < excluded.lsn
                        """)
                    {
                        Parameters =
                        {
                            new NpgsqlParameter<long[]> { TypedValue = ids }, new NpgsqlParameter<string?[]> { TypedValue = names }, new NpgsqlParameter<string?[]> { TypedValue = prices },
                            new NpgsqlParameter<long?[]> { TypedValue = qtys }, new NpgsqlParameter<string?[]> { TypedValue = notes }, new NpgsqlParameter<long[]> { TypedValue = lsns },
                            new NpgsqlParameter<bool[]> { TypedValue = deleted },
                        },
                    },
                    new NpgsqlBatchCommand($"DELETE FROM {table} t USING unnest($1::bigint[], $2::bigint[], $3::boolean[]) AS u(id, lsn, del) WHERE u.del AND t.id = u.id AND t.lsn < u.lsn")
                    {
                        Parameters = { new NpgsqlParameter<long[]> { TypedValue = ids }, new NpgsqlParameter<long[]> { TypedValue = lsns }, new NpgsqlParameter<bool[]> { TypedValue = deleted } },
                    },
                    new NpgsqlBatchCommand("COMMIT"),
                },
            };
            if (prepared)
            {
                await batch.PrepareAsync(cancellationToken);
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        return changes.Count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The workload: seeded, so every run and every sink sees the same changes.</summary>
    public static List<ChangeEvent> Generate(int events, int keys)
    {
        var random = new Random(42);
        var names = new[] { "id", "name", "price", "qty", "note" };
        var keyNames = new[] { "id" };
        var list = new List<ChangeEvent>(events);
        for (var i = 1; i <= events; i++)
        {
            var key = random.Next(keys);
            var roll = random.Next(10);
            var op = roll < 6 ? ChangeOp.Update : roll < 9 ? ChangeOp.Create : ChangeOp.Delete;
            var keyRow = new Row(keyNames, [FieldValue.FromInt64(key)]);
            var after = op == ChangeOp.Delete
                ? null
                : new Row(names,
                [
                    FieldValue.FromInt64(key),
                    FieldValue.FromString(string.Create(CultureInfo.InvariantCulture, $"item {key}")),
                    FieldValue.FromDecimalText(string.Create(CultureInfo.InvariantCulture, $"{i % 1000}.25")),
                    FieldValue.FromInt64(i % 17),
                    FieldValue.FromString(string.Create(CultureInfo.InvariantCulture, $"change {i}")),
                ]);
            list.Add(new ChangeEvent
            {
                Op = op,
                Key = keyRow,
                After = after,
                Source = new SourceInfo { Lsn = 1000 + i },
                Origin = new Origin { Topic = "items", Position = new StreamPosition(0, i) },
            });
        }

        return list;
    }

    internal static async Task<double> CopyAsync(NpgsqlConnection connection, string schema, int run, List<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        var table = $"{schema}.copy_limit_{run}";
        await ExecuteAsync(connection, $"CREATE TABLE {table} (id bigint, name text, price numeric, qty bigint, note text)", cancellationToken);
        var clock = Stopwatch.StartNew();
        await using (var importer = await connection.BeginBinaryImportAsync($"COPY {table} (id, name, price, qty, note) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var change in changes)
            {
                // Every change as a row (deletes with their key only), as many rows as the sink gets changes.
                var values = change.After?.Values;
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(change.Key.Values[0].AsInt64, NpgsqlDbType.Bigint, cancellationToken);
                if (values is null)
                {
                    await importer.WriteNullAsync(cancellationToken);
                    await importer.WriteNullAsync(cancellationToken);
                    await importer.WriteNullAsync(cancellationToken);
                    await importer.WriteNullAsync(cancellationToken);
                    continue;
                }

                await importer.WriteAsync(values[1].AsText, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(decimal.Parse(values[2].AsText, CultureInfo.InvariantCulture), NpgsqlDbType.Numeric, cancellationToken);
                await importer.WriteAsync(values[3].AsInt64, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(values[4].AsText, NpgsqlDbType.Text, cancellationToken);
            }

            await importer.CompleteAsync(cancellationToken);
        }

        return changes.Count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>The least work any batched, version-guarded upsert of these rows does: per collapsed batch,
    /// one transaction of a binary COPY into a temporary staging table (created once), one guarded
    /// <c>INSERT … ON CONFLICT</c> and one guarded <c>DELETE</c>, into a table with only its primary key.</summary>
    private static async Task<double> UpsertLimitAsync(string connectionString, string schema, List<ChangeEvent> changes, int batchSize, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        var table = $"{schema}.upsert_limit_{batchSize}";
        await ExecuteAsync(connection, $"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, price numeric, qty bigint, note text, lsn bigint) WITH (fillfactor = 80)", cancellationToken);
        await ExecuteAsync(connection, "CREATE TEMP TABLE upsert_stage (id bigint, name text, price numeric, qty bigint, note text, lsn bigint, del boolean) ON COMMIT DELETE ROWS", cancellationToken);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < changes.Count; i += batchSize)
        {
            var collapsed = Collapser.Collapse(changes.GetRange(i, Math.Min(batchSize, changes.Count - i)));
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var importer = await connection.BeginBinaryImportAsync("COPY upsert_stage (id, name, price, qty, note, lsn, del) FROM STDIN (FORMAT BINARY)", cancellationToken))
            {
                foreach (var change in collapsed)
                {
                    await importer.StartRowAsync(cancellationToken);
                    await importer.WriteAsync(change.Key.Values[0].AsInt64, NpgsqlDbType.Bigint, cancellationToken);
                    if (change.After?.Values is { } values)
                    {
                        await importer.WriteAsync(values[1].AsText, NpgsqlDbType.Text, cancellationToken);
                        await importer.WriteAsync(decimal.Parse(values[2].AsText, CultureInfo.InvariantCulture), NpgsqlDbType.Numeric, cancellationToken);
                        await importer.WriteAsync(values[3].AsInt64, NpgsqlDbType.Bigint, cancellationToken);
                        await importer.WriteAsync(values[4].AsText, NpgsqlDbType.Text, cancellationToken);
                    }
                    else
                    {
                        await importer.WriteNullAsync(cancellationToken);
                        await importer.WriteNullAsync(cancellationToken);
                        await importer.WriteNullAsync(cancellationToken);
                        await importer.WriteNullAsync(cancellationToken);
                    }

                    await importer.WriteAsync(change.Source!.Lsn!.Value, NpgsqlDbType.Bigint, cancellationToken);
                    await importer.WriteAsync(change.After is null, NpgsqlDbType.Boolean, cancellationToken);
                }

                await importer.CompleteAsync(cancellationToken);
            }

            await using (var apply = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand(
                        $"""
                        INSERT INTO {table} AS t (id, name, price, qty, note, lsn) SELECT id, name, price, qty, note, lsn FROM upsert_stage WHERE NOT del
                        ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price, qty = excluded.qty, note = excluded.note, lsn = excluded.lsn
                        WHERE t.lsn < excluded.lsn
                        """),
                    new NpgsqlBatchCommand($"DELETE FROM {table} t USING upsert_stage s WHERE s.del AND t.id = s.id AND t.lsn < s.lsn"),
                },
            })
            {
                await apply.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        return changes.Count / clock.Elapsed.TotalSeconds;
    }

    /// <param name="conditionalCheckpoint">Each batch carries the previous batch's checkpoint as
    /// <see cref="SinkBatch.ExpectedCheckpoint"/>, as the materializer sends it (the stored rows locked
    /// and compared in the batch's transaction, the upsert keeping the greater position).</param>
    private static async Task<double> SinkAsync(
        string connectionString, string schema, List<ChangeEvent> changes, int batchSize, CancellationToken cancellationToken, bool conditionalCheckpoint = false)
    {
        var options = new PostgresSinkOptions
        {
            ConnectionString = connectionString,
            Tls = PostgresTlsMode.Disable,
            Schema = schema,
            StateSchema = schema + "_sync",
        };
        await using var sink = await PostgresSink.OpenAsync("bench", options, cancellationToken);
        var target = new TargetSpec("items");

        // Create the table outside the measurement, as a running materializer finds it.
        var seed = new ChangeEvent
        {
            Op = ChangeOp.Create,
            Key = changes[0].Key,
            After = new Row(["id", "name", "price", "qty", "note"], [changes[0].Key.Values[0], FieldValue.FromString("seed"), FieldValue.FromDecimalText("0.25"), FieldValue.FromInt64(0), FieldValue.FromString("seed")]),
            Source = new SourceInfo { Lsn = 0 },
            Origin = new Origin { Topic = "items", Position = new StreamPosition(0, 0) },
        };
        await sink.ApplyAsync(new SinkBatch("bench", target, [seed], new Dictionary<string, StreamPosition>()), cancellationToken);

        IReadOnlyDictionary<string, StreamPosition> expected = new Dictionary<string, StreamPosition> { ["items"] = StreamPosition.Start };
        var clock = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < changes.Count; i += batchSize)
            {
                var batch = changes.GetRange(i, Math.Min(batchSize, changes.Count - i));
                var collapsed = Collapser.Collapse(batch);
                var checkpoint = new Dictionary<string, StreamPosition> { ["items"] = batch[^1].Origin.Position };
                var result = await sink.ApplyAsync(new SinkBatch("bench", target, collapsed, checkpoint) { ExpectedCheckpoint = conditionalCheckpoint ? expected : null }, cancellationToken);
                expected = checkpoint;
                if (result.Rejected.Count > 0)
                {
                    throw new InvalidOperationException($"the bench batch had rejections: {result.Rejected[0].Reason}");
                }
            }

            return changes.Count / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
            await connection.OpenAsync(CancellationToken.None);
            await ExecuteAsync(connection, $"DROP SCHEMA IF EXISTS {schema}_sync CASCADE", CancellationToken.None);
        }
    }

    private static async Task<double> NaiveAsync(NpgsqlConnection connection, string schema, List<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, $"CREATE TABLE {schema}.naive (id bigint PRIMARY KEY, name text, price numeric, qty bigint, note text, lsn bigint)", cancellationToken);
        await using var upsert = new NpgsqlCommand(
            $"""
            INSERT INTO {schema}.naive (id, name, price, qty, note, lsn) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price, qty = excluded.qty, note = excluded.note, lsn = excluded.lsn
            WHERE naive.lsn < excluded.lsn
            """,
            connection);
        upsert.Parameters.Add(new NpgsqlParameter<long>());
        upsert.Parameters.Add(new NpgsqlParameter<string>());
        upsert.Parameters.Add(new NpgsqlParameter<decimal>());
        upsert.Parameters.Add(new NpgsqlParameter<long>());
        upsert.Parameters.Add(new NpgsqlParameter<string>());
        upsert.Parameters.Add(new NpgsqlParameter<long>());
        await upsert.PrepareAsync(cancellationToken);
        await using var delete = new NpgsqlCommand($"DELETE FROM {schema}.naive WHERE id = $1 AND lsn < $2", connection);
        delete.Parameters.Add(new NpgsqlParameter<long>());
        delete.Parameters.Add(new NpgsqlParameter<long>());
        await delete.PrepareAsync(cancellationToken);

        var clock = Stopwatch.StartNew();
        foreach (var change in changes)
        {
            var id = change.Key.Values[0].AsInt64;
            var lsn = change.Source!.Lsn!.Value;
            if (change.After is { } after)
            {
                ((NpgsqlParameter<long>)upsert.Parameters[0]).TypedValue = id;
                ((NpgsqlParameter<string>)upsert.Parameters[1]).TypedValue = after.Values[1].AsText;
                ((NpgsqlParameter<decimal>)upsert.Parameters[2]).TypedValue = decimal.Parse(after.Values[2].AsText, CultureInfo.InvariantCulture);
                ((NpgsqlParameter<long>)upsert.Parameters[3]).TypedValue = after.Values[3].AsInt64;
                ((NpgsqlParameter<string>)upsert.Parameters[4]).TypedValue = after.Values[4].AsText;
                ((NpgsqlParameter<long>)upsert.Parameters[5]).TypedValue = lsn;
                await upsert.ExecuteNonQueryAsync(cancellationToken);
            }
            else
            {
                ((NpgsqlParameter<long>)delete.Parameters[0]).TypedValue = id;
                ((NpgsqlParameter<long>)delete.Parameters[1]).TypedValue = lsn;
                await delete.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        return changes.Count / clock.Elapsed.TotalSeconds;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
