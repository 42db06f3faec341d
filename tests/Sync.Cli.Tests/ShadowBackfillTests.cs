using Npgsql;

namespace Sync.Cli.Tests;

/// <summary><c>sync backfill --shadow</c> builds into <c>&lt;table&gt;__shadow</c> and swaps it in with one
/// transaction: a reader querying the live table meanwhile sees the old complete table or the new
/// complete one, an interrupted backfill leaves the live table as it was, a rerun starts over, and
/// <c>sync run</c> goes on from the backfill's end. The real CLI against a real PostgreSQL
/// (SYNC_TEST_POSTGRES, set by ./scripts/test.sh).</summary>
public sealed class ShadowBackfillTests : IAsyncLifetime
{
    private const string Topic = "persistent://public/default/shop.public.items";
    private const int Keys = 2_000;
    private const int Stale = 250;
    private readonly Workspace _workspace = new();
    private readonly string _schema = $"shadow_{Guid.NewGuid():N}"[..20];

    private static string Postgres => TestServers.Postgres;

    private string Live => $"\"{_schema}\".items";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await ExecuteAsync($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE; DROP SCHEMA IF EXISTS \"{_schema}_sync\" CASCADE");
        _workspace.Dispose();
    }

    [Fact]
    public async Task A_reader_sees_the_old_complete_table_until_the_swap_and_then_the_new_complete_one()
    {
        var config = await LiveTableWithStaleRowsAsync(events: 8_000, batchSize: 40);

        using var stop = new CancellationTokenSource();
        var reader = ReadCountsAsync(stop.Token);
        var backfill = await _workspace.Sync("backfill", "--config", config, "--materializer", "items", "--shadow", "--no-progress");
        await Poll.UntilAsync(() => Seen().Contains(Keys));
        await stop.CancelAsync();
        await reader;

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Contains($"items: the shadow is live as \"{_schema}\".\"items\"; the old data was dropped", backfill.Output, StringComparison.Ordinal);
        // Only ever the two complete states: never a table being filled.
        Assert.Equal(new long[] { Keys, Keys + Stale }, Seen().Order());
        Assert.Equal(Keys, await CountAsync($"SELECT count(*) FROM {Live}"));
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM pg_tables WHERE schemaname = '{_schema}' AND tablename <> 'items'"));
        // The live table's own index came over with LIKE … INCLUDING ALL.
        Assert.Equal(1, await CountAsync($"SELECT count(*) FROM pg_indexes WHERE schemaname = '{_schema}' AND tablename = 'items' AND indexdef LIKE '%(label)%'"));
    }

    [Fact]
    public async Task An_interrupted_backfill_leaves_the_live_table_untouched_and_a_rerun_swaps_in_the_complete_shadow()
    {
        var config = await LiveTableWithStaleRowsAsync(events: 20_000, batchSize: 10);
        var liveBefore = await CountAsync($"SELECT count(*) FROM {Live}");

        using (var process = SyncProcess.Start(_workspace.Directory, "backfill", "--config", config, "--materializer", "items", "--shadow", "--no-progress"))
        {
            var output = process.StandardOutput.ReadToEndAsync();
            await Poll.UntilAsync(() => ShadowRows() > 100, TimeSpan.FromSeconds(90));
            using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill!.WaitForExitAsync();
            await process.WaitForExitAsync();
            Assert.Contains("items: interrupted before the end; the live target is untouched", await output, StringComparison.Ordinal);
        }

        Assert.Equal(Keys + Stale, liveBefore);
        Assert.Equal(liveBefore, await CountAsync($"SELECT count(*) FROM {Live}"));
        // Every key is in the shadow after the first 2,000 events, so what shows it incomplete is
        // that it holds fewer than all 20,000 events.
        Assert.InRange(ShadowRows(), 1, Keys);
        Assert.InRange(await CountAsync($"SELECT max(n) FROM \"{_schema}\".items__shadow"), 1, 20_000 - 1);

        var rerun = await _workspace.Sync("backfill", "--config", Config(batchSize: 1_000), "--materializer", "items", "--shadow", "--no-progress");

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(Keys, await CountAsync($"SELECT count(*) FROM {Live}"));
        Assert.Equal(20_000 - Keys + 1, await CountAsync($"SELECT min(n) FROM {Live}"));
    }

    [Fact]
    public async Task Sync_run_after_the_swap_continues_from_the_backfills_end()
    {
        var config = await LiveTableWithStaleRowsAsync(events: 3_000, batchSize: 100);
        var backfill = await _workspace.Sync("backfill", "--config", config, "--materializer", "items", "--shadow", "--no-progress");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());

        File.AppendAllText(_workspace.File("data/items.jsonl"), Changelog(from: 3_001, to: 3_010));
        var run = await _workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode == 0, run.ToString());
        // Only the ten appended events are read: the checkpoint moved with the shadow.
        Assert.Matches(@"items\s+pg/items\s+10\s", run.Output);
        Assert.Equal(3_010, await CountAsync($"SELECT max(n) FROM {Live}"));
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM \"{_schema}_sync\".checkpoints WHERE materializer = 'items__shadow'"));
    }

    [Fact]
    public async Task The_swap_is_refused_when_a_run_moved_the_live_checkpoint_during_the_backfill()
    {
        var config = await LiveTableWithStaleRowsAsync(events: 20_000, batchSize: 50);
        using var process = SyncProcess.Start(_workspace.Directory, "backfill", "--config", config, "--materializer", "items", "--shadow", "--no-progress");
        var error = process.StandardError.ReadToEndAsync();
        await Poll.UntilAsync(() => ShadowRows() > 0, TimeSpan.FromSeconds(90));

        // What a `sync run` writing to the live table does to its checkpoint.
        await ExecuteAsync($"INSERT INTO \"{_schema}_sync\".checkpoints (materializer, stream, position) VALUES ('items', 'another-topic', '1:1:0')");
        await process.WaitForExitAsync();

        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains("moved during the backfill", await error, StringComparison.Ordinal);
        Assert.Equal(Keys + Stale, await CountAsync($"SELECT count(*) FROM {Live}"));
        Assert.Equal(Keys, ShadowRows());
    }

    private readonly HashSet<long> _seen = [];

    private List<long> Seen()
    {
        lock (_seen)
        {
            return [.. _seen];
        }
    }

    /// <summary>Counts the live table's rows in a loop, as a reader of the target would.</summary>
    private async Task ReadCountsAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync(CancellationToken.None);
        while (!cancellationToken.IsCancellationRequested)
        {
            await using var command = new NpgsqlCommand($"SELECT count(*) FROM {Live}", connection);
            var count = (long)(await command.ExecuteScalarAsync(CancellationToken.None))!;
            lock (_seen)
            {
                _seen.Add(count);
            }
        }
    }

    /// <summary>A live table built by <c>sync run</c> from the changelog, plus stale rows the changelog
    /// does not hold (what a backfill replaces) and an index of the operator's own.</summary>
    private async Task<string> LiveTableWithStaleRowsAsync(int events, int batchSize)
    {
        _workspace.Write("data/items.jsonl", Changelog(1, events));
        var run = await _workspace.Sync("run", "--config", Config(batchSize: 1_000));
        Assert.True(run.ExitCode == 0, run.ToString());
        await ExecuteAsync(
            $"""
            INSERT INTO {Live} (id, n, label) SELECT 100000 + g, 0, 'stale' FROM generate_series(1, {Stale}) g;
            CREATE INDEX items_label ON {Live} (label);
            """);
        _seen.Clear();
        return Config(batchSize);
    }

    /// <summary>The config; small batches make the backfill take many transactions.</summary>
    private string Config(int batchSize) => _workspace.Write("sync.yaml", $"""
        sources:
          changelog: {"{"} type: file, path: data/items.jsonl {"}"}
        sinks:
          pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable, schema: {_schema}, stateSchema: {_schema}_sync {"}"}
        materializers:
          items:
            source: changelog
            topics: ['{Topic}']
            sink: pg
            table: items
            batchSize: {batchSize}
        """);

    /// <summary>Upserts of events <paramref name="from"/>..<paramref name="to"/>, event i on key i mod <see cref="Keys"/>.</summary>
    private static string Changelog(int from, int to)
    {
        var text = new StringBuilder();
        for (var i = from; i <= to; i++)
        {
            var key = i % Keys;
            text.Append(CultureInfo.InvariantCulture, $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":{{{{key}}}}},"value":{"op":"u","after":{"id":{{{{key}}}},"n":{{{{i}}}},"label":"item {{{{key}}}}"},"source":{"lsn":{{{{1000 + i}}}}}}}""").Append('\n');
        }

        return text.ToString();
    }

    private long ShadowRows()
    {
        using var connection = new NpgsqlConnection(Postgres);
        connection.Open();
        using var exists = new NpgsqlCommand($"SELECT to_regclass('\"{_schema}\".items__shadow') IS NOT NULL", connection);
        if (!(bool)exists.ExecuteScalar()!)
        {
            return 0;
        }

        using var count = new NpgsqlCommand($"SELECT count(*) FROM \"{_schema}\".items__shadow", connection);
        return (long)count.ExecuteScalar()!;
    }

    private static Task<long> CountAsync(string sql) => PostgresQueries.ScalarAsync(sql);

    private static Task ExecuteAsync(string sql) => PostgresQueries.ExecuteAsync(sql);
}
