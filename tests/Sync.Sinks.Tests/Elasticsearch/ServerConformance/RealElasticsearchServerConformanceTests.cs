using Sync.Testing.Docker;

namespace Sync.Sinks.Tests.Elasticsearch.ServerConformance;

/// <summary><see cref="ElasticsearchServerCases"/> against a real single-node Elasticsearch
/// (Testcontainers, one container for every case: each owns its indices). Skipped with "Docker is not
/// available" where no Docker engine runs.</summary>
public sealed class RealElasticsearchServerConformanceTests
{
    private static readonly Lazy<Task<Uri>> Server = new(StartAsync);

    private static async Task<Uri> StartAsync() => new($"{RealElasticsearchContainer.Address(await RealElasticsearchContainer.StartAsync())}/");

    [DockerTheory]
    [MemberData(nameof(ElasticsearchServerCases.Names), MemberType = typeof(ElasticsearchServerCases))]
    public async Task The_real_server_answers_as_the_cases_say(string name) =>
        await ElasticsearchServerCases.RunAsync(name, await Server.Value);
}
