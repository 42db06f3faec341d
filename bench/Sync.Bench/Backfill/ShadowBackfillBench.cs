using System.Diagnostics;
using Npgsql;
using Sync.Engine.Changes;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks.Postgres;
using Sync.Bench.Postgres;

namespace Sync.Bench.Backfill;

/// <summary>
/// <c>backfill --shadow</c> into PostgreSQL against binary COPY of the same rows into an unindexed
/// table, in one run on one server: <c>events</c> changes over <c>keys</c> keys (the rows of
/// <see cref="PostgresBench.Generate"/>: 60% update, 30% insert, 10% delete) in batches collapsed by the
/// engine's <see cref="Collapser"/>, through <see cref="ShadowWritingSink"/> as the runtime calls it,
/// into the shadow of a live table that exists (with its primary key). Sink time: every sink call
/// from <see cref="PostgresSink.BeginShadowAsync"/> to the end of <see cref="PostgresSink.SwapShadowAsync"/>
/// (which builds the shadow from its staging log), measured apart as the append and the build.
/// The guarded load (<c>bulkShadow: false</c>) of the same batches is measured for context.
/// </summary>
public static class ShadowBackfillBench
{
    /// <param name="ClientCpuMicros">The bulk load's client CPU per change, µs.</param>
    /// <param name="PeakHeldKeys">The most keys the bulk load held in memory at once.</param>
    /// <param name="HeldBytes">What the bulk load held at the end of the append, besides the changes themselves (its map and key texts), bytes.</param>
    /// <param name="ChangeBytes">The memory of one decoded change of the bench's rows, bytes (what a held key keeps besides its map entry).</param>
    public sealed record Result(int Events, int Keys, int BatchSize, double CopyPerSecond, double BulkSeconds, double AppendSeconds, double BuildSeconds, double GuardedSeconds,
        double ClientCpuMicros, int PeakHeldKeys, long HeldBytes, double ChangeBytes)
    {
        public double BulkPerSecond => Events / BulkSeconds;

        /// <summary>The bulk load's sink time with several batches per transaction (NaN when not run).</summary>
        public double GroupedSeconds { get; init; } = double.NaN;

        public double GuardedPerSecond => Events / GuardedSeconds;
    }

