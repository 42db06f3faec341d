using FsCheck.Xunit;
using Sync.Sinks.Elasticsearch;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The bulk load of a shadow index (<c>bulkShadow: true</c>: refresh and replicas off while it
/// fills, requests split by bytes and sent several at once) against the guarded path (<c>bulkShadow:
/// false</c>, one request at a time): the same history, the same swap, the same index, document by
/// document with its versions and tombstones, the same settings, mappings, alias and checkpoint.</summary>
public sealed class ElasticsearchShadowLoadTests
{
    private const string Materializer = "m1";

    private static Func<ElasticsearchSinkOptions, ElasticsearchSinkOptions> Bulk(int bulkBytes = ElasticsearchSinkOptions.DefaultBulkBytes, int concurrency = 4) => o =>
    {
        o.BulkShadow = true;
        o.BulkBytes = bulkBytes;
        o.BulkConcurrency = concurrency;
        return o;
    };

    private static async Task<ApplyResult> ApplyAsync(ISink sink, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }

    [Theory]
    [InlineData(null, "1")]
    [InlineData(2, "2")]
    public async Task A_bulk_shadow_fills_with_refresh_and_replicas_off_and_gets_its_own_values_back_before_the_alias_moves(int? replicas, string restored)
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync(Bulk());
        var live = es.Target("users") with { Options = new ElasticsearchTargetOptions { Replicas = replicas } };
        await ApplyAsync(es.Sink, live, Change.Upsert(("id", 1), 10, ("name", "old")));
        var shadow = await es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None);
        await ApplyAsync(new ShadowWritingSink(es.Sink, shadow), live, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")));

        Assert.Equal("-1", es.Fake.Settings("users-g1")!["index.refresh_interval"]);
        Assert.Equal("0", es.Fake.Settings("users-g1")!["index.number_of_replicas"]);
        Assert.Equal(restored, es.Fake.Settings("users")!["index.number_of_replicas"]);
        IReadOnlyDictionary<string, string>? atSwap = null;
        es.Fake.Faults.BeforeNextRequest("/_aliases", () =>
        {
            atSwap = es.Fake.Settings("users-g1");
            return Task.CompletedTask;
        });

        await es.ElasticsearchSink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.NotNull(atSwap);
        Assert.False(atSwap.ContainsKey("index.refresh_interval"));
        Assert.Equal(restored, atSwap["index.number_of_replicas"]);
        Assert.Equal(["users"], es.Fake.Aliases("users-g1"));
        Assert.Equal(["id=1|name=a", "id=2|name=b"], es.Read("users-g1"));
    }

    [Fact]
    public async Task A_failure_in_the_middle_of_a_bulk_load_leaves_the_live_alias_and_its_documents_untouched()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync(Bulk(bulkBytes: 1024, concurrency: 3));
        var live = es.Target("users");
        var first = await es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None);
        await ApplyAsync(new ShadowWritingSink(es.Sink, first), live, Change.Upsert(("id", 1), 10, ("name", "live")));
        await es.ElasticsearchSink.SwapShadowAsync(first, keepOld: false, CancellationToken.None);

        var shadow = await es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None);
        var writer = new ShadowWritingSink(es.Sink, shadow);
        await ApplyAsync(writer, live, [.. Enumerable.Range(1, 40).Select(i => Change.Upsert(("id", i), 100 + i, ("name", $"new{i}")).At(i))]);
        es.Fake.Faults.FailNextRequests(1, 400, "/_bulk");

        await Assert.ThrowsAsync<SinkFatalException>(() => ApplyAsync(writer, live, [.. Enumerable.Range(41, 40).Select(i => Change.Upsert(("id", i), 100 + i, ("name", $"new{i}")).At(i))]));

        Assert.Equal(["users"], es.Fake.Aliases("users-g1"));
        Assert.Empty(es.Fake.Aliases("users-g2"));
        Assert.Equal(["id=1|name=live"], es.Read("users-g1"));
        Assert.Equal("1", es.Fake.Settings("users-g1")!["index.number_of_replicas"]);
        Assert.False(es.Fake.Settings("users-g1")!.ContainsKey("index.refresh_interval"));
    }

    [Fact]
    public async Task A_batch_over_the_request_size_goes_in_several_requests_with_each_key_in_one_of_them_in_order()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync(Bulk(bulkBytes: 1024, concurrency: 3));
        var live = es.Target("users");
        var shadow = await es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None);
        var changes = Enumerable.Range(1, 60).Select(i => Change.Upsert(("id", i % 7), 100 + i, ("name", $"v{i}")).At(i)).ToArray();

        var result = await ApplyAsync(new ShadowWritingSink(es.Sink, shadow), live, changes);

        Assert.True(es.Fake.BulkSizes.Count > 3, string.Join(",", es.Fake.BulkSizes));
        Assert.Equal(60, result.Upserted);
        var newest = Enumerable.Range(1, 60).GroupBy(i => i % 7).Select(g => $"id={g.Key}|name=v{g.Max()}");
        Assert.Equal([.. newest.Order(StringComparer.Ordinal)], es.Read("users-g1"));
    }

    /// <summary>Random histories (<see cref="ShadowHistories"/>, with values the mapping refuses),
    /// erasures and counts of the shadow in between, in batches up to several requests long.</summary>
    [Property(MaxTest = 25)]
    public async Task Bulk_and_guarded_shadow_loads_leave_the_same_index(int seed)
    {
        var steps = ShadowHistories.Generate(new Random(seed), maxChanges: 80, maxBatch: 30, refusedValues: true);
        await using var bulk = await ElasticsearchTestHarness.CreateAsync(Bulk(bulkBytes: 1024, concurrency: 3));
        await using var guarded = await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.BulkConcurrency = 1;
            return o;
        });

        var bulkOutcome = await RunAsync(bulk, steps);
        var guardedOutcome = await RunAsync(guarded, steps);

        Assert.Equal(guardedOutcome, bulkOutcome);
        Assert.Equal(await StateAsync(guarded), await StateAsync(bulk));
    }

    /// <summary>Fills the live index, loads its shadow with the history and swaps it in; returns what
    /// the sink reported: each batch's counts and rejected positions, each erase's and count's answer.</summary>
    private static async Task<List<string>> RunAsync(ElasticsearchTestHarness es, List<ShadowHistories.Step> steps)
    {
        var live = es.Target("items");
        await ApplyAsync(es.Sink, live, [.. Enumerable.Range(1, 6).Select(i => Change.Upsert(("id", (long)i), 1, ("name", "live"), ("n", i)).At(i))]);
        var shadow = await es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None);
        var sink = new ShadowWritingSink(es.Sink, shadow);
        var outcome = new List<string>();
        foreach (var step in steps)
        {
            switch (step)
            {
                case ShadowHistories.Batch batch:
                    var result = await ApplyAsync(sink, live, batch.Changes);
                    outcome.Add($"{result.Upserted}/{result.Deleted}/{result.Stale}: {string.Join(",", result.Rejected.Select(r => r.Change.Origin.Position.ToString()))}");
                    break;
                case ShadowHistories.Erase erase:
                    outcome.Add("erased " + await sink.EraseAsync(live, new SubjectMatch("id", FieldValue.FromInt64(erase.Id)), CancellationToken.None));
                    break;
                case ShadowHistories.Count read:
                    outcome.Add("counted " + await sink.CountAsync(live, new SubjectMatch("id", FieldValue.FromInt64(read.Id)), CancellationToken.None));
                    break;
            }
        }

        try
        {
            await es.ElasticsearchSink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
            outcome.Add("swapped");
        }
        catch (ShadowSwapException)
        {
            // A history that wrote no document leaves no shadow index.
            outcome.Add("no shadow");
        }

        return outcome;
    }

    /// <summary>Every index with its documents, the versions of every id (tombstones included), its
    /// settings, mappings and aliases, and the materializer's checkpoint.</summary>
    private static async Task<List<string>> StateAsync(ElasticsearchTestHarness es)
    {
        var state = new List<string>();
        foreach (var index in es.Fake.IndexNames.Where(n => n.StartsWith("items", StringComparison.Ordinal)))
        {
            state.Add($"index {index}: aliases {string.Join(",", es.Fake.Aliases(index))}; mapping {es.Fake.Mapping(index)?.ToJsonString()}");
            state.AddRange(es.Fake.Settings(index)!.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"));
            state.AddRange(es.Fake.Documents(index).OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{d.Key}: {d.Value}"));
            state.AddRange(Enumerable.Range(0, 10).Select(id => $"{id} v{es.Fake.VersionOf(index, id.ToString(System.Globalization.CultureInfo.InvariantCulture))}"));
        }

        var checkpoint = await es.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        state.AddRange(checkpoint.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}@{c.Value}"));
        return state;
    }
}
