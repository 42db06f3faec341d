using Npgsql;

namespace Sync.Cli.Tests;

/// <summary><c>sync verify</c> next to a running <c>sync run</c> that keeps applying changes: the keys
/// that change after the checkpoint pinned at the start are pending, never drift.</summary>
public sealed class VerifyDuringRunTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";
    private const int Keys = 200;

    private readonly string _schema = "vr_" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task Verifying_under_a_live_load_finds_no_drift()
    {
        var changelog = Workspace.Write("data/users.jsonl", string.Concat(Enumerable.Range(1, Keys).Select(id => ChangelogLines.Line(Topic, id, "c", "v0", id))));
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              changelog: {"{"} type: file, path: data/users.jsonl, follow: true, pollInterval: 10ms {"}"}
            sinks:
              warehouse: {"{"} type: postgres, connectionString: '{TestServers.Postgres}', tls: disable, schema: {_schema}, stateSchema: {_schema}_state {"}"}
            materializers:
              users: {"{"} source: changelog, topics: ['{Topic}'], sink: warehouse, table: users, linger: 0ms, batchSize: 50 {"}"}
            """);
        using var run = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        var runOutput = run.StandardOutput.ReadToEndAsync();
        var runError = run.StandardError.ReadToEndAsync();
        try
        {
            await Poll.UntilAsync(async () => await CountAsync() == Keys);
            using var stop = new CancellationTokenSource();
            var load = Task.Run(async () =>
            {
                // Rounds of updates of every key, appended while verify runs.
                for (var round = 1; !stop.IsCancellationRequested; round++)
                {
                    await File.AppendAllTextAsync(changelog, string.Concat(Enumerable.Range(1, Keys).Select(id => ChangelogLines.Line(Topic, id, "u", $"v{round}", (round * Keys) + id))));
                    // Paces the load (it proves nothing by itself): a round per 10 ms keeps the file small.
                    await Task.Delay(10, CancellationToken.None);
                }
            });

            var pendingSeen = 0L;
            for (var i = 0; i < 3; i++)
            {
                var verify = await Workspace.Sync("verify", "--config", config, "--json");
                Assert.True(verify.ExitCode == 0, verify.ToString());
                using var json = JsonDocument.Parse(verify.Output);
                var result = json.RootElement.GetProperty("materializers")[0];
                Assert.Equal(0, result.GetProperty("drift").GetInt64());
                pendingSeen += result.GetProperty("pending").GetInt64();
            }

            await stop.CancelAsync();
            await load;
            Assert.True(pendingSeen > 0, "the load changed keys while verify ran, and they were counted pending");
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync();
            _ = await runOutput + await runError;
            await using var connection = new NpgsqlConnection(TestServers.Postgres);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE; DROP SCHEMA IF EXISTS \"{_schema}_state\" CASCADE", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    private async Task<long> CountAsync()
    {
        await using var connection = new NpgsqlConnection(TestServers.Postgres);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM \"{_schema}\".users", connection);
        try
        {
            return Convert.ToInt64(await count.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }
}
