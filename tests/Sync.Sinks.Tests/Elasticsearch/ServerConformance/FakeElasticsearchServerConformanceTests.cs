namespace Sync.Sinks.Tests.Elasticsearch.ServerConformance;

/// <summary><see cref="ElasticsearchServerCases"/> against the fake, in the default test command.</summary>
public sealed class FakeElasticsearchServerConformanceTests
{
    [Theory]
    [MemberData(nameof(ElasticsearchServerCases.Names), MemberType = typeof(ElasticsearchServerCases))]
    public async Task The_fake_answers_as_the_server(string name)
    {
        await using var fake = FakeElasticsearch.Start();
        await ElasticsearchServerCases.RunAsync(name, fake.Url);
    }
}
