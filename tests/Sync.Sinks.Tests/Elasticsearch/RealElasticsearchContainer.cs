using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>A real single-node Elasticsearch in a container (Testcontainers), security off, ready once
/// <c>/_cluster/health</c> answers, for the tests that check the fake against the real server.</summary>
internal static class RealElasticsearchContainer
{
    private const string Image = "docker.elastic.co/elasticsearch/elasticsearch:9.1.5";

    public static async Task<IContainer> StartAsync()
    {
        var container = new ContainerBuilder(Image)
            .WithEnvironment("discovery.type", "single-node")
            .WithEnvironment("xpack.security.enabled", "false")
            .WithEnvironment("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
            .WithPortBinding(9200, true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort(9200).ForPath("/_cluster/health")))
            .Build();
        try
        {
            await container.StartAsync();
            return container;
        }
        catch
        {
            await container.DisposeAsync();
            throw;
        }
    }

    /// <summary>The server's HTTP address on the port the container was given, without a trailing slash.</summary>
    public static string Address(IContainer container) => $"http://{container.Hostname}:{container.GetMappedPublicPort(9200)}";
}
