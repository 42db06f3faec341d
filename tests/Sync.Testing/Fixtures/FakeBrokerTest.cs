using Sync.Pulsar;
using Sync.Testing.Pulsar;
using Xunit;

namespace Sync.Testing.Fixtures;

/// <summary>A test class with a fake broker of its own in this process and a client on it, started
/// before each test and disposed after it.</summary>
public abstract class FakeBrokerTest : IAsyncLifetime
{
    protected FakePulsarBroker Broker { get; private set; } = null!;

    protected PulsarClient Client { get; private set; } = null!;

    /// <summary>A topic name no other test uses.</summary>
    protected static string NewTopic(string name) => $"persistent://public/default/{name}-{Guid.NewGuid():N}"[..60];

    public virtual Task InitializeAsync()
    {
        Broker = FakePulsarBroker.Start();
        Client = new PulsarClient(new PulsarClientOptions { ServiceUrl = Broker.ServiceUrl });
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        await Client.DisposeAsync();
        await Broker.DisposeAsync();
    }
}
