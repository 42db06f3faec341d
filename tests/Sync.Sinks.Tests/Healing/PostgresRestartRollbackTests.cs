using Sync.Sinks.Tests.Postgres;

namespace Sync.Sinks.Tests.Healing;

/// <summary>A PostgreSQL server of the test's own, really restarted from an older copy of its data
/// directory (copied aside while it was down, put back while it is down again), with <c>sync run</c>
/// idle throughout: the sink keeps one connection, so what finds the restore is either the sink's idle
/// probe (<c>idleProbeInterval</c>), which raises the reconnect signal, or, with the probe off, the
/// runner's idle check, whose checkpoint read goes through that connection.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresRestartRollbackTests : SinkRollbackFixture
{
    private PostgresServerProcess _server = null!;
    private string _idleProbe = "0s";

    protected override string SinkYaml => $"""
          target:
            type: postgres
            connectionString: "{_server.ConnectionString}"
            schema: heal
            stateSchema: heal_sync
            tls: disable
            idleProbeInterval: {_idleProbe}
        """;

    protected override string Table => "users";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _server = await PostgresServerProcess.StartAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _server.DisposeAsync();
    }

    protected override Task<IReadOnlyList<string>> RowsAsync() => PostgresRollbackTests.ReadRowsAsync(_server.ConnectionString, "heal");

    protected override Task SnapshotAsync() => _server.CopyDataAsideAsync("older");

    protected override Task RestoreAsync() => _server.RestoreDataAsync("older");

    protected override Task EmptyAsync() => throw new NotSupportedException("an emptied database is tested in PostgresRollbackTests");

    [Fact]
    public async Task A_server_restored_from_an_older_data_directory_is_found_by_the_idle_check_without_traffic()
    {
        await using var run = Start(Config("failover"));
        await RollBackAfterSecondPartAsync();

        // Nothing is published: the check is the sink's first use of its connection since the restore.
        await run.HealWhileIdleAsync();

        await AssertHealedOnceAsync(run);
    }

    /// <summary>The run's clock never moves, so its idle check never comes and nothing is published:
    /// what reads the checkpoint back is the reconnect signal of the sink's idle probe (on the real
    /// clock, every 200 ms), which finds the server started anew.</summary>
    [Fact]
    public async Task A_server_restored_from_an_older_data_directory_is_found_by_the_sink_idle_probe_and_healed()
    {
        _idleProbe = "200ms";
        await using var run = Start(Config("failover"));
        await RollBackAfterSecondPartAsync();

        await run.UntilHealedAsync();

        await AssertHealedOnceAsync(run);
        Assert.Contains(run.Warnings, w => w.Contains("went back in time", StringComparison.Ordinal));
    }
}
