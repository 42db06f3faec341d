using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Snapshooter.Xunit;
using Sync.Cli.Output;
using Sync.Engine.DeadLetters;
using Sync.Engine.Formats;
using Sync.Engine.Sinks;
using Sync.Sources;
using Sync.Sources.File;
using Sync.Sinks;

namespace Sync.Compliance.Tests;

/// <summary>Erasure on the embedded default: the quick-start changelog and SQLite.</summary>
public sealed class ErasureServiceTests : IDisposable
{
    private static readonly string[] PersonalData =
    [
        "Ada", "Lovelace", "ada.lovelace@example.org", "ada@example.com", "6f1e7c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "120.50", "gift",
    ];

    private readonly Workspace _workspace = new();
    private readonly SyncComponents _components = new(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private int _requests;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _workspace.Dispose();
    }

    [Fact]
    public async Task Erasing_a_customer_removes_it_by_key_and_by_field_from_topics_and_sinks_and_the_report_holds_no_personal_data()
    {
        var config = await MaterializeAsync();

        var report = await EraseAsync(config, "1");

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.DoesNotContain(SqliteTables.Rows(_workspace.QuickstartDb, "customers"), r => r.StartsWith("id=1|", StringComparison.Ordinal));
        Assert.DoesNotContain(SqliteTables.Rows(_workspace.QuickstartDb, "orders"), r => r.Contains("|customer_id=1|", StringComparison.Ordinal));
        var changelog = await File.ReadAllTextAsync(Path.Combine(_workspace.Examples, "data", "changelog.jsonl"));
        Assert.All(PersonalData, value => Assert.DoesNotContain(value, changelog, StringComparison.Ordinal));

        var json = ErasureReportWriter.ToJson(report);
        var text = new StringWriter();
        ErasureReportWriter.WriteTables(text, report);
        Assert.All(PersonalData, value => Assert.DoesNotContain(value, json + text, StringComparison.Ordinal));
        Assert.DoesNotContain("\"1\"", json, StringComparison.Ordinal);
        Snapshot.Match(report, options => options.IgnoreField("Timings"));
    }

    [Fact]
    public async Task A_dry_run_changes_nothing()
    {
        var config = await MaterializeAsync();
        var changelog = Path.Combine(_workspace.Examples, "data", "changelog.jsonl");
        var fileBefore = await File.ReadAllBytesAsync(changelog);
        var customers = SqliteTables.Rows(_workspace.QuickstartDb, "customers");
        var orders = SqliteTables.Rows(_workspace.QuickstartDb, "orders");

        var report = await EraseAsync(config, "1", dryRun: true);

        Assert.Equal(ErasureVerdict.Planned, report.Verdict);
        Assert.Equal(2, report.Topics.Count);
        Assert.Equal([1L, 1L], report.Sinks.Select(s => s.RowsBefore));
        Assert.Equal(fileBefore, await File.ReadAllBytesAsync(changelog));
        Assert.Equal(customers, SqliteTables.Rows(_workspace.QuickstartDb, "customers"));
        Assert.Equal(orders, SqliteTables.Rows(_workspace.QuickstartDb, "orders"));
        Assert.False(File.Exists(config.LedgerPath));
    }

