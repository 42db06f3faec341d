using Sync.Sinks.Tests.Postgres;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>The shared suite against a real PostgreSQL (SYNC_TEST_POSTGRES, set by ./scripts/test.sh);
/// each test owns a schema and a state schema, dropped at the end.</summary>
public sealed class PostgresConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => new PostgresHarness(await PostgresTestDb.OpenAsync());

    /// <summary>An integer column is created <c>bigint</c>; text that is not an integer cannot be stored in it.</summary>
    protected override string? CannotMatchNumberReason => "cannot match (bigint)";

    private sealed class PostgresHarness(PostgresTestDb db) : ISinkHarness
    {
        public ISink Sink => db.Sink;

        public TargetSpec Target(string table) => db.Target(table);

        public Task RestartAsync() => db.ReopenAsync();

        /// <summary>Each batch reads the stored versions and writes in one transaction, under row locks
        /// and the delete markers' unique key, so a second instance's writes serialize with the first's.</summary>
        public async Task<ISink> OpenAnotherAsync() => await PostgresSink.OpenAsync("pg2", db.Options, CancellationToken.None);

        public Task<IReadOnlyList<string>> ReadAsync(TargetSpec target) => db.CanonicalRowsAsync(target.Table);

        public ValueTask DisposeAsync() => db.DisposeAsync();
    }
}
