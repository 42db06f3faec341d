using Npgsql;
using Sync.Engine.DeadLetters;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>
/// Never-regress with several writers on one target, as two <c>sync run</c> processes on one Key_Shared
/// subscription are after a rebalance. The interleaving tests hold one writer's transaction open just
/// before its COMMIT (the batch's dead-letter callback blocks until released), start the other writer,
/// and wait until the server reports it done or blocked on a lock (<c>pg_stat_activity.wait_event_type</c>)
/// before letting the first commit: the order of events is forced, never guessed from elapsed time.
/// </summary>
public sealed class PostgresConcurrentWritersTests
{
    /// <summary>How long a forced step may take before the test fails (never passes) for it.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Upsert_waiting_on_a_concurrent_delete_does_not_resurrect_the_row()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        await db.ApplyAsync("users", Change.Create(("id", 1), 10, ("name", "v10")));

        // The delete (newer) has removed the row and written its marker; the upsert (older) probes the
        // markers while the delete is uncommitted, then waits for the row.
        using var hold = new Hold();
        var delete = hold.ApplyAsync(db.Sink, "users", Change.Delete(("id", 1), 30));
        await hold.ReachedAsync();
        var upsert = Task.Run(() => ApplyAsync(other, "users", Change.Update(("id", 1), 20, ("name", "v20"))));
        await BlockedOrDoneAsync(other, upsert);
        hold.Release();
        await delete;
        await upsert;

