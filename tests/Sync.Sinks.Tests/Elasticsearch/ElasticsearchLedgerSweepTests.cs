using System.Net.Http.Json;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>What <c>ledger verify</c> reads from an Elasticsearch target (<see cref="ISink.ScanColumn"/>):
/// every document of its indices, a page at a time under a point in time, those written straight into
/// the index included.</summary>
public sealed class ElasticsearchLedgerSweepTests
{
    private const string Materializer = "es-sweep";

    private static async Task<List<string>> ScanAsync(ElasticsearchTestHarness h, TargetSpec target, string column)
    {
        var values = new List<string>();
        await foreach (var value in h.Sink.ScanColumn(target, column, CancellationToken.None)!)
        {
            values.Add(value);
        }

        return [.. values.Order(StringComparer.Ordinal)];
    }

    private static async Task ApplyAsync(ElasticsearchTestHarness h, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        await h.Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }

    /// <summary>A document indexed by another program, straight through the REST API (not yet refreshed).</summary>
    private static async Task IndexBehindSyncsBackAsync(ElasticsearchTestHarness h, string index, string id, object document)
    {
        using var http = new HttpClient { BaseAddress = h.Fake.Url };
        using var response = await http.PutAsJsonAsync($"{index}/_doc/{id}", document);
        response.EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task The_sweep_reads_every_document_and_one_written_straight_into_the_index()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("customers");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("email", "a@example.org")), Change.Create(("id", 2), 11, ("email", "b@example.org")));
        await IndexBehindSyncsBackAsync(h, "customers", "9", new { id = 9, email = "c@example.org" });

        Assert.Equal(["1", "2", "9"], await ScanAsync(h, t, "id"));
        Assert.Equal(["a@example.org", "b@example.org", "c@example.org"], await ScanAsync(h, t, "email"));
        Assert.Empty(await ScanAsync(h, t, "never_written"));
        Assert.Equal(0, h.Fake.OpenPointsInTime);
    }

    [Fact]
    public async Task The_sweep_reads_a_page_per_search_and_closes_its_point_in_time()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("many");
        const int Documents = 2 * ElasticsearchSink.ScanPage + 500;
        await ApplyAsync(h, t, [.. Enumerable.Range(1, Documents).Select(i => Change.Create(("id", i), i, ("name", "n")))]);
        var before = h.Fake.Requests.Count;

        var ids = await ScanAsync(h, t, "id");

        Assert.Equal(Documents, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(Documents, ids.Count);
        var requests = h.Fake.Requests.Skip(before).ToList();
        Assert.Single(requests, r => r.StartsWith("POST /many/_pit", StringComparison.Ordinal));
        // Three pages, each its own search of the point in time (none names the index), then the close.
        Assert.Equal(3, requests.Count(r => r.StartsWith("POST /_search", StringComparison.Ordinal)));
        Assert.DoesNotContain(requests, r => r.StartsWith("POST /many/_search", StringComparison.Ordinal));
        Assert.Single(requests, r => r.StartsWith("DELETE /_pit", StringComparison.Ordinal));
        Assert.Equal(0, h.Fake.OpenPointsInTime);
    }

    [Fact]
    public async Task The_sweep_sees_the_index_as_it_was_when_it_began_whatever_is_written_meanwhile()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("moving");
        await ApplyAsync(h, t, [.. Enumerable.Range(1, ElasticsearchSink.ScanPage + 10).Select(i => Change.Create(("id", i), i, ("name", "n")))]);

        var seen = new List<string>();
        await foreach (var id in h.Sink.ScanColumn(t, "id", CancellationToken.None)!)
        {
            if (seen.Count == 0)
            {
                // Written and refreshed after the first page: the point in time does not show it.
                await ApplyAsync(h, t, Change.Create(("id", 100_000), 100_000, ("name", "late")));
                await h.ElasticsearchSink.CountAsync(t, new SubjectMatch("id", FieldValue.FromInt64(100_000)), CancellationToken.None);
            }

            seen.Add(id);
        }

        Assert.Equal(ElasticsearchSink.ScanPage + 10, seen.Distinct(StringComparer.Ordinal).Count());
        Assert.DoesNotContain("100000", seen);
    }

    [Fact]
    public async Task The_sweep_of_a_target_whose_index_does_not_exist_reads_nothing()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();

        Assert.Empty(await ScanAsync(h, h.Target("absent"), "id"));
    }
}
