using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Sync.Testing.Docker;

namespace Sync.Sinks.Tests.Elasticsearch.ServerConformance;

/// <summary><see cref="ElasticsearchServerCases"/> against a real single-node Elasticsearch
/// (Testcontainers, one container for every case: each owns its indices). Skipped with "Docker is not
/// available" where no Docker engine runs.</summary>
public sealed class RealElasticsearchServerConformanceTests
{
    private const string Image = "docker.elastic.co/elasticsearch/elasticsearch:9.1.5";

    private static readonly Lazy<Task<Uri>> Server = new(StartAsync);

    private static async Task<Uri> StartAsync()
    {
        IContainer container = new ContainerBuilder(Image)
            .WithEnvironment("discovery.type", "single-node")
            .WithEnvironment("xpack.security.enabled", "false")
            .WithEnvironment("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
            .WithPortBinding(9200, true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort(9200).ForPath("/_cluster/health")))
            .Build();
        await container.StartAsync();
        return new Uri($"http://{container.Hostname}:{container.GetMappedPublicPort(9200)}/");
    }

    [DockerTheory]
    [MemberData(nameof(ElasticsearchServerCases.Names), MemberType = typeof(ElasticsearchServerCases))]
    public async Task The_real_server_answers_as_the_cases_say(string name) =>
        await ElasticsearchServerCases.RunAsync(name, await Server.Value);
}
