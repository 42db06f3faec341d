using System.Text.Json.Nodes;

namespace Sync.Sinks.Tests.Healing;

/// <summary>Elasticsearch going back in time: the fake cluster's indices, the checkpoint index
/// included, restored to a copy taken earlier, as a snapshot restore leaves them.</summary>
public sealed class ElasticsearchRollbackTests : StoppingSinkRollbackTests
{
    private readonly FakeElasticsearch _fake = FakeElasticsearch.Start();
    private object? _snapshot;
    private string _idleProbe = "0s";

    protected override string SinkYaml => $"""
          target:
            type: elasticsearch
            urls: ['{_fake.Url}']
            idleProbeInterval: {_idleProbe}
        """;

    protected override string Table => "users";

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _fake.DisposeAsync();
    }

    protected override Task<IReadOnlyList<string>> RowsAsync()
    {
        var rows = new SortedDictionary<int, string>();
        foreach (var source in _fake.Documents(Table).Values)
        {
            var document = JsonNode.Parse(source)!.AsObject();
            rows[int.Parse(document["id"]!.ToJsonString(), CultureInfo.InvariantCulture)] = document["name"]!.GetValue<string>();
        }

        return Task.FromResult<IReadOnlyList<string>>([.. rows.Select(r => $"{r.Key}={r.Value}")]);
    }

    protected override Task SnapshotAsync()
    {
        _snapshot = _fake.TakeSnapshot();
        return Task.CompletedTask;
    }

    protected override Task RestoreAsync()
    {
        _fake.RestoreSnapshot(_snapshot!);
        return Task.CompletedTask;
    }

    protected override Task EmptyAsync()
    {
        _fake.ClearDocuments();
        return Task.CompletedTask;
    }

    /// <summary>The node went down, the index was restored from a snapshot meanwhile, and the idle
    /// check found the node not answering (every attempt of its checkpoint read answered 503): once
    /// the node answers the sink's probe, the materializer reads the checkpoint back at once and heals,
    /// with no batch and no further check interval.</summary>
    [Fact]
    public async Task An_index_restored_while_its_node_was_down_is_healed_as_soon_as_the_node_answers()
    {
        await using var run = Start(Config("failover"));
        await RollBackAfterSecondPartAsync();

        // The sink's retry policy (the default: 8 attempts) fails for the whole of the check.
        _fake.Faults.FailNextRequests(RetryPolicy.Default.MaxAttempts, 503, "/_doc/");
        await run.HealWhileIdleAsync();

        await AssertHealedOnceAsync(run);
        Assert.Equal(RetryPolicy.Default.MaxAttempts, _fake.Faults.Fired("request"));
    }

    /// <summary>The node goes down under an idle run (every connection reset), its indices are set back to
    /// an older copy meanwhile, and it comes back: the sink's idle probe (on the real clock, every
    /// 200 ms) found it gone and asked until it answered, and the answer is the reconnect signal, so the
    /// run reads its checkpoint back and heals with no batch and no idle check (its clock never moves).</summary>
    [Fact]
    public async Task An_index_set_back_while_its_node_was_unreachable_is_healed_when_the_node_answers_again()
    {
        _idleProbe = "200ms";
        await using var run = Start(Config("failover"));
        await PublishAroundAnAcknowledgedSnapshotAsync();

        await _fake.GoDownAsync();
        await Poll.UntilAsync(() => _fake.ResetConnections >= 1, TimeSpan.FromSeconds(60));
        await RestoreAsync();
        Assert.NotEqual(Expected, await RowsAsync());
        await _fake.ComeBackAsync();
        await run.UntilHealedAsync();

        await AssertHealedOnceAsync(run);
    }

    /// <summary>A new cluster, restored from an older snapshot, takes the old one's address with no
    /// request of the sink's failing: the idle probe's <c>GET /</c> answers another <c>cluster_uuid</c>
    /// (https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-root.html), which is
    /// the reconnect signal; the run heals with its clock never moved.</summary>
    [Fact]
    public async Task An_index_restored_into_another_cluster_at_the_same_address_is_healed_at_the_idle_probe()
    {
        _idleProbe = "200ms";
        await using var run = Start(Config("key-shared"));
        await PublishAroundAnAcknowledgedSnapshotAsync();

        await RestoreAsync();
        _fake.ClusterUuid = "cmVzdG9yZWQtY2x1c3Rlcg";
        await run.UntilHealedAsync();

        await AssertHealedOnceAsync(run);
    }
}
