using Sync.Testing.Docker;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The sink against a real single-node Elasticsearch in a container (Testcontainers): the
/// behaviours the fake models, checked against the real server where Docker exists.</summary>
public sealed class RealElasticsearchTests
{
    [DockerFact]
    public async Task The_sink_keeps_its_contract_against_a_real_server()
    {
        await using var container = await RealElasticsearchContainer.StartAsync();
        var options = new ElasticsearchSinkOptions { Urls = [RealElasticsearchContainer.Address(container)], Refresh = RefreshPolicy.WaitFor };
        await using var sink = await ElasticsearchSink.OpenAsync("real", options, CancellationToken.None);
        var target = new TargetSpec("real-items") { Options = new ElasticsearchTargetOptions() };

        var first = await ApplyAsync(sink, target,
            Change.Create(("id", "a/b?c#d e ü🙂"), 10, ("customer", 7), ("price", FieldValue.FromDecimalText("12.30")))
                .WithSchema(new ColumnSchema("id", LogicalType.String, false), new ColumnSchema("customer", LogicalType.Int64, true), new ColumnSchema("price", LogicalType.Decimal, true, Precision: 10, Scale: 2)),
            Change.Create(("id", "2"), 11, ("customer", 7), ("price", FieldValue.FromDecimalText("1.00"))),
            Change.Create(("id", "3"), 12, ("customer", 8), ("price", FieldValue.FromDecimalText("2.00"))));
        var stale = await ApplyAsync(sink, target, Change.Update(("id", "2"), 5, ("customer", 7), ("price", FieldValue.FromDecimalText("9.99"))));
        await ApplyAsync(sink, target, Change.Delete(("id", "3"), 20));
        var late = await ApplyAsync(sink, target, Change.Create(("id", "3"), 15, ("customer", 8), ("price", FieldValue.FromDecimalText("3.00"))));

        Assert.Equal(3, first.Upserted);
        Assert.Equal(1, stale.Stale);
        Assert.Equal(1, late.Stale);
        var got = await sink.Client.GetAsync<JsonElement>("real-items", "a/b?c#d e ü🙂");
        Assert.True(got.Found);
        Assert.Equal("12.30", got.Source.GetProperty("price").GetRawText());

        var subject = new SubjectMatch("customer", FieldValue.FromInt64(7));
        Assert.Equal(2, await sink.CountAsync(target, subject, CancellationToken.None));
        Assert.Equal(2, await sink.EraseAsync(target, subject, CancellationToken.None));
        Assert.Equal(0, await sink.CountAsync(target, subject, CancellationToken.None));
        Assert.Equal(1, (await ApplyAsync(sink, target, Change.Create(("id", "2"), 11, ("customer", 7)))).Stale);
        Assert.Equal(new StreamPosition(0, 11), (await sink.LoadCheckpointAsync("real", CancellationToken.None))[Change.DefaultTopic]);
    }

    private static async Task<ApplyResult> ApplyAsync(ISink sink, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await sink.ApplyAsync(new SinkBatch("real", target, changes, checkpoint), CancellationToken.None);
    }
}