    [Fact]
    public async Task A_backfill_over_a_raw_backlog_that_still_holds_the_subject_does_not_bring_it_back()
    {
        var config = await MaterializeAsync();
        var changelog = Path.Combine(_workspace.Examples, "data", "changelog.jsonl");
        var backlog = await File.ReadAllBytesAsync(changelog);
        Assert.Equal(ErasureVerdict.Complete, (await EraseAsync(config, "1")).Verdict);

        // As if the raw backlog kept every message until its retention expires.
        await File.WriteAllBytesAsync(changelog, backlog);
        var outcomes = await new SyncRuntime(config, _components, NullLoggerFactory.Instance, new LedgerSuppression(config, _components).Filter)
            .RunAsync([], RunMode.Backfill, CancellationToken.None);

        Assert.All(outcomes, o => Assert.Null(o.Failure));
        Assert.Equal(2, outcomes.Single(o => o.Name == "customers").Counters.Suppressed);
        Assert.Equal(2, outcomes.Single(o => o.Name == "orders").Counters.Suppressed);
        Assert.DoesNotContain(SqliteTables.Rows(_workspace.QuickstartDb, "customers"), r => r.StartsWith("id=1|", StringComparison.Ordinal));
        Assert.DoesNotContain(SqliteTables.Rows(_workspace.QuickstartDb, "orders"), r => r.Contains("|customer_id=1|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_order_moved_to_another_customer_keeps_its_key_and_loses_only_the_before_image_naming_the_erased_one()
    {
        var changelog = Path.Combine(_workspace.Examples, "data", "changelog.jsonl");
        await AppendOrderMoveAsync(changelog, order: 1001, from: 1, to: 2, lsn: 77100);
        var config = await MaterializeAsync();
        var backlog = await File.ReadAllBytesAsync(changelog);
        var moved = Assert.Single(SqliteTables.Rows(_workspace.QuickstartDb, "orders"), r => r.StartsWith("id=1001|", StringComparison.Ordinal));
        Assert.Contains("|customer_id=2|", moved, StringComparison.Ordinal);

        var report = await EraseAsync(config, "1");

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        var orders = Assert.Single(report.Topics, t => t.Topic.EndsWith("db2.sales.orders", StringComparison.Ordinal));
        Assert.Equal(0, orders.KeysFound); // no tombstone: the order is customer 2's now
        Assert.Equal(1, orders.Scrubbed);
        Assert.Equal(0, orders.CompactedViewMatches);
        Assert.Equal(0, orders.RawResidue);
        Assert.Equal([moved], SqliteTables.Rows(_workspace.QuickstartDb, "orders").Where(r => r.StartsWith("id=1001|", StringComparison.Ordinal)));
        var text = await File.ReadAllTextAsync(changelog);
        Assert.DoesNotContain("\"customer_id\":1,", text, StringComparison.Ordinal);
        var kept = Assert.Single(text.Split('\n'), l => l.Contains("\"key\":\"{\\\"id\\\":1001}\"", StringComparison.Ordinal));
        Assert.Contains("\"customer_id\":2,", kept, StringComparison.Ordinal);
        Assert.Contains(BeforeImageScrubber.ScrubbedProperty, kept, StringComparison.Ordinal);

        // A run over the erased file changes nothing: the copy is the same change at the same LSN.
        var run = await new SyncRuntime(config, _components, NullLoggerFactory.Instance, new LedgerSuppression(config, _components).Filter)
            .RunAsync([], RunMode.Resume, CancellationToken.None);
        Assert.All(run, o => Assert.Null(o.Failure));
        Assert.Equal([moved], SqliteTables.Rows(_workspace.QuickstartDb, "orders").Where(r => r.StartsWith("id=1001|", StringComparison.Ordinal)));

        // A backfill into an empty database from the raw backlog as it was (retention kept it): the
        // move to customer 2 is applied, every change while customer 1 owned the order is suppressed.
        await File.WriteAllBytesAsync(changelog, backlog);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(_workspace.QuickstartDb);
        var backfill = await new SyncRuntime(config, _components, NullLoggerFactory.Instance, new LedgerSuppression(config, _components).Filter)
            .RunAsync([], RunMode.Backfill, CancellationToken.None);
        Assert.All(backfill, o => Assert.Null(o.Failure));
        Assert.Equal([moved], SqliteTables.Rows(_workspace.QuickstartDb, "orders").Where(r => r.StartsWith("id=1001|", StringComparison.Ordinal)));
        Assert.DoesNotContain(SqliteTables.Rows(_workspace.QuickstartDb, "orders"), r => r.Contains("|customer_id=1|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_plan_tombstones_keys_the_subject_owns_and_scrubs_keys_that_only_name_it_before_they_moved()
    {
        var changelog = Path.Combine(_workspace.Examples, "data", "changelog.jsonl");
        // 1001: customer 1's, moved to 2: scrubbed. 1003: customer 4's, moved to 1: owned by 1 now,
        // tombstoned. 1004: deleted by an op=d (no tombstone after it) whose before image names 1:
        // the key is dead, its tombstone removes only that before image.
        await AppendOrderMoveAsync(changelog, order: 1001, from: 1, to: 2, lsn: 77100);
        await AppendOrderMoveAsync(changelog, order: 1003, from: 4, to: 1, lsn: 77101);
        await AppendOrderMoveAsync(changelog, order: 1004, from: 1, to: 1, lsn: 77102, delete: true);
        var config = ConfigLoader.Load(_workspace.Quickstart, _components.Types, _ => null);

        var plan = await EraseAsync(config, "1", dryRun: true);

        var orders = Assert.Single(plan.Topics, t => t.Topic.EndsWith("db2.sales.orders", StringComparison.Ordinal));
        Assert.Equal(2, orders.KeysFound);
        Assert.Equal(1, orders.Scrubbed);

        // Erasing customer 4 finds order 1003 only in the before image of its move to customer 1:
        // scrubbed, not tombstoned.
        var ofFour = Assert.Single((await EraseAsync(config, "4", dryRun: true)).Topics, t => t.Topic.EndsWith("db2.sales.orders", StringComparison.Ordinal));
        Assert.Equal(0, ofFour.KeysFound);
        Assert.Equal(1, ofFour.Scrubbed);
    }

    /// <summary>Appends an update of <paramref name="order"/> that moves it from one customer to
    /// another (or, with <paramref name="delete"/>, an op=d of it while <paramref name="from"/> owned
    /// it), built from the order's last message in the quick-start changelog.</summary>
    private static async Task AppendOrderMoveAsync(string changelog, int order, int from, int to, long lsn, bool delete = false)
    {
        var lines = await File.ReadAllLinesAsync(changelog);
        var last = lines.Last(l => l.Contains($"\"key\":\"{{\\\"id\\\":{order}}}\"", StringComparison.Ordinal) && l.Contains("\"after\":{", StringComparison.Ordinal));
        var line = System.Text.Json.Nodes.JsonNode.Parse(last)!.AsObject();
        var payload = line["value"]!["payload"]!.AsObject();
        var before = payload["after"]!.DeepClone();
        before["customer_id"] = from;
        var after = payload["after"]!.DeepClone();
        after["customer_id"] = to;
        payload["before"] = before;
        payload["after"] = delete ? null : after;
        payload["op"] = delete ? "d" : "u";
        payload["source"]!["lsn"] = lsn;
        await File.AppendAllTextAsync(changelog, line.ToJsonString() + "\n");
    }

    [Fact]
    public async Task Erasing_again_is_safe_and_reports_already_erased()
    {
        var config = await MaterializeAsync();
        var first = await EraseAsync(config, "1");

        var second = await EraseAsync(config, "1");

        Assert.Equal(ErasureVerdict.AlreadyErased, second.Verdict);
        Assert.Equal(first.RequestId, second.RequestId);
        Assert.Empty(second.Topics);
        Assert.All(second.Sinks, s => Assert.Equal(0, s.RowsBefore));
    }

    [Fact]
    public async Task Many_keys_are_erased_in_one_pass_with_an_outcome_per_key()
    {
        var config = await MaterializeAsync();

        var report = await EraseAsync(config, "1", "4", "999");

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.Equal(3, report.Keys.Count);
        Assert.Equal([ErasureVerdict.Complete, ErasureVerdict.Complete, ErasureVerdict.NotFound], report.Keys.Select(k => k.Verdict));
        Assert.Equal(["id=2", "id=5"], SqliteTables.Rows(_workspace.QuickstartDb, "customers").Select(r => r.Split('|')[0]));
        Assert.Equal(["id=1004"], SqliteTables.Rows(_workspace.QuickstartDb, "orders").Select(r => r.Split('|')[0]));
        Assert.Equal([2, 2], report.Topics.Select(t => t.TombstonePositions.Count));
    }

    [Fact]
    public async Task Erasing_a_customer_deletes_the_dead_letters_that_name_it_and_counts_those_it_cannot_decode()
    {
        var config = await MaterializeAsync();
        config.Materializers.First(m => m.Key == "customers").Value.DeadLetterTarget = DeadLetterKind.Table;
        var lines = await File.ReadAllLinesAsync(Path.Combine(_workspace.Examples, "data", "changelog.jsonl"));
        SourceMessage Customer(int id) => ChangelogLineParser.Parse(
            Encoding.UTF8.GetBytes(lines.First(l => l.Contains("db1.public.customers", StringComparison.Ordinal) && l.Contains($"\"after\":{{\"id\":{id},", StringComparison.Ordinal))),
            StreamPosition.ForLine(1),
            out _);
        var ada = Customer(1);
        var letters = new[]
        {
            DeadLetterRow.Of("customers", "apply", ada, "value too long for column name", _time.GetUtcNow()),
            DeadLetterRow.Of("customers", "apply", Customer(2), "value too long for column name", _time.GetUtcNow()),
            DeadLetterRow.Of("customers", "decode", new SourceMessage { Topic = ada.Topic, Position = new StreamPosition(9, 1), Key = ada.Key, HasValue = false }, "tombstone without a row", _time.GetUtcNow()),
            DeadLetterRow.Of("customers", "decode", new SourceMessage { Topic = ada.Topic, Position = new StreamPosition(9, 2), Key = ada.Key, Value = "{\"after\":{\"id\":1,\"name\":\"Ada"u8.ToArray() }, "malformed JSON", _time.GetUtcNow()),
        };
        var table = await WithDeadLettersAsync(config, async store =>
        {
            await store.AppendDeadLettersAsync(letters, CancellationToken.None);
            return store.DeadLetterTable;
        });

        var plan = await EraseAsync(config, "1", dryRun: true);
        var report = await EraseAsync(config, "1");

        Assert.Equal(new DeadLetterOutcome("customers", table, 4, 2, 0, 2, 1), plan.DeadLetters.Single());
        Assert.Equal(new DeadLetterOutcome("customers", table, 4, 2, 2, 0, 1), report.DeadLetters.Single());
        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        var left = await WithDeadLettersAsync(config, store => store.ReadDeadLettersAsync("customers", 0, long.MaxValue, 10, CancellationToken.None).AsTask());
        Assert.Equal(["0:1:-1", "9:2:-1"], left.Select(l => l.Letter.Position));
        Assert.Contains(report.Notes, n => n.StartsWith($"1 dead letter of customers in {table} could not be decoded", StringComparison.Ordinal));
        var text = new StringWriter();
        ErasureReportWriter.WriteTables(text, report);
        Assert.Contains("naming the subject", text.ToString(), StringComparison.Ordinal);
        Assert.All(PersonalData, value => Assert.DoesNotContain(value, ErasureReportWriter.ToJson(report) + text, StringComparison.Ordinal));
    }

    /// <summary>The components with the SQLite sink replaced by one that cannot mark keys erased.</summary>
    private SyncComponents WithUnmarkableSqlite() => new(
        SourceCatalog.All,
        [.. SinkCatalog.All.Where(f => f.Type != "sqlite"), new UnmarkableSinkFactory(_components.Sinks["sqlite"])],
        MessageFormats.Names,
        MessageFormats.Create);

    [Fact]
    public async Task A_sink_target_that_cannot_mark_the_tombstoned_keys_erased_gets_a_note_with_the_sink_reason()
    {
        var config = await MaterializeAsync();
        var components = WithUnmarkableSqlite();

        var report = await new ErasureService(config, components, _time, () => $"request-{++_requests}")
            .EraseAsync(new ErasureCommand("customer", ["1"], "dpo@example.com", DryRun: false), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.All(report.Sinks, s => Assert.Equal(0, s.ErasureMarkers));
        var notes = report.Notes.Where(n => n.Contains("cannot turn the delete markers", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(notes);
        Assert.All(notes, n => Assert.Contains($"({UnmarkableSinkFactory.Reason})", n, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_key_a_sink_says_no_row_can_hold_gets_a_note_by_its_hash_and_the_other_keys_are_erased()
    {
        var config = await MaterializeAsync();
        var components = WithUnmarkableSqlite();

        var report = await new ErasureService(config, components, _time, () => $"request-{++_requests}")
            .EraseAsync(new ErasureCommand("customer", ["1", "ada@example.com"], "dpo@example.com", DryRun: false), CancellationToken.None);

        Assert.Contains(report.Sinks, s => s.Deleted > 0);
        var notes = report.Notes.Where(n => n.Contains("cannot match (bigint)", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(notes);
        Assert.All(notes, n => Assert.DoesNotContain("ada@example.com", n, StringComparison.Ordinal));
        Assert.All(notes, n => Assert.Contains(report.Keys, k => n.Contains(k.KeyHash, StringComparison.Ordinal)));
    }

    /// <summary>Opens the sinks of another factory, each saying it cannot mark keys erased.</summary>
    private sealed class UnmarkableSinkFactory(ISinkFactory inner) : ISinkFactory
    {
        public const string Reason = "table \"t\": its key template names a column that is not a key column";

        public string Type => inner.Type;

        public Type OptionsType => inner.OptionsType;

        public Type? TargetOptionsType => inner.TargetOptionsType;

        public bool KeepsDeadLetterTable => false;

        public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
            new UnmarkableSink(await inner.OpenAsync(sink, cancellationToken));
    }

    private sealed class UnmarkableSink(ISink inner) : ISink
    {
        public string Name => inner.Name;

        public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
            inner.LoadCheckpointAsync(materializer, cancellationToken);

        public ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken) => inner.ApplyAsync(batch, cancellationToken);

        public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => inner.EraseAsync(target, match, cancellationToken);

        public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => inner.CountAsync(target, match, cancellationToken);

        public ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
            inner.EraseManyAsync(target, matches, cancellationToken);

        public ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
            inner.CountManyAsync(target, matches, cancellationToken);

        public ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken) =>
            ValueTask.FromResult(MarkOutcome.UnsupportedBecause(UnmarkableSinkFactory.Reason));

        /// <summary>Text with an <c>@</c> cannot match: as a sink whose subject column is a number says.</summary>
        public ValueTask<IReadOnlyList<string?>> CannotMatchAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyList<string?>>([.. matches.Values.Select(v => v.Kind == ValueKind.String && v.AsText.Contains('@', StringComparison.Ordinal) ? "cannot match (bigint)" : null)]);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private async Task<T> WithDeadLettersAsync<T>(SyncConfig config, Func<IDeadLetterStore, Task<T>> work)
    {
        var sink = await _components.Sinks["sqlite"].OpenAsync(config.Sinks["local"], CancellationToken.None);
        try
        {
            return await work((IDeadLetterStore)sink);
        }
        finally
        {
            await sink.DisposeAsync();
        }
    }

    private async Task<SyncConfig> MaterializeAsync()
    {
        var config = ConfigLoader.Load(_workspace.Quickstart, _components.Types, _ => null);
        var outcomes = await new SyncRuntime(config, _components, NullLoggerFactory.Instance).RunAsync([], RunMode.Resume, CancellationToken.None);
        Assert.All(outcomes, o => Assert.Null(o.Failure));
        return config;
    }

    private Task<ErasureReport> EraseAsync(SyncConfig config, params string[] keys) => EraseAsync(config, keys, dryRun: false);

    private Task<ErasureReport> EraseAsync(SyncConfig config, string key, bool dryRun) => EraseAsync(config, [key], dryRun);

    private Task<ErasureReport> EraseAsync(SyncConfig config, string[] keys, bool dryRun) =>
        new ErasureService(config, _components, _time, () => $"request-{++_requests}")
            .EraseAsync(new ErasureCommand("customer", keys, "dpo@example.com", dryRun), CancellationToken.None);
}
