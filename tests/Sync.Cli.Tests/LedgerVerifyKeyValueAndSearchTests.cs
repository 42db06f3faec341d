using System.Net.Http.Json;
using StackExchange.Redis;
using Sync.Testing.Elasticsearch;

namespace Sync.Cli.Tests;

/// <summary><c>sync ledger verify</c> on Redis (a real server, SYNC_TEST_REDIS) and on the Elasticsearch
/// fake: a subject erased, then written again behind sync's back — a hash set straight into Redis under
/// the target's key template, a document indexed straight into the index — is found, and
/// <c>--repair</c> removes both.</summary>
public sealed class LedgerVerifyKeyValueAndSearchTests : WorkspaceTests
{
    private const string Users = "shop.public.users";
    private const string Subject = "2";
    private readonly string _ns = $"lv{Guid.NewGuid():N}"[..14];

    private static string Redis => TestServers.Redis;

    private string Index => _ns + "users";

    private string UserKey(string id) => $"{_ns}:user:{id}";

    private string WriteConfig(FakeElasticsearch search)
    {
        Workspace.Write("data/users.jsonl", string.Join('\n', Enumerable.Range(1, 3).Select(id =>
            $$$"""{"topic":"{{{Users}}}","key":{"id":{{{id}}}},"value":{"id":{{{id}}},"name":"person-{{{id}}}"}}""")) + "\n");
        return Workspace.Write("sync.yaml", $$"""
            sources:
              changelog: { type: file, path: data/users.jsonl }
            sinks:
              cache: { type: redis, endpoints: ['{{Redis}}'], keyPrefix: '{{_ns}}:sync:' }
              search: { type: elasticsearch, urls: ['{{search.Url}}'] }
            materializers:
              users-cache: { source: changelog, topics: ['{{Users}}'], sink: cache, table: users, format: json, target: { keyTemplate: '{{_ns}}:user:{id}' } }
              users-search: { source: changelog, topics: ['{{Users}}'], sink: search, table: {{Index}}, format: json }
            subjects:
              customer:
                users-cache: { key: id }
                users-search: { key: id }
            erasure:
              secret: 'ledger-verify-test-secret-0123456789'
            """);
    }

    [Fact]
    public async Task LedgerVerify_finds_a_hash_and_a_document_written_behind_syncs_back_and_repair_removes_them()
    {
        await using var search = FakeElasticsearch.Start();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Redis);
        var db = redis.GetDatabase();
        try
        {
            var config = WriteConfig(search);
            var run = await Workspace.Sync("run", "--config", config);
            Assert.True(run.ExitCode == 0, run.ToString());
            var erase = await Workspace.Sync("erase", "--config", config, "--subject", "customer", "--key", Subject);
            Assert.True(erase.ExitCode == 0, erase.ToString());
            Assert.False(await db.KeyExistsAsync(UserKey(Subject)));
            Assert.DoesNotContain(Subject, search.Documents(Index).Keys);

            // Behind sync's back: another program sets the hash and indexes the document again.
            await db.HashSetAsync(UserKey(Subject), [new("id", Subject), new("name", "person-2-again")]);
            using (var http = new HttpClient { BaseAddress = search.Url })
            {
                (await http.PutAsJsonAsync($"{Index}/_doc/{Subject}", new { id = 2, name = "person-2-again" })).EnsureSuccessStatusCode();
            }

            var found = await Workspace.Sync("ledger", "verify", "--config", config, "--json");

            Assert.True(found.ExitCode == 3, found.ToString());
            var result = JsonDocument.Parse(found.Output).RootElement;
            var residue = Assert.Single(result.GetProperty("residue").EnumerateArray());
            Assert.Equal(
                ["users-cache sink sink cache, table users 1", $"users-search sink sink search, table {Index} 1"],
                residue.GetProperty("places").EnumerateArray()
                    .Select(p => $"{p.GetProperty("materializer").GetString()} {p.GetProperty("kind").GetString()} {p.GetProperty("where").GetString()} {p.GetProperty("count").GetInt64()}")
                    .ToList());
            var swept = result.GetProperty("swept").EnumerateArray()
                .ToDictionary(p => $"{p.GetProperty("materializer").GetString()} {p.GetProperty("where").GetString()}", p => p.GetProperty("items").GetInt64());
            Assert.Equal(3, swept["users-cache sink cache, table users"]);
            Assert.Equal(3, swept[$"users-search sink search, table {Index}"]);
            Assert.Empty(result.GetProperty("notSwept").EnumerateArray());
            Assert.DoesNotContain("person-2", found.Output, StringComparison.Ordinal);
            Assert.DoesNotContain(UserKey(Subject), found.Output, StringComparison.Ordinal);

            var repaired = await Workspace.Sync("ledger", "verify", "--config", config, "--repair", "--json");

            Assert.True(repaired.ExitCode == 0, repaired.ToString());
            var repair = JsonDocument.Parse(repaired.Output).RootElement;
            Assert.Equal(1, Assert.Single(repair.GetProperty("repairs").EnumerateArray()).GetProperty("keys").GetInt32());
            Assert.Empty(repair.GetProperty("afterRepair").GetProperty("residue").EnumerateArray());
            Assert.False(await db.KeyExistsAsync(UserKey(Subject)));
            Assert.True(await db.KeyExistsAsync(UserKey("1")));
            Assert.Equal(["1", "3"], search.Documents(Index).Keys.Order(StringComparer.Ordinal));
            Assert.Equal(0, search.OpenPointsInTime);
        }
        finally
        {
            await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: _ns + "*"))
            {
                await db.KeyDeleteAsync(key);
            }
        }
    }
}
