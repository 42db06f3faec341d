using System.Net;
using System.Text.Json.Nodes;
using StackExchange.Redis;
using Sync.Pulsar;
using Sync.Testing.Elasticsearch;

namespace Sync.Cli.Tests;

/// <summary>A fleet sharing one erasure ledger: two <c>sync run</c> processes, each in a working folder
/// of its own, on one Key_Shared subscription of the fake broker, and a third process in a third folder
/// erasing a subject. Nothing is shared but the ledger and the sinks, so only the ledger can keep the
/// subject's later changes out of each process, and out of a later <c>backfill</c> from either folder.
/// Every process writes three sinks from the one topic: PostgreSQL, Redis and Elasticsearch, each by a
/// materializer of its own that carries the subject, and the subject is checked absent from all three.
/// The file ledger is not a case here: a file in one folder cannot be shared with the others. Real
/// processes, the fake broker and the Elasticsearch fake in this process, a real PostgreSQL
/// (SYNC_TEST_POSTGRES) and Redis (SYNC_TEST_REDIS).</summary>
public sealed class FleetLedgerTests() : PulsarPostgresCliFixture("fleet")
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly string[] Materializers = ["users", "users_cache", "users_search"];
    private const int Users = 20;
    private const string Erased = "7";

    private readonly string _topic = NewTopic("shop.public.users");
    private readonly string _ledgerTopic = NewTopic("sync-erasure-ledger");
    private readonly string _ledgerSchema = $"fleet_ledger_{Guid.NewGuid():N}"[..24];
    private readonly Workspace _second = new();
    private readonly Workspace _eraser = new();
    private FakeElasticsearch _search = null!;
    private ConnectionMultiplexer _redis = null!;
    private HttpClient _searchHttp = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _search = FakeElasticsearch.Start();
        _searchHttp = new HttpClient { BaseAddress = _search.Url };
        _redis = await ConnectionMultiplexer.ConnectAsync(TestServers.Redis);
    }

    public override async Task DisposeAsync()
    {
        Count($"DROP SCHEMA IF EXISTS \"{_ledgerSchema}\" CASCADE; SELECT 0");
        var database = _redis.GetDatabase();
        await foreach (var key in _redis.GetServers()[0].KeysAsync(pattern: Table + "*"))
        {
            await database.KeyDeleteAsync(key);
        }

        await _redis.DisposeAsync();
        _searchHttp.Dispose();
        await _search.DisposeAsync();
        _second.Dispose();
        _eraser.Dispose();
        await base.DisposeAsync();
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("topic")]
    public async Task An_erasure_reaches_every_process_of_the_fleet_and_no_backfill_brings_the_subject_back(string ledger)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic });
        long lsn = 0;
        for (var id = 1; id <= Users; id++)
        {
            await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "c", $"user-{id}", ++lsn);
        }

        var folders = new[] { Workspace, _second };
        var configs = folders.Select(folder => WriteConfig(folder, ledger)).ToArray();
        var eraserConfig = WriteConfig(_eraser, ledger);
        var running = folders.Zip(configs, (folder, config) => new RunningSync(SyncProcess.Start(folder.Directory, "run", "--config", config))).ToArray();
        try
        {
            await Poll.UntilAsync(() => Materializers.All(m => Broker.DeliveredPerConsumer(_topic, $"sync-{m}").Count == 2), Patience);
            await Poll.UntilAsync(() => Materializers.All(m => AllAcknowledged(_topic, $"sync-{m}")), Patience);
            Assert.Equal(Users, TableRows());

            var erase = await _eraser.Sync("erase", "--config", eraserConfig, "--subject", "user", "--key", Erased);
            // 3: the raw backlog keeps the subject's create until retention; every sink is clean.
            Assert.True(erase.ExitCode is 0 or 3, erase.ToString());
            await AssertErasedEverywhereAsync(erase.ToString());

            // A new change of the erased subject, then a change of every other user, so that both
            // processes have messages to read past it; every message acknowledged means both did.
            await PublishAsync(producer, Erased, "u", "user-7-again", ++lsn);
            for (var id = 1; id <= Users; id++)
            {
                if (id.ToString(CultureInfo.InvariantCulture) != Erased)
                {
                    await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "u", $"user-{id}-later", ++lsn);
                }
            }

            await Poll.UntilAsync(() => Materializers.All(m => AllAcknowledged(_topic, $"sync-{m}")), Patience);
            await AssertEveryOtherUserLaterEverywhereAsync(Outputs(running));
            await AssertErasedEverywhereAsync(Outputs(running));
            Assert.All(running, r => Assert.False(r.Process.HasExited, r.Output()));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"a step did not get there; the table has {TableRows()} rows\n{Outputs(running)}");
        }
        finally
        {
            foreach (var r in running.Where(r => !r.Process.HasExited))
            {
                await StopAsync(r.Process);
            }

            using var exit = new CancellationTokenSource(Patience);
            foreach (var r in running)
            {
                await r.Process.WaitForExitAsync(exit.Token);
                r.Process.WaitForExit();
            }
        }

        Assert.All(running, r => Assert.True(r.Process.ExitCode == 0, r.Output()));
        // The erased subject's update was kept out by the ledger, in each sink, by whichever process read it.
        foreach (var target in Targets)
        {
            Assert.True(running.Sum(r => RunSummary.Suppressed(r.Output(), target)) >= 1, $"{target}\n{Outputs(running)}");
        }

        // A full backfill from each folder reads the raw backlog from its start, the subject's create
        // and update included: the shared ledger alone keeps them out of every sink.
        foreach (var (folder, config) in folders.Zip(configs))
        {
            foreach (var (materializer, target) in Materializers.Zip(Targets))
            {
                var backfill = await folder.Sync("backfill", "--config", config, "--materializer", materializer, "--no-progress");
                Assert.True(backfill.ExitCode == 0, backfill.ToString());
                Assert.True(RunSummary.Suppressed(backfill.Output + backfill.Error, target) >= 1, backfill.ToString());
            }

            await AssertErasedEverywhereAsync($"after the backfills from {folder.Directory}");
        }

        Assert.Equal(Users - 1, TableRows());
        await AssertEveryOtherUserLaterEverywhereAsync("after the backfills");
    }

    private string[] Targets => [$"pg/{Table}", $"cache/{Table}", $"search/{Table}"];

    private async Task AssertErasedEverywhereAsync(string context)
    {
        Assert.True(Count($"SELECT count(*) FROM {Table} WHERE id = {Erased}") == 0, $"PostgreSQL holds the erased user\n{context}");
        Assert.True(await CachedNameAsync(Erased) is null, $"Redis holds the erased user\n{context}");
        Assert.True(await SearchedNameAsync(Erased) is null, $"Elasticsearch holds the erased user\n{context}");
    }

    private async Task AssertEveryOtherUserLaterEverywhereAsync(string context)
    {
        Assert.True(Count($"SELECT count(*) FROM {Table} WHERE name LIKE '%-later'") == Users - 1, $"PostgreSQL\n{context}");
        for (var id = 1; id <= Users; id++)
        {
            var key = id.ToString(CultureInfo.InvariantCulture);
            if (key != Erased)
            {
                Assert.True(await CachedNameAsync(key) == $"user-{id}-later", $"Redis, user {id}\n{context}");
                Assert.True(await SearchedNameAsync(key) == $"user-{id}-later", $"Elasticsearch, user {id}\n{context}");
            }
        }
    }

    private async Task<string?> CachedNameAsync(string id) => await _redis.GetDatabase().HashGetAsync($"{Table}:{id}", "name");

    /// <summary>The name in the user's document, null when there is none (404).</summary>
    private async Task<string?> SearchedNameAsync(string id)
    {
        using var response = await _searchHttp.GetAsync(new Uri($"{Table}/_doc/{id}", UriKind.Relative));
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["_source"]?["name"]?.GetValue<string>();
    }

    private static string Outputs(IEnumerable<RunningSync> running) =>
        string.Join('\n', running.Select((r, i) => $"--- process {i + 1}\n{r.Output()}"));

    private string WriteConfig(Workspace folder, string ledger) => folder.Write("sync.yaml", $$"""
        sources:
          broker: {{Broker.SourceYaml("subscriptionType: key-shared", "initialPosition: earliest")}}
        sinks:
          pg: { type: postgres, connectionString: '{{Postgres}}', tls: disable }
          cache: { type: redis, endpoints: ['{{TestServers.Redis}}'], keyPrefix: '{{Table}}:sync:' }
          search: { type: elasticsearch, urls: ['{{_search.Url}}'] }
        materializers:
          users: { source: broker, topics: ['{{_topic}}'], sink: pg, table: {{Table}}, linger: 0ms, batchSize: 1 }
          users_cache: { source: broker, topics: ['{{_topic}}'], sink: cache, table: {{Table}}, linger: 0ms, batchSize: 1 }
          users_search: { source: broker, topics: ['{{_topic}}'], sink: search, table: {{Table}}, linger: 0ms, batchSize: 1 }
        subjects:
          user:
            users: { key: id }
            users_cache: { key: id }
            users_search: { key: id }
        erasure:
          secret: 'fleet-ledger-secret-0123456789'
          ledger: {{(ledger == "postgres" ? $"{{ postgres: pg, schema: {_ledgerSchema} }}" : $"{{ topic: '{_ledgerTopic}' }}")}}
        """);
}
