using System.Net.Http.Json;
using Sync.Testing.Elasticsearch;

namespace Sync.Cli.Tests;

/// <summary><c>sync verify</c> against the Elasticsearch fake: documents deleted, added, changed and
/// pushed ahead behind sync's back through the document API, each found with its class; the repair
/// removes what the log does not hold, and says which re-applied changes the index's versions refused.
/// A version rolled back cannot be injected: external versioning refuses a lower version
/// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control, version_type external).</summary>
public sealed class VerifyElasticsearchTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";
    private const string Index = "users";

    /// <summary>The external version of source order <paramref name="lsn"/> (Sinks.Elasticsearch.ExternalVersions: 2^62 + LSN).</summary>
    private static long External(long lsn) => (1L << 62) + lsn;

    [Fact]
    public async Task Drift_injected_into_elasticsearch_is_found_with_its_class_and_repaired()
    {
        await using var search = FakeElasticsearch.Start();
        Workspace.Write("data/users.jsonl", string.Concat(Enumerable.Range(1, 6).Select(id => ChangelogLines.Line(Topic, id, "c", $"user-{id}", id * 10))));
        var config = Workspace.WriteUsersFileConfig(Topic, "search", $"{{ type: elasticsearch, urls: ['{search.Url}'] }}", $"table: {Index}");
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());

        using (var http = new HttpClient { BaseAddress = search.Url })
        {
            (await http.DeleteAsync($"{Index}/_doc/1")).EnsureSuccessStatusCode();
            (await http.PutAsJsonAsync($"{Index}/_doc/7", new { id = 7, name = "added" })).EnsureSuccessStatusCode();
            (await http.PutAsJsonAsync($"{Index}/_doc/2?version={External(20)}&version_type=external_gte", new { id = 2, name = "changed" })).EnsureSuccessStatusCode();
            (await http.PutAsJsonAsync($"{Index}/_doc/4?version={External(999)}&version_type=external", new { id = 4, name = "user-4" })).EnsureSuccessStatusCode();
        }

        await VerifyReport.AssertDriftAsync(Workspace, config, 7, ("missing", 1L), ("extra", 1L), ("stale", 0L), ("ahead", 1L), ("different", 1L));

        var repair = await Workspace.Sync("verify", "--config", config, "--repair");

        // The document API's delete and the external_gte write left versions that the normal apply path
        // (version_type external: strictly greater wins) cannot pass with the log's own version, so the
        // repair removes the extra document and reports the two others stale; they stay drift.
        Assert.True(repair.ExitCode == 3, repair.ToString());
        Assert.True(repair.Output.Contains("repaired: re-applied 2, deleted 1, left 1 (ahead of the log)", StringComparison.Ordinal), repair.ToString());
        Assert.Contains("apply path: applied 0, deleted 1, stale 2, suppressed 0, dead-lettered 0", repair.Output, StringComparison.Ordinal);
        Assert.Contains("after repair: materializer users (sink search, target users): 6 keys, 3 drifted keys", repair.Output, StringComparison.Ordinal);
        Assert.Equal(["2", "3", "4", "5", "6"], search.Documents(Index).Keys.Order(StringComparer.Ordinal));
    }
}