    /// <param name="batchesPerTransaction">When above 1, the bulk load is run again with that many batches
    /// in one (one transaction and one checkpoint per group), to show what the transaction per batch costs.</param>
    public static async Task<Result> RunAsync(string connectionString, int events, int keys, int batchSize, Action<string> progress, bool guarded = true, int batchesPerTransaction = 1, CancellationToken cancellationToken = default)
    {
        var schema = $"bench_{Guid.NewGuid():N}"[..18];
        var generating = GC.GetTotalMemory(forceFullCollection: true);
        var changes = PostgresBench.Generate(events, keys);
        var changeBytes = (double)(GC.GetTotalMemory(forceFullCollection: true) - generating) / events;
        var batches = Batches(changes, batchSize);

        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, CommandTimeout = 0 }.ConnectionString);
        await admin.OpenAsync(cancellationToken);
        await using (var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", admin))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            progress($"shadow backfill bench: {events:N0} changes over {keys:N0} keys, batches of {batchSize:N0}, schema {schema}");
            var copy = await PostgresBench.CopyAsync(admin, schema, 0, changes, cancellationToken);
            progress($"  COPY: {copy:N0} rows/s");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var (bulk, append, build, peakHeld, heldBytes) = await ShadowAsync(connectionString, schema, "bulk", bulkShadow: true, batches, cancellationToken);
            var bulkCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / events;
            progress($"  bulk shadow: {events / bulk:N0} events/s ({append:N1} s append, {build:N1} s build and swap; client CPU {bulkCpu:0.0} µs/event)");
            progress($"  held at most {peakHeld:N0} keys; the map and key texts {heldBytes / 1048576.0:N0} MiB at the end of the append ({(double)heldBytes / Math.Max(1, peakHeld):N0} bytes per key), a decoded change {changeBytes:N0} bytes");
            var groupedSeconds = double.NaN;
            if (batchesPerTransaction > 1)
            {
                var grouped = Batches(changes, batchSize * batchesPerTransaction);
                (groupedSeconds, var groupedAppend, var groupedBuild, _, _) = await ShadowAsync(connectionString, schema, "grouped", bulkShadow: true, grouped, cancellationToken);
                progress($"  bulk shadow, {batchesPerTransaction} batches per transaction: {events / groupedSeconds:N0} events/s ({groupedAppend:N1} s append, {groupedBuild:N1} s build and swap)");
            }

            var guardedSeconds = double.NaN;
            if (guarded)
            {
                (guardedSeconds, _, _, _, _) = await ShadowAsync(connectionString, schema, "guarded", bulkShadow: false, batches, cancellationToken);
                progress($"  guarded shadow: {events / guardedSeconds:N0} events/s");
                await using var compare = new NpgsqlCommand(
                    $"""
                    SELECT (SELECT count(*) FROM (SELECT * FROM {schema}.items_bulk EXCEPT ALL SELECT * FROM {schema}.items_guarded) a)
                         + (SELECT count(*) FROM (SELECT * FROM {schema}.items_guarded EXCEPT ALL SELECT * FROM {schema}.items_bulk) b)
                    """, admin);
                if ((long)(await compare.ExecuteScalarAsync(cancellationToken))! != 0)
                {
                    throw new InvalidOperationException("the bulk and the guarded shadow differ");
                }
            }

            // The limit is the better of a COPY before and after the sink, so that a load that changed meanwhile does not flatter the sink.
            copy = Math.Max(copy, await PostgresBench.CopyAsync(admin, schema, 1, changes, cancellationToken));
            progress($"  COPY (best of 2): {copy:N0} rows/s");
            return new Result(events, keys, batchSize, copy, bulk, append, build, guardedSeconds, bulkCpu, peakHeld, heldBytes, changeBytes) { GroupedSeconds = groupedSeconds };
        }
        finally
        {
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_bulk CASCADE; DROP SCHEMA IF EXISTS {schema}_guarded CASCADE; DROP SCHEMA IF EXISTS {schema}_grouped CASCADE", admin);
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>A shadow backfill of the batches; returns the sink time, and its append and build parts, in seconds,
    /// the most keys held and the memory held at the end of the append (measured with the clock stopped).</summary>
    private static async Task<(double Total, double Append, double Build, int PeakHeld, long HeldBytes)> ShadowAsync(
        string connectionString, string schema, string run, bool bulkShadow, List<(IReadOnlyList<ChangeEvent> Changes, Dictionary<string, StreamPosition> Checkpoint)> batches, CancellationToken cancellationToken)
    {
        var options = new PostgresSinkOptions
        {
            ConnectionString = connectionString,
            Tls = PostgresTlsMode.Disable,
            Schema = schema,
            StateSchema = $"{schema}_{run}",
            CommandTimeout = TimeSpan.Zero,
            BulkShadow = bulkShadow,
        };
        await using var sink = await PostgresSink.OpenAsync("bench", options, cancellationToken);
        var live = new TargetSpec("items_" + run);

        // The live table exists, as it does when a replica is rebuilt.
        var seed = new ChangeEvent
        {
            Op = ChangeOp.Create,
            Key = new Row(["id"], [FieldValue.FromInt64(0)]),
            After = new Row(["id", "name", "price", "qty", "note"], [FieldValue.FromInt64(0), FieldValue.FromString("seed"), FieldValue.FromDecimalText("0.25"), FieldValue.FromInt64(0), FieldValue.FromString("seed")]),
            Source = new SourceInfo { Lsn = 0 },
            Origin = new Origin { Topic = "items", Position = new StreamPosition(0, 0) },
        };
        await sink.ApplyAsync(new SinkBatch("bench", live, [seed], new Dictionary<string, StreamPosition>()), cancellationToken);

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var shadow = await sink.BeginShadowAsync("bench", live, cancellationToken);
        await ApplyAllAsync(new ShadowWritingSink(sink, shadow), live, batches, cancellationToken);

        var append = clock.Elapsed.TotalSeconds;
        clock.Stop();
        var held = GC.GetTotalMemory(forceFullCollection: true) - before;
        clock.Start();
        await sink.SwapShadowAsync(shadow, keepOld: false, cancellationToken);
        var total = clock.Elapsed.TotalSeconds;
        return (total, append, total - append, sink.PeakHeldShadowKeys, held);
    }

    /// <summary>The changes cut into batches of <paramref name="batchSize"/>, each collapsed by the engine's
    /// <see cref="Collapser"/> and carrying the checkpoint of its last change.</summary>
    internal static List<(IReadOnlyList<ChangeEvent> Changes, Dictionary<string, StreamPosition> Checkpoint)> Batches(List<ChangeEvent> changes, int batchSize)
    {
        var batches = new List<(IReadOnlyList<ChangeEvent> Changes, Dictionary<string, StreamPosition> Checkpoint)>();
        for (var i = 0; i < changes.Count; i += batchSize)
        {
            var batch = changes.GetRange(i, Math.Min(batchSize, changes.Count - i));
            batches.Add((Collapser.Collapse(batch), new Dictionary<string, StreamPosition> { ["items"] = batch[^1].Origin.Position }));
        }

        return batches;
    }

    /// <summary>Applies the batches in order as the runtime does; a rejection stops the bench.</summary>
    internal static async Task ApplyAllAsync(ISink writer, TargetSpec live, List<(IReadOnlyList<ChangeEvent> Changes, Dictionary<string, StreamPosition> Checkpoint)> batches, CancellationToken cancellationToken)
    {
        foreach (var (changes, checkpoint) in batches)
        {
            var result = await writer.ApplyAsync(new SinkBatch("bench", live, changes, checkpoint), cancellationToken);
            if (result.Rejected.Count > 0)
            {
                throw new InvalidOperationException($"the bench batch had rejections: {result.Rejected[0].Reason}");
            }
        }
    }
}
