using Microsoft.Extensions.Time.Testing;
using Sync.Testing.Changes;

namespace Sync.Compliance.Tests;

public sealed class LedgerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sync-ledger-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void The_key_hash_is_HMAC_SHA256_over_subject_and_key()
    {
        // Checked against Python: hmac.new(secret, b"customer\n42", hashlib.sha256).hexdigest()
        var hash = new SubjectHasher("0123456789abcdef-secret").Hash("customer", "42");

        Assert.Equal("7ed3fd862f82fb2c370c114a53ef810e8e62dc7bc43591865e513210c963d737", hash);
        Assert.NotEqual(hash, new SubjectHasher("another-secret-0123456789").Hash("customer", "42"));
        Assert.NotEqual(hash, new SubjectHasher("0123456789abcdef-secret").Hash("employee", "42"));
    }

    [Fact]
    public async Task A_request_is_recorded_once_per_key_and_never_holds_the_key()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var now = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        var hash = new SubjectHasher("0123456789abcdef-secret").Hash("customer", "4242424242");
        await using (var ledger = SqliteSuppressionLedger.Open(path))
        {
            var first = Assert.Single(await ledger.RecordAsync([Request("r1", "customer", hash, now, "dpo")], CancellationToken.None));
            var again = Assert.Single(await ledger.RecordAsync([Request("r2", "customer", hash, now.AddHours(1), "someone else")], CancellationToken.None));
            Assert.Equal("r1", again.RequestId);
            Assert.Equal(RequestStatus.InProgress, first.Status);

            await ledger.SetStatusAsync([("r1", RequestStatus.Complete)], now.AddMinutes(1), CancellationToken.None);
            Assert.Equal(RequestStatus.Complete, (await ledger.FindAsync("customer", hash, CancellationToken.None))!.Status);
            Assert.Equal([("customer", hash)], SqliteSuppressionLedger.ReadSuppressed(path));
        }

        var stored = string.Concat(Directory.GetFiles(_dir, "ledger.db*").Select(f => File.ReadAllText(f, System.Text.Encoding.Latin1)));
        Assert.Contains(hash, stored, StringComparison.Ordinal);
        Assert.DoesNotContain("4242424242", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_filter_suppresses_changes_of_recorded_subjects_by_key_and_by_field_as_soon_as_the_ledger_changes()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var hasher = new SubjectHasher("0123456789abcdef-secret");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var view = new SqliteSuppressionView(path, TimeSpan.FromSeconds(5), time);
        var byKey = new LedgerSuppressionFilter(view, hasher, [("customer", new SubjectBinding("customers", "id", null))]);
        var byField = new LedgerSuppressionFilter(view, hasher, [("customer", new SubjectBinding("orders", null, "customer_id"))]);
        var customer = Change.Create(("id", 42), 10, ("name", "x"));
        var order = Change.Create(("id", 7), 11, ("customer_id", 42));
        var deletedOrder = Change.Delete(("id", 7), 12).WithAfter(null);

        await byKey.RefreshAsync(CancellationToken.None);
        Assert.Equal(SuppressionDecision.Keep, byKey.Decide(customer));
        await using (var ledger = SqliteSuppressionLedger.Open(path))
        {
            await ledger.RecordAsync([Request("r1", "customer", hasher.Hash("customer", "42"), time.GetUtcNow())], CancellationToken.None);
        }

        time.Advance(SqliteSuppressionView.ChangeCheckInterval);
        await byKey.RefreshAsync(CancellationToken.None);
        await byField.RefreshAsync(CancellationToken.None);
        Assert.Equal(SuppressionDecision.Drop, byKey.Decide(customer)); // the ledger's files changed: reloaded at once
        Assert.Equal(SuppressionDecision.Drop, byKey.Decide(Change.Delete(("id", 42), 14))); // every change of an erased key
        Assert.Equal(SuppressionDecision.Drop, byField.Decide(order));
        Assert.Equal(SuppressionDecision.Keep, byKey.Decide(Change.Create(("id", 43), 13, ("name", "y"))));
        Assert.Equal(SuppressionDecision.Keep, byField.Decide(deletedOrder)); // no image holds the field: nothing to match
    }

    [Fact]
    public async Task A_subject_bound_by_a_field_is_suppressed_by_the_after_image_and_a_row_moved_to_it_is_deleted_instead()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var hasher = new SubjectHasher("0123456789abcdef-secret");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var byField = new LedgerSuppressionFilter(new SqliteSuppressionView(path, TimeSpan.FromSeconds(5), time), hasher, [("user", new SubjectBinding("orders", null, "user_id"))]);
        await using (var ledger = SqliteSuppressionLedger.Open(path))
        {
            await ledger.RecordAsync([Request("r1", "user", hasher.Hash("user", "15"), time.GetUtcNow())], CancellationToken.None);
        }

        await byField.RefreshAsync(CancellationToken.None);

        var ownedBy15 = Change.RowOf(("id", 7), ("user_id", 15), ("total", 10));
        var ownedBy243 = Change.RowOf(("id", 7), ("user_id", 243), ("total", 12));

        // The order moved from the erased user to another: the change is the new owner's, applied.
        Assert.Equal(SuppressionDecision.Keep, byField.Decide(Change.Update(("id", 7), 12, ("user_id", 243), ("total", 12)).WithBefore(ownedBy15)));
        // A delete never brings a subject back: applied whatever its before image names.
        Assert.Equal(SuppressionDecision.Keep, byField.Decide(Change.Delete(("id", 7), 13).WithBefore(ownedBy15)));
        // Created for the erased user, or updated while it owns the row: dropped.
        Assert.Equal(SuppressionDecision.Drop, byField.Decide(Change.Create(("id", 7), 10, ("user_id", 15), ("total", 10))));
        Assert.Equal(SuppressionDecision.Drop, byField.Decide(Change.Update(("id", 7), 11, ("user_id", 15), ("total", 11)).WithBefore(ownedBy15)));
        // Moved to the erased user from another: the other's row must go, so a delete of the key instead.
        var movedTo15 = Change.Update(("id", 7), 14, ("user_id", 15), ("total", 12)).WithBefore(ownedBy243);
        Assert.Equal(SuppressionDecision.DeleteInstead, byField.Decide(movedTo15));
        // Without a before image (PostgreSQL's default replica identity) the previous owner is unknown: deleted too.
        Assert.Equal(SuppressionDecision.DeleteInstead, byField.Decide(Change.Update(("id", 7), 15, ("user_id", 15), ("total", 12))));

        var delete = SuppressionFilter.AsDelete(movedTo15);
        Assert.Equal(ChangeOp.Delete, delete.Op);
        Assert.Equal(movedTo15.KeyText, delete.KeyText);
        Assert.Equal(movedTo15.Version, delete.Version);
        Assert.Null(delete.After);
    }

    [Fact]
    public async Task A_revoked_request_suppresses_nothing_and_its_key_can_be_erased_again_with_both_requests_kept()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var now = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        await using var ledger = SqliteSuppressionLedger.Open(path);
        await ledger.RecordAsync([Request("r1", "customer", "h1", now), Request("r2", "customer", "h2", now)], CancellationToken.None);

        var revoked = await ledger.RevokeAsync("r1", new Revocation(now.AddHours(1), "dpo", "mistyped key"), CancellationToken.None);
        var again = await ledger.RevokeAsync("r1", new Revocation(now.AddHours(2), "someone", "twice"), CancellationToken.None);

        Assert.Equal(new Revocation(now.AddHours(1), "dpo", "mistyped key"), revoked!.Revocation);
        Assert.Equal(revoked.Revocation, again!.Revocation);
        Assert.Null(await ledger.RevokeAsync("no-such-request", new Revocation(now, "dpo", "x"), CancellationToken.None));
        Assert.Equal([("customer", "h2")], SqliteSuppressionLedger.ReadSuppressed(path));
        Assert.Null(await ledger.FindAsync("customer", "h1", CancellationToken.None));

        var recorded = Assert.Single(await ledger.RecordAsync([Request("r3", "customer", "h1", now.AddDays(1))], CancellationToken.None));
        Assert.Equal("r3", recorded.RequestId);
        Assert.Equal(["r1", "r2", "r3"], await ledger.ListAsync(CancellationToken.None).Select(r => r.RequestId).ToListAsync());
        Assert.Equal(2, SqliteSuppressionLedger.ReadSuppressed(path).Count);
    }

    [Fact]
    public async Task A_ledger_written_before_revocations_existed_is_brought_up_to_date_with_every_request_kept()
    {
        var path = Path.Combine(_dir, "old.db");
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false"))
        {
            old.Open();
            using var command = old.CreateCommand();
            // The table as the ledger created it before revocations: one request per key, ever.
            command.CommandText = """
                CREATE TABLE erasure_requests (request_id TEXT PRIMARY KEY, subject TEXT NOT NULL, key_hash TEXT NOT NULL,
                    requested_at TEXT NOT NULL, requested_by TEXT NOT NULL, status TEXT NOT NULL, completed_at TEXT, UNIQUE (subject, key_hash));
                INSERT INTO erasure_requests VALUES ('r1', 'customer', 'h1', '2026-11-01T10:00:00.000Z', 'dpo', 'complete', '2026-11-01T10:01:00.000Z');
                INSERT INTO erasure_requests VALUES ('r2', 'customer', 'h2', '2026-11-02T10:00:00.000Z', 'dpo', 'in-progress', NULL);
                """;
            command.ExecuteNonQuery();
        }

        Assert.Equal(2, SqliteSuppressionLedger.ReadSuppressed(path).Count);
        await using var ledger = SqliteSuppressionLedger.Open(path);
        var requests = await ledger.ListAsync(CancellationToken.None).ToListAsync();
        Assert.Equal(["r1", "r2"], requests.Select(r => r.RequestId));
        Assert.Equal(RequestStatus.Complete, requests[0].Status);
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 10, 1, 0, TimeSpan.Zero), requests[0].CompletedAt);
        await ledger.RevokeAsync("r1", new Revocation(DateTimeOffset.UnixEpoch, "dpo", "test"), CancellationToken.None);
        Assert.Equal("r3", Assert.Single(await ledger.RecordAsync([Request("r3", "customer", "h1", DateTimeOffset.UnixEpoch)], CancellationToken.None)).RequestId);
    }

    [Fact]
    public void A_ledger_file_that_another_process_has_created_but_not_yet_given_its_table_reads_as_empty()
    {
        var path = Path.Combine(_dir, "new.db");
        using (var created = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false"))
        {
            created.Open();
            using var command = created.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL;";
            command.ExecuteNonQuery();
        }

        Assert.Empty(SqliteSuppressionLedger.ReadSuppressed(path));
        Assert.Empty(SqliteSuppressionLedger.ReadSuppressed(Path.Combine(_dir, "missing.db")));
        Assert.False(File.Exists(Path.Combine(_dir, "missing.db")));
    }

    internal static ErasureRequest Request(string id, string subject, string hash, DateTimeOffset at, string by = "dpo") =>
        new(id, subject, hash, at, by, RequestStatus.InProgress, null);
}
