using Sync.Pulsar.Admin;

namespace Sync.Pulsar.Tests.Client;

/// <summary>A <see cref="ClientTestBase"/> that also holds an admin REST client on the fake broker.</summary>
public abstract class AdminClientTestBase : ClientTestBase
{
    protected PulsarAdminClient Admin { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = Broker.AdminUrl });
    }

    public override async Task DisposeAsync()
    {
        Admin.Dispose();
        await base.DisposeAsync();
    }
}
