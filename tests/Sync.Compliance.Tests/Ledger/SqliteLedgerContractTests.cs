using Sync.Testing.Ledger;

namespace Sync.Compliance.Tests.Ledger;

public sealed class SqliteLedgerContractTests : SuppressionLedgerContract
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sync-ledger-").FullName;

    protected override Task<ISuppressionLedger> OpenLedgerAsync() =>
        Task.FromResult<ISuppressionLedger>(SqliteSuppressionLedger.Open(Path.Combine(_dir, "ledger.db")));

    protected override Task<string> StoredTextAsync() =>
        Task.FromResult(string.Concat(Directory.GetFiles(_dir, "ledger.db*").Select(f => File.ReadAllText(f, System.Text.Encoding.Latin1))));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
