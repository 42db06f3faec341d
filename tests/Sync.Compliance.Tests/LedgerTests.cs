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
    public void A_request_is_recorded_once_per_key_and_never_holds_the_key()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var now = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        var hash = new SubjectHasher("0123456789abcdef-secret").Hash("customer", "4242424242");
        using (var ledger = SuppressionLedger.Open(path))
        {
            var first = ledger.Record("customer", hash, "r1", "dpo", now);
            var again = ledger.Record("customer", hash, "r2", "someone else", now.AddHours(1));
            Assert.Equal("r1", again.RequestId);
            Assert.Equal(SuppressionLedger.InProgress, first.Status);

            ledger.SetStatus("r1", SuppressionLedger.Complete, now.AddMinutes(1));
            Assert.Equal(SuppressionLedger.Complete, ledger.Find("customer", hash)!.Status);
            Assert.Equal([("customer", hash)], ledger.Suppressed());
        }

        var stored = string.Concat(Directory.GetFiles(_dir, "ledger.db*").Select(f => File.ReadAllText(f, System.Text.Encoding.Latin1)));
        Assert.Contains(hash, stored, StringComparison.Ordinal);
        Assert.DoesNotContain("4242424242", stored, StringComparison.Ordinal);
    }

    [Fact]
    public void The_filter_suppresses_changes_of_recorded_subjects_by_key_and_by_field_as_soon_as_the_ledger_changes()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var hasher = new SubjectHasher("0123456789abcdef-secret");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var byKey = new LedgerSuppressionFilter(path, hasher, [("customer", new SubjectBinding("customers", "id", null))], TimeSpan.FromSeconds(5), time);
        var byField = new LedgerSuppressionFilter(path, hasher, [("customer", new SubjectBinding("orders", null, "customer_id"))], TimeSpan.FromSeconds(5), time);
        var customer = Change.Create(("id", 42), 10, ("name", "x"));
        var order = Change.Create(("id", 7), 11, ("customer_id", 42));
        var deletedOrder = Change.Delete(("id", 7), 12).WithAfter(null);

        Assert.Equal(SuppressionDecision.Keep, byKey.Decide(customer));
        using (var ledger = SuppressionLedger.Open(path))
        {
            ledger.Record("customer", hasher.Hash("customer", "42"), "r1", "dpo", time.GetUtcNow());
        }

        time.Advance(LedgerSuppressionFilter.ChangeCheckInterval);
        Assert.Equal(SuppressionDecision.Drop, byKey.Decide(customer)); // the ledger's files changed: reloaded at once
        Assert.Equal(SuppressionDecision.Drop, byKey.Decide(Change.Delete(("id", 42), 14))); // every change of an erased key
        Assert.Equal(SuppressionDecision.Drop, byField.Decide(order));
        Assert.Equal(SuppressionDecision.Keep, byKey.Decide(Change.Create(("id", 43), 13, ("name", "y"))));
        Assert.Equal(SuppressionDecision.Keep, byField.Decide(deletedOrder)); // no image holds the field: nothing to match
    }

    [Fact]
    public void A_subject_bound_by_a_field_is_suppressed_by_the_after_image_and_a_row_moved_to_it_is_deleted_instead()
    {
        var path = Path.Combine(_dir, "ledger.db");
        var hasher = new SubjectHasher("0123456789abcdef-secret");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var byField = new LedgerSuppressionFilter(path, hasher, [("user", new SubjectBinding("orders", null, "user_id"))], TimeSpan.FromSeconds(5), time);
        using (var ledger = SuppressionLedger.Open(path))
        {
            ledger.Record("user", hasher.Hash("user", "15"), "r1", "dpo", time.GetUtcNow());
        }

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
}
