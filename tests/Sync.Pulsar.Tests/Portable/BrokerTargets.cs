using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Sync.Testing.Docker;

namespace Sync.Pulsar.Tests.Portable;

/// <summary>A broker the portable client suite runs against: its binary and admin endpoints.</summary>
public interface IBrokerTarget
{
    Uri ServiceUrl { get; }

    Uri AdminUrl { get; }
}

/// <summary>The fake broker, configured as the container below is (batch-index acks on).</summary>
public sealed class FakeBrokerTarget : IBrokerTarget, IAsyncLifetime
{
    private FakePulsarBroker? _broker;

    public Uri ServiceUrl => _broker!.ServiceUrl;

    public Uri AdminUrl => _broker!.AdminUrl;

    public Task InitializeAsync()
    {
        _broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { AcknowledgmentAtBatchIndexLevelEnabled = true });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }
}

/// <summary>
/// Apache Pulsar standalone in a container (Testcontainers), started once for the suite. Where no
/// Docker engine runs it starts nothing: the suite's tests are skipped with the reason printed.
/// </summary>
public sealed class RealPulsarTarget : IBrokerTarget, IAsyncLifetime
{
    public const string Image = "apachepulsar/pulsar:4.0.4";

    private IContainer? _container;

    public Uri ServiceUrl => new($"pulsar://{_container!.Hostname}:{_container.GetMappedPublicPort(6650)}");

    public Uri AdminUrl => new($"http://{_container!.Hostname}:{_container.GetMappedPublicPort(8080)}");

    public async Task InitializeAsync()
    {
        if (!DockerEnvironment.IsAvailable)
        {
            return;
        }
        _container = new ContainerBuilder(Image)
            // Batch-index acks are off by default; the suite checks them, so turn them on the
            // way the image expects (apply-config-from-env.py with PULSAR_PREFIX_ variables).
            .WithEnvironment("PULSAR_PREFIX_acknowledgmentAtBatchIndexLevelEnabled", "true")
            .WithEntrypoint("bash", "-c")
            .WithCommand("bin/apply-config-from-env.py conf/standalone.conf && exec bin/pulsar standalone --no-functions-worker --no-stream-storage")
            .WithPortBinding(6650, true)
            .WithPortBinding(8080, true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort(8080).ForPath("/admin/v2/clusters")))
            .Build();
        await _container.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}
