using System.Text.Json.Nodes;
using Sync.Sinks.Elasticsearch;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The shadow capability of the Elasticsearch sink on the fake: a new index per generation,
/// and one <c>POST /_aliases</c> that points the live name at it.</summary>
public sealed class ElasticsearchShadowTests
{
    private const string Materializer = "m1";

    private static async Task ApplyAsync(ISink sink, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        await sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }

    /// <summary>Begins a shadow of the live target and writes the changes into it.</summary>
    private static async Task<ShadowTarget> WriteShadowAsync(ElasticsearchTestHarness es, TargetSpec live, params ChangeEvent[] changes)
    {
        var shadow = await es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None);
        await ApplyAsync(new ShadowWritingSink(es.Sink, shadow), live, changes);
        return shadow;
    }

    /// <summary>Writes the changes into a shadow and swaps it in without keeping the old index.</summary>
    private static async Task SwapInAsync(ElasticsearchTestHarness es, TargetSpec live, params ChangeEvent[] changes) =>
        await es.ElasticsearchSink.SwapShadowAsync(await WriteShadowAsync(es, live, changes), keepOld: false, CancellationToken.None);

    /// <summary>What a reader sees through the live name: the number of searchable documents.</summary>
    private static async Task<long> CountAsync(ElasticsearchTestHarness es, string name)
    {
        using var http = new HttpClient { BaseAddress = es.Fake.Url };
        await http.PostAsync($"{name}/_refresh", null);
        var body = JsonNode.Parse(await http.GetStringAsync($"{name}/_count"))!;
        return body["count"]!.GetValue<long>();
    }

    [Fact]
    public async Task A_concrete_index_is_replaced_by_an_alias_of_the_same_name_in_one_request()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await ApplyAsync(es.Sink, live, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "stale")));
        var shadow = await WriteShadowAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 3), 30, ("name", "c")), Change.Upsert(("id", 4), 31, ("name", "d")));

        Assert.Equal(2, await CountAsync(es, "users"));
        var swap = await es.ElasticsearchSink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal("alias \"users\" -> index \"users-g1\"", swap.Live);
        Assert.Equal(["users-g1"], es.Fake.IndexNames.Where(n => n.StartsWith("users", StringComparison.Ordinal)));
        Assert.Equal(["users"], es.Fake.Aliases("users-g1"));
        Assert.Equal(3, await CountAsync(es, "users"));
        var checkpoint = await es.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 31), checkpoint[Change.DefaultTopic]);
    }

    [Fact]
    public async Task After_a_swap_marking_keys_erased_reads_and_deletes_in_the_index_behind_the_alias()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await SwapInAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")));
        await ApplyAsync(es.Sink, live, Change.Delete(("id", 1), 20));

        var outcome = await es.Sink.MarkErasedManyAsync(live, [Change.RowOf(("id", 1)), Change.RowOf(("id", 2))], CancellationToken.None);

        Assert.Equal(new MarkOutcome(1, true), outcome);
        var late = await es.Sink.ApplyAsync(new SinkBatch(Materializer, live, [Change.Upsert(("id", 1), 30, ("name", "a-newer"))], new Dictionary<string, StreamPosition>()), CancellationToken.None);
        Assert.Equal(1, late.Stale);
        Assert.Equal(["2"], es.Fake.Documents("users-g1").Keys);
    }

    [Fact]
    public async Task A_run_after_the_swap_writes_through_the_alias_and_the_next_backfill_moves_it_again()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await SwapInAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")));

        await es.RestartAsync();
        await ApplyAsync(es.Sink, live, Change.Upsert(("id", 2), 20, ("name", "b")));
        Assert.Equal(2, es.Fake.Documents("users-g1").Count);

        var second = await WriteShadowAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 20, ("name", "b")), Change.Upsert(("id", 3), 30, ("name", "c")));
        var swap = await es.ElasticsearchSink.SwapShadowAsync(second, keepOld: true, CancellationToken.None);

        Assert.Equal("kept as index \"users-g1\"", swap.Old);
        Assert.Equal(["users"], es.Fake.Aliases("users-g2"));
        Assert.Empty(es.Fake.Aliases("users-g1"));
        Assert.Equal(3, await CountAsync(es, "users"));
    }

    [Fact]
    public async Task After_the_swap_an_erase_through_the_alias_removes_the_subjects_and_marks_them()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await SwapInAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")), Change.Upsert(("id", 3), 12, ("name", "c")));
        var subjects = new SubjectMatches("id", [FieldValue.FromInt64(2), FieldValue.FromInt64(3), FieldValue.FromInt64(9)]) { IsKey = true };

        Assert.Equal([1L, 1L, 0L], await es.Sink.EraseManyAsync(live, subjects, CancellationToken.None));
        await ApplyAsync(es.Sink, live, Change.Upsert(("id", 2), 99, ("name", "back")), Change.Upsert(("id", 9), 99, ("name", "new")));

        Assert.Equal([0L, 0L, 0L], await es.Sink.CountManyAsync(live, subjects, CancellationToken.None));
        Assert.Equal(1, await CountAsync(es, "users"));
        Assert.Equal(["users"], es.Fake.Aliases("users-g1"));
    }

    [Fact]
    public async Task A_swap_whose_alias_moved_meanwhile_reads_it_again_instead_of_applying_in_part()
    {
        // Another client takes the alias off the old index between the sink's read of the alias and its
        // POST /_aliases. Each remove carries must_exist, so the server refuses the whole request (404,
        // nothing applied; indices.update_aliases/40_must_exist.yml lines 44-59) and the sink reads the
        // alias again; without must_exist, 8.14+ would apply the add alone and answer 200 with errors: true.
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await SwapInAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")));
        var second = await WriteShadowAsync(es, live, Change.Upsert(("id", 2), 20, ("name", "b")));
        es.Fake.Faults.BeforeNextRequest("_aliases", async () =>
        {
            using var http = new HttpClient { BaseAddress = es.Fake.Url };
            using var moved = await http.PostAsync("_aliases", new StringContent("""{"actions":[{"remove":{"index":"users-g1","alias":"users"}}]}""", System.Text.Encoding.UTF8, "application/json"));
            moved.EnsureSuccessStatusCode();
        });

        var swap = await es.ElasticsearchSink.SwapShadowAsync(second, keepOld: true, CancellationToken.None);

        Assert.Equal(1, es.Fake.Faults.Fired("before"));
        Assert.Equal("alias \"users\" -> index \"users-g2\"", swap.Live);
        Assert.Equal("absent", swap.Old);
        Assert.Empty(es.Fake.Aliases("users-g1"));
        Assert.Equal(["users"], es.Fake.Aliases("users-g2"));
        Assert.Equal(1, await CountAsync(es, "users"));
    }

    [Fact]
    public async Task A_swap_answered_with_errors_true_is_refused_and_names_each_action_that_did_not_apply()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await SwapInAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "a")));
        var second = await WriteShadowAsync(es, live, Change.Upsert(("id", 2), 20, ("name", "b")));
        var before = await es.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        // The body of 40_must_exist.yml lines 112-135: the add applied, the remove did not (404).
        es.Fake.Faults.AnswerNextRequest("_aliases", 200, """
            {"acknowledged":true,"errors":true,"action_results":[
              {"action":{"type":"remove","indices":["users-g1"],"aliases":["users"]},"status":404,"error":{"type":"aliases_not_found_exception","reason":"aliases [users] missing"}},
              {"action":{"type":"add","indices":["users-g2"],"aliases":["users"]},"status":200}]}
            """);

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => es.ElasticsearchSink.SwapShadowAsync(second, keepOld: true, CancellationToken.None).AsTask());

        Assert.Contains("applied only part of the swap", refused.Message, StringComparison.Ordinal);
        Assert.Contains("aliases_not_found_exception", refused.Message, StringComparison.Ordinal);
        Assert.Contains("\"users-g1\"", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\"add\"", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before[Change.DefaultTopic], (await es.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    [Fact]
    public async Task The_backfill_stops_before_writing_when_the_next_shadow_name_is_somebody_elses_alias()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        using (var http = new HttpClient { BaseAddress = es.Fake.Url })
        {
            (await http.PutAsync("archive", null)).EnsureSuccessStatusCode();
            (await http.PostAsync("_aliases", new StringContent("""{"actions":[{"add":{"index":"archive","alias":"users-g1"}}]}""", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        }

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None).AsTask());

        Assert.Contains("\"users-g1\" is already taken by an alias", refused.Message, StringComparison.Ordinal);
        Assert.Contains("archive", es.Fake.IndexNames);
        Assert.Equal(["users-g1"], es.Fake.Aliases("archive"));
    }

    [Fact]
    public async Task Keep_old_is_refused_for_a_concrete_index_and_nothing_changes()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = es.Target("users");
        await ApplyAsync(es.Sink, live, Change.Upsert(("id", 1), 10, ("name", "a")));
        var shadow = await WriteShadowAsync(es, live, Change.Upsert(("id", 1), 10, ("name", "b")));

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => es.ElasticsearchSink.SwapShadowAsync(shadow, keepOld: true, CancellationToken.None).AsTask());

        Assert.Contains("run without --keep-old", refused.Message, StringComparison.Ordinal);
        Assert.Empty(es.Fake.Aliases("users"));
        Assert.Equal("{\"id\":1,\"name\":\"a\"}", es.Fake.Documents("users")["1"]);
    }

    [Fact]
    public async Task An_index_template_with_placeholders_cannot_have_a_shadow()
    {
        await using var es = await ElasticsearchTestHarness.CreateAsync();
        var live = new TargetSpec("users") { Options = new ElasticsearchTargetOptions { Index = "users-{tenant}" } };

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => es.ElasticsearchSink.BeginShadowAsync(Materializer, live, CancellationToken.None).AsTask());

        Assert.Contains("users-{tenant}", refused.Message, StringComparison.Ordinal);
    }
}
