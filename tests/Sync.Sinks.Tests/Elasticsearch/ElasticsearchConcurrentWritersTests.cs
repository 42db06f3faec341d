using Sync.Sinks.Tests.Conformance;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>
/// Two sink instances on one cluster. The sink indexes and deletes with <c>version_type=external</c>:
/// Elasticsearch applies such a write only when its version is higher than the stored one (else a
/// version conflict, which the sink counts as stale), and a delete keeps its version as a tombstone for
/// <c>index.gc_deletes</c> (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-index_.html#index-versioning,
/// docs-delete.html#delete-versioning). The check and the write are one step per document, made under
/// the shard's per-id lock, so two writers cannot interleave inside it. The fake
/// (tests/Sync.Testing/Elasticsearch, FakeElasticsearch.Documents.cs) models the comparison (external
/// versions strictly greater, tombstones keeping their version) and runs each request under one lock,
/// a whole <c>_bulk</c> at a time: coarser than the real per-document step, the same for what this
/// test relies on, that no other write lands between a document's version check and its write.
/// </summary>
public sealed class ElasticsearchConcurrentWritersTests
{
    [Fact]
    public async Task Two_sinks_writing_conflicting_versions_of_the_same_keys_at_once_end_at_the_newest()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        await using var other = await h.OpenAnotherSinkAsync("es2");

        await ConflictingOrders.RunAsync(h.Sink, other, h.Target("users"), "m1");

        Assert.Equal([.. ConflictingOrders.Survivors.Select(id => $"id={id}|name=final").Order(StringComparer.Ordinal)], h.Read("users"));
    }
}
