namespace Sync.Testing;

/// <summary>The PostgreSQL and Redis servers the tests use, which ./scripts/test.sh starts and exports.
/// Without them a test fails (it never skips silently).</summary>
public static class TestServers
{
    /// <summary>SYNC_TEST_POSTGRES: a connection string (e.g. Host=127.0.0.1;Port=5433;Username=postgres;Database=postgres).</summary>
    public static string Postgres => Required("SYNC_TEST_POSTGRES",
        "a throwaway PostgreSQL server and exports its connection string (e.g. Host=127.0.0.1;Port=5433;Username=postgres;Database=postgres)");

    /// <summary>SYNC_TEST_REDIS: an address (127.0.0.1:PORT).</summary>
    public static string Redis => Required("SYNC_TEST_REDIS", "a throwaway redis-server and exports its address (127.0.0.1:PORT)");

    private static string Required(string variable, string whatTestShStarts) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{variable} is not set: run ./scripts/test.sh, which starts {whatTestShStarts}.");
}