        Assert.Empty(await db.CanonicalRowsAsync("users"));
        Assert.Equal(["{\"id\":1}|30"], await MarkersAsync(db));
    }

    [Fact]
    public async Task A_first_batch_into_a_schema_that_another_process_is_creating_waits_for_it_instead_of_failing()
    {
        // Two processes start on an empty database, one sink's state schema being the other's target
        // schema: one opens and creates its state schema (as CreateStateTablesAsync does, under the
        // schema lock) while the other's first batch creates the target table in that same schema.
        // CREATE SCHEMA IF NOT EXISTS alone is not safe against a concurrent one: the second fails
        // with 23505 on pg_namespace once the first commits.
        await using var db = await PostgresTestDb.OpenAsync();
        await using var holder = await PostgresTestDb.ConnectAsync();
        await using var creating = await holder.BeginTransactionAsync();
        await using (var create = new NpgsqlCommand(
            $"SELECT pg_advisory_xact_lock(hashtext('sync.schema')); CREATE SCHEMA IF NOT EXISTS {PostgresTestDb.Q(db.Schema)}", holder, creating))
        {
            await create.ExecuteNonQueryAsync();
        }

        var apply = Task.Run(() => ApplyAsync(db.Sink, "users", Change.Create(("id", 1), 10, ("name", "v10"))));
        await BlockedOrDoneAsync(db.Sink, apply);
        await creating.CommitAsync();
        await apply;

        Assert.Equal(["id=1|name=v10"], await db.CanonicalRowsAsync("users"));
    }

    [Fact]
    public async Task Delete_racing_an_uncommitted_older_upsert_of_a_new_key_leaves_no_row()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        await db.ApplyAsync("users", Change.Create(("id", 9), 5, ("name", "table exists")));

        // The upsert (older) has inserted the row and not committed; the delete (newer) cannot see it.
        using var hold = new Hold();
        var upsert = hold.ApplyAsync(db.Sink, "users", Change.Create(("id", 1), 20, ("name", "v20")));
        await hold.ReachedAsync();
        var delete = Task.Run(() => ApplyAsync(other, "users", Change.Delete(("id", 1), 30)));
        await BlockedOrDoneAsync(other, delete);
        hold.Release();
        await upsert;
        await delete;

        Assert.Equal(["id=9|name=table exists"], await db.CanonicalRowsAsync("users"));
        Assert.Equal(["{\"id\":1}|30"], await MarkersAsync(db));
    }

    [Fact]
    public async Task Older_delete_waiting_on_a_concurrent_delete_keeps_the_newer_marker()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        await db.ApplyAsync("users", Change.Create(("id", 1), 10, ("name", "v10")));

        using var hold = new Hold();
        var newer = hold.ApplyAsync(db.Sink, "users", Change.Delete(("id", 1), 30));
        await hold.ReachedAsync();
        var older = Task.Run(() => ApplyAsync(other, "users", Change.Delete(("id", 1), 20)));
        await BlockedOrDoneAsync(other, older);
        hold.Release();
        await newer;
        await older;

        // An older marker over the newer one would let a late change at LSN 25 bring the row back.
        Assert.Equal(["{\"id\":1}|30"], await MarkersAsync(db));
        var late = await db.ApplyAsync("users", Change.Update(("id", 1), 25, ("name", "v25")));
        Assert.Equal(1, late.Stale);
        Assert.Empty(await db.CanonicalRowsAsync("users"));
    }

    [Fact]
    public async Task Older_upsert_waiting_on_a_concurrent_upsert_leaves_the_newer_row()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        await db.ApplyAsync("users", Change.Create(("id", 1), 10, ("name", "v10")));

        // ON CONFLICT … DO UPDATE … WHERE re-checks its condition on the newest row version after the
        // wait, so this one held even before the key locks; it stays here as proof of that.
        using var hold = new Hold();
        var newer = hold.ApplyAsync(db.Sink, "users", Change.Update(("id", 1), 30, ("name", "v30")), Change.Create(("id", 2), 31, ("name", "v31")));
        await hold.ReachedAsync();
        var older = Task.Run(() => ApplyAsync(other, "users", Change.Update(("id", 1), 20, ("name", "v20")), Change.Create(("id", 2), 21, ("name", "v21"))));
        await BlockedOrDoneAsync(other, older);
        hold.Release();
        await newer;
        var result = await older;

        Assert.Equal(2, result.Stale);
        Assert.Equal(["id=1|name=v30", "id=2|name=v31"], await db.CanonicalRowsAsync("users"));
        Assert.Equal(["1|30", "2|31"], await PostgresTestDb.RowsAsync($"SELECT id, _sync_version FROM {db.Table("users")} ORDER BY id"));
    }

    [Fact]
    public async Task Truncate_racing_an_uncommitted_older_upsert_leaves_no_row()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        await db.ApplyAsync("users", Change.Create(("id", 1), 10, ("name", "v10")));

        // The upsert (older than the truncate) writes a key the truncate's DELETE cannot see yet.
        using var hold = new Hold();
        var upsert = hold.ApplyAsync(db.Sink, "users", Change.Create(("id", 2), 20, ("name", "v20")));
        await hold.ReachedAsync();
        var truncate = Task.Run(() => ApplyAsync(other, "users", Change.Truncate(30)));
        await BlockedOrDoneAsync(other, truncate);
        hold.Release();
        await upsert;
        await truncate;

        Assert.Empty(await db.CanonicalRowsAsync("users"));
        Assert.Equal(["*|30"], await MarkersAsync(db));
    }

    [Fact]
    public async Task Upsert_waiting_on_a_concurrent_erasure_does_not_write_the_subject_back()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        var t = db.Target("users");
        await db.ApplyAsync(t, Change.Create(("id", 1), 10, ("name", "v10")), Change.Create(("id", 2), 11, ("name", "v11")));
        await db.ApplyAsync(t, Change.Delete(("id", 2), 12));

        // The erasure deletes row 1 and writes its marker, then stops at key 2's marker, which a third
        // connection holds: its transaction is open with the subject gone but nothing committed.
        await using var holder = await PostgresTestDb.ConnectAsync();
        await using var holding = await holder.BeginTransactionAsync();
        await using (var lockMarker = new NpgsqlCommand($"SELECT key_text FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers FOR UPDATE", holder, holding))
        {
            Assert.Equal("{\"id\":2}", await lockMarker.ExecuteScalarAsync());
        }

        var erase = Task.Run(async () => await db.Sink.EraseManyAsync(t, new SubjectMatches("id", [FieldValue.FromInt64(1), FieldValue.FromInt64(2)]) { IsKey = true }, CancellationToken.None));
        await BlockedOrDoneAsync(db.Sink, erase);
        Assert.False(erase.IsCompleted, "the erasure finished although key 2's marker was locked");
        var upsert = Task.Run(() => ApplyAsync(other, "users", Change.Update(("id", 1), 20, ("name", "v20"))));
        await BlockedOrDoneAsync(other, upsert);
        await holding.RollbackAsync();
        Assert.Equal([1L, 0L], await erase);
        var result = await upsert;

        Assert.Equal(1, result.Stale);
        Assert.Empty(await db.CanonicalRowsAsync("users"));
        Assert.Equal([$"{{\"id\":1}}|{long.MaxValue}", $"{{\"id\":2}}|{long.MaxValue}"], await MarkersAsync(db));
    }

    [Fact]
    public async Task One_key_applied_through_two_sinks_in_opposite_orders_ends_at_its_newest_change()
    {
        // As two key-shared consumers after a rebalance, with the order of the key's changes broken on
        // purpose: one sink applies them oldest first, the other newest first, one batch per change,
        // at the same time. Only the versions and the key locks decide the outcome.
        await using var db = await PostgresTestDb.OpenAsync();
        await using var other = await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);
        await db.ApplyAsync("users", Change.Create(("id", 0), 1, ("name", "table exists")));
        for (var round = 0; round < 20; round++)
        {
            var id = round + 1;
            var lsn = 100L * id;
            List<ChangeEvent> changes =
            [
                Change.Create(("id", id), lsn + 1, ("name", "created")),
                Change.Update(("id", id), lsn + 2, ("name", "updated")),
                Change.Delete(("id", id), lsn + 3),
                Change.Create(("id", id), lsn + 4, ("name", "recreated")),
                Change.Update(("id", id), lsn + 5, ("name", "final")),
            ];
            if (round % 2 == 1)
            {
                changes.Add(Change.Delete(("id", id), lsn + 6));
            }

            var forward = Task.Run(async () =>
            {
                foreach (var change in changes)
                {
                    await ApplyAsync(db.Sink, "users", change);
                }
            });
            var backward = Task.Run(async () =>
            {
                foreach (var change in Enumerable.Reverse(changes))
                {
                    await ApplyAsync(other, "users", change);
                }
            });
            await Task.WhenAll(forward, backward).WaitAsync(Patience);

            var rows = await PostgresTestDb.RowsAsync($"SELECT name, _sync_version FROM {db.Table("users")} WHERE id = {id}");
            var markers = await PostgresTestDb.RowsAsync($"SELECT lsn FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers WHERE key_text = '{{\"id\":{id}}}'");
            if (round % 2 == 1)
            {
                Assert.Empty(rows);
                Assert.Equal([(lsn + 6).ToString(System.Globalization.CultureInfo.InvariantCulture)], markers);
            }
            else
            {
                Assert.Equal([$"final|{lsn + 5}"], rows);
                Assert.Empty(markers);
            }
        }
    }

    [Fact]
    public async Task Writers_applying_shuffled_versions_of_the_same_keys_at_once_end_at_the_newest_and_never_go_back()
    {
        const int seed = 27_3;
        const int keyCount = 6;
        const int writerCount = 4;
        var random = new Random(seed);
        await using var db = await PostgresTestDb.OpenAsync();
        var sinks = new List<PostgresSink> { db.Sink };
        for (var i = 1; i < writerCount; i++)
        {
            sinks.Add(await PostgresSink.OpenAsync("pg" + i, db.Options, CancellationToken.None));
        }

        try
        {
            await db.ApplyAsync("users", Change.Create(("id", 0), 1, ("name", "table exists")));

            // Every key's history: creates, updates and deletes with LSNs distinct across all keys.
            var history = new List<ChangeEvent>();
            var lsn = 10L;
            for (var step = 0; step < 40; step++)
            {
                for (var id = 1; id <= keyCount; id++)
                {
                    lsn += 1 + random.Next(3);
                    history.Add(random.Next(4) == 0
                        ? Change.Delete(("id", id), lsn)
                        : Change.Update(("id", id), lsn, ("name", $"n{lsn}")));
                }
            }

            var reader = new VersionWatcher(db);
            using var stop = new CancellationTokenSource();
            var watching = reader.WatchAsync(stop.Token);
            var writers = sinks.Select((sink, w) =>
            {
                var mine = history.OrderBy(_ => random.Next()).ToList();
                var sizes = Enumerable.Range(0, mine.Count).Select(_ => 1 + random.Next(3)).ToList();
                return Task.Run(async () =>
                {
                    var at = 0;
                    for (var b = 0; at < mine.Count; b++)
                    {
                        var batch = mine.Skip(at).Take(sizes[b]).ToArray();
                        at += batch.Length;
                        // Each writer its own checkpoint rows: one shared row would make the writers'
                        // commits take turns and hide most interleavings.
                        await sink.ApplyAsync(Batch("users", batch) with { Materializer = "m" + w }, CancellationToken.None);
                    }
                });
            }).ToList();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromMinutes(3));
            await reader.PollAsync();
            stop.Cancel();
            await watching;

            var newest = history.GroupBy(c => c.Key.Values[0].AsInt64).ToDictionary(g => g.Key, g => g.MaxBy(c => c.Version.Lsn)!);
            var expectedRows = newest.Where(p => !p.Value.IsDelete).OrderBy(p => p.Key).Select(p => $"{p.Key}|n{p.Value.Version.Lsn}|{p.Value.Version.Lsn}").Prepend("0|table exists|1");
            var expectedMarkers = newest.Where(p => p.Value.IsDelete).OrderBy(p => p.Key).Select(p => $"{p.Key}|{p.Value.Version.Lsn}");
            var because = $"seed {seed}; regressions seen by the reader: {string.Join("; ", reader.Regressions)}";
            Assert.True(reader.Regressions.Count == 0, because);
            Assert.True(reader.Polls > 1, because);
            Assert.Equal(expectedRows, await PostgresTestDb.RowsAsync($"SELECT id, name, _sync_version FROM {db.Table("users")} ORDER BY id"));
            Assert.Equal(expectedMarkers, await PostgresTestDb.RowsAsync(
                $"SELECT (key_text::jsonb ->> 'id')::bigint AS id, lsn FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers ORDER BY 1"));
        }
        finally
        {
            foreach (var sink in sinks.Skip(1))
            {
                await sink.DisposeAsync();
            }
        }
    }

    /// <summary>A reader that polls every key's visible version (the row's, or else its delete marker's)
    /// in one statement, so one snapshot, and records any key seen going back to an older version.</summary>
    private sealed class VersionWatcher(PostgresTestDb db)
    {
        private readonly Dictionary<long, long> _seen = [];

        public List<string> Regressions { get; } = [];

        public int Polls { get; private set; }

        public async Task WatchAsync(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await PollAsync();
            }
        }

        public async Task PollAsync()
        {
            var rows = await PostgresTestDb.RowsAsync(
                $"""
                SELECT coalesce(t.id, (m.key_text::jsonb ->> 'id')::bigint), coalesce(t._sync_version, m.lsn)
                FROM {db.Table("users")} t
                FULL JOIN (SELECT * FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers WHERE key_text <> '*') m ON (m.key_text::jsonb ->> 'id')::bigint = t.id
                """);
            Polls++;
            foreach (var row in rows)
            {
                var parts = row.Split('|');
                var id = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
                var version = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                if (_seen.TryGetValue(id, out var before) && version < before && !Regressions.Contains($"key {id}: {before} then {version}"))
                {
                    Regressions.Add($"key {id}: {before} then {version}");
                }

                _seen[id] = Math.Max(before, version);
            }
        }
    }

    /// <summary>Holds a batch's transaction open just before its COMMIT: the sink calls the batch's
    /// dead-letter callback after every statement of the batch and before committing.</summary>
    private sealed class Hold : IDisposable
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ManualResetEventSlim _release = new();

        public Task<ApplyResult> ApplyAsync(PostgresSink sink, string table, params ChangeEvent[] changes)
        {
            var batch = Batch(table, changes) with
            {
                BeforeCommit = (_, _) =>
                {
                    _reached.TrySetResult();
                    if (!_release.Wait(Patience))
                    {
                        throw new TimeoutException("the held batch was never released");
                    }

                    return ValueTask.FromResult<IReadOnlyList<DeadLetterRow>>([]);
                },
            };
            return Task.Run(async () => await sink.ApplyAsync(batch, CancellationToken.None));
        }

        public Task ReachedAsync() => _reached.Task.WaitAsync(Patience);

        public void Release() => _release.Set();

        public void Dispose()
        {
            _release.Set();
            _release.Dispose();
        }
    }

    private static SinkBatch Batch(string table, ChangeEvent[] changes) =>
        new(PostgresTestDb.Materializer, new TargetSpec(table), changes, changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position)));

    private static async Task<ApplyResult> ApplyAsync(PostgresSink sink, string table, params ChangeEvent[] changes) =>
        await sink.ApplyAsync(Batch(table, changes), CancellationToken.None);

    private static Task<List<string>> MarkersAsync(PostgresTestDb db) =>
        PostgresTestDb.RowsAsync($"SELECT key_text, lsn FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers ORDER BY key_text");

    /// <summary>Waits until the task has finished or the sink's server process waits for a lock held by
    /// another transaction; fails the test when neither happens in <see cref="Patience"/>.</summary>
    private static async Task BlockedOrDoneAsync(PostgresSink sink, Task task)
    {
        var pid = sink.ProcessId ?? throw new InvalidOperationException("the sink has no open connection");
        await using var connection = await PostgresTestDb.ConnectAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (!task.IsCompleted)
        {
            await using (var command = new NpgsqlCommand("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", connection))
            {
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = pid });
                if (await command.ExecuteScalarAsync() is true)
                {
                    return;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"server process {pid} neither finished nor waited for a lock within {Patience}");
            await Task.Yield();
        }

        await task;
    }
}
