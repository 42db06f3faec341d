using Sync.Engine.Runtime;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The processes' agreement on a source epoch in Elasticsearch (ISink.AddCheckpointEntriesAsync):
/// one document beside the checkpoint, written on the condition that it is still the one read
/// (<c>_create</c> when absent, else <c>if_seq_no</c>/<c>if_primary_term</c>; the server answers 409 when
/// another write came between: https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control,
/// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-index). Another process's write is
/// staged between the sink's read and its write (the fake's FakeElasticsearch.Documents.cs answers both
/// conditions with 409 as the server does).</summary>
public sealed class ElasticsearchEpochAgreementTests
{
    private const string Materializer = "m1";

    [Fact]
    public async Task Two_processes_proposing_the_same_epoch_at_once_both_get_the_one_stored_first()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        await using var other = await h.OpenAnotherSinkAsync("es2");
        var mine = SourceEpochs.EntriesOf(new EpochProposal("t", 1, 10, 1_000, new StreamPosition(5, 0, 0)));
        var theirs = SourceEpochs.EntriesOf(new EpochProposal("t", 1, 20, 2_000, new StreamPosition(6, 0, 0)));
        StageBetweenReadAndWrite(h, () => other.AddCheckpointEntriesAsync(Materializer, theirs, CancellationToken.None).AsTask());

        var stored = await h.Sink.AddCheckpointEntriesAsync(Materializer, mine, CancellationToken.None);

        Assert.Equal(2, h.Fake.Faults.Fired("before"));
        Assert.Equal(Sorted(theirs), Sorted(stored!));
        var loaded = await other.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.All(theirs, e => Assert.Equal(e.Value, loaded[e.Key]));
    }

    [Fact]
    public async Task An_entry_added_to_a_stored_agreement_meanwhile_is_kept_and_a_stored_entry_is_never_replaced()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        await using var other = await h.OpenAnotherSinkAsync("es2");
        var proposal = SourceEpochs.EntriesOf(new EpochProposal("t", 1, 10, 1_000, new StreamPosition(5, 0, 0)));
        await h.Sink.AddCheckpointEntriesAsync(Materializer, proposal, CancellationToken.None);
        StageBetweenReadAndWrite(h, () => other.AddCheckpointEntriesAsync(Materializer, [SourceEpochs.SweptEntry("t", 1, 7)], CancellationToken.None).AsTask());

        var stored = await h.Sink.AddCheckpointEntriesAsync(Materializer, [SourceEpochs.SweptEntry("t", 1, 3), SourceEpochs.SweptEntry("u", 1, 4)], CancellationToken.None);

        Assert.Equal(2, h.Fake.Faults.Fired("before"));
        Assert.Equal(Sorted([SourceEpochs.SweptEntry("t", 1, 7), SourceEpochs.SweptEntry("u", 1, 4)]), Sorted(stored!));
        var loaded = await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.All(proposal, e => Assert.Equal(e.Value, loaded[e.Key]));
        Assert.Equal(new StreamPosition(7, 0, 0), loaded[SourceEpochs.SweptEntry("t", 1, 0).Key]);
    }

    [Fact]
    public async Task Agreements_outlive_the_checkpoint_writes_of_a_batch_and_asking_with_no_entries_writes_nothing()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var target = h.Target("users");
        await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        var proposal = SourceEpochs.EntriesOf(new EpochProposal("t", 1, 10, 1_000, new StreamPosition(5, 0, 0)));
        await h.Sink.AddCheckpointEntriesAsync(Materializer, proposal, CancellationToken.None);

        await h.Sink.ApplyAsync(new SinkBatch(Materializer, target, [Change.Upsert(("id", 1), 10, ("name", "a"))], new Dictionary<string, StreamPosition> { ["t"] = new(9, 0, 0) }), CancellationToken.None);
        var requests = h.Fake.Requests.Count;
        var none = await h.Sink.AddCheckpointEntriesAsync(Materializer, [], CancellationToken.None);

        Assert.Empty(Assert.IsAssignableFrom<IReadOnlyDictionary<string, StreamPosition>>(none));
        Assert.Equal(requests, h.Fake.Requests.Count);
        var loaded = await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(9, 0, 0), loaded["t"]);
        Assert.All(proposal, e => Assert.Equal(e.Value, loaded[e.Key]));
    }

    private static List<KeyValuePair<string, StreamPosition>> Sorted(IEnumerable<KeyValuePair<string, StreamPosition>> entries) =>
        [.. entries.OrderBy(e => e.Key, StringComparer.Ordinal)];

    /// <summary>Runs <paramref name="write"/> before the sink's second request to the agreements' document:
    /// after its read, before its conditional write.</summary>
    private static void StageBetweenReadAndWrite(ElasticsearchTestHarness h, Func<Task> write) =>
        h.Fake.Faults.BeforeNextRequest("epoch-agreements", () =>
        {
            h.Fake.Faults.BeforeNextRequest("epoch-agreements", write);
            return Task.CompletedTask;
        });
}
