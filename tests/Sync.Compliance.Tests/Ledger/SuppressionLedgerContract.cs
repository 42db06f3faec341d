using Sync.Engine.Ledger;
using Xunit;

namespace Sync.Testing.Ledger;

/// <summary>What every kind of suppression ledger does, run against each kind: the file ledger in
/// Sync.Compliance.Tests, the PostgreSQL ledger in Sync.Sinks.Tests (this file is linked there).</summary>
public abstract class SuppressionLedgerContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    private readonly List<ISuppressionLedger> _opened = [];

    /// <summary>Opens the ledger this test owns; a second call opens the same ledger again (another process's).</summary>
    protected abstract Task<ISuppressionLedger> OpenLedgerAsync();

    /// <summary>Every byte the ledger keeps, as text, for a check that no raw key is stored.</summary>
    protected abstract Task<string> StoredTextAsync();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var ledger in _opened)
        {
            await ledger.DisposeAsync();
        }
    }

    protected async Task<ISuppressionLedger> OpenAsync()
    {
        var ledger = await OpenLedgerAsync();
        _opened.Add(ledger);
        return ledger;
    }

    protected static ErasureRequest Request(string id, string hash, DateTimeOffset at, string by = "dpo", string subject = "customer") =>
        new(id, subject, hash, at, by, RequestStatus.InProgress, null);

    protected static async Task<IReadOnlySet<(string Subject, string KeyHash)>> SuppressedAsync(ISuppressionLedger ledger)
    {
        await using var view = ledger.OpenView(TimeSpan.FromSeconds(5), TimeProvider.System);
        return await view.CurrentAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_request_is_recorded_once_per_key_and_never_holds_the_key()
    {
        var ledger = await OpenAsync();
        var hash = "hash-of-the-key-4242424242";

        var first = Assert.Single(await ledger.RecordAsync([Request("r1", hash, Now)], CancellationToken.None));
        var again = Assert.Single(await ledger.RecordAsync([Request("r2", hash, Now.AddHours(1), "someone else")], CancellationToken.None));

        Assert.Equal("r1", first.RequestId);
        Assert.Equal(RequestStatus.InProgress, first.Status);
        Assert.Equal(first, again);
        Assert.Equal(first, await ledger.GetAsync("r1", CancellationToken.None));
        Assert.Null(await ledger.GetAsync("r2", CancellationToken.None));

        await ledger.SetStatusAsync([("r1", RequestStatus.Complete)], Now.AddMinutes(1), CancellationToken.None);
        var complete = await ledger.FindAsync("customer", hash, CancellationToken.None);
        Assert.Equal(RequestStatus.Complete, complete!.Status);
        Assert.Equal(Now.AddMinutes(1), complete.CompletedAt);
        Assert.Equal([("customer", hash)], await SuppressedAsync(ledger));
        Assert.Null(await ledger.FindAsync("employee", hash, CancellationToken.None));

        var stored = await StoredTextAsync();
        Assert.Contains(hash, stored, StringComparison.Ordinal);
        Assert.DoesNotContain("4242424242", stored.Replace(hash, string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_recorded_in_one_step_keep_one_request_per_key_and_come_back_in_the_order_given()
    {
        var ledger = await OpenAsync();
        await ledger.RecordAsync([Request("r0", "h2", Now)], CancellationToken.None);

        var recorded = await ledger.RecordAsync([Request("r1", "h1", Now), Request("r2", "h2", Now), Request("r3", "h1", Now), Request("r4", "h3", Now, subject: "employee")], CancellationToken.None);

        Assert.Equal(["r1", "r0", "r1", "r4"], recorded.Select(r => r.RequestId));
        Assert.Equal(3, (await SuppressedAsync(ledger)).Count);
    }

    [Fact]
    public async Task Every_request_is_listed_oldest_first_revoked_ones_included()
    {
        var ledger = await OpenAsync();
        await ledger.RecordAsync([Request("b", "h1", Now.AddHours(2)), Request("c", "h2", Now), Request("a", "h3", Now)], CancellationToken.None);
        await ledger.RevokeAsync("c", new Revocation(Now.AddHours(3), "dpo", "mistyped key"), CancellationToken.None);

        var listed = await ledger.ListAsync(CancellationToken.None).ToListAsync();

        Assert.Equal(["a", "c", "b"], listed.Select(r => r.RequestId));
        Assert.Equal([true, false, true], listed.Select(r => r.IsActive));
        Assert.Equal(Now.AddHours(2), listed[2].RequestedAt);
    }

    [Fact]
    public async Task A_revoked_request_suppresses_nothing_and_its_key_can_be_erased_again_with_both_requests_kept()
    {
        var ledger = await OpenAsync();
        await ledger.RecordAsync([Request("r1", "h1", Now), Request("r2", "h2", Now)], CancellationToken.None);

        var revoked = await ledger.RevokeAsync("r1", new Revocation(Now.AddHours(1), "dpo", "mistyped key"), CancellationToken.None);
        var again = await ledger.RevokeAsync("r1", new Revocation(Now.AddHours(2), "someone", "twice"), CancellationToken.None);

        Assert.Equal(new Revocation(Now.AddHours(1), "dpo", "mistyped key"), revoked!.Revocation);
        Assert.Equal(revoked.Revocation, again!.Revocation);
        Assert.Null(await ledger.RevokeAsync("no-such-request", new Revocation(Now, "dpo", "x"), CancellationToken.None));
        Assert.Equal([("customer", "h2")], await SuppressedAsync(ledger));
        Assert.Null(await ledger.FindAsync("customer", "h1", CancellationToken.None));

        var recorded = Assert.Single(await ledger.RecordAsync([Request("r3", "h1", Now.AddDays(1))], CancellationToken.None));
        Assert.Equal("r3", recorded.RequestId);
        Assert.Equal(["r1", "r2", "r3"], await ledger.ListAsync(CancellationToken.None).Select(r => r.RequestId).ToListAsync());
        Assert.Equal(2, (await SuppressedAsync(ledger)).Count);
    }

    [Fact]
    public async Task A_ledger_opened_again_sees_what_another_opening_recorded()
    {
        var writer = await OpenAsync();
        var reader = await OpenAsync();
        Assert.Empty(await SuppressedAsync(reader));

        await writer.RecordAsync([Request("r1", "h1", Now)], CancellationToken.None);

        Assert.Equal("r1", (await reader.FindAsync("customer", "h1", CancellationToken.None))!.RequestId);
        Assert.False(string.IsNullOrWhiteSpace(reader.Location));
    }
}
