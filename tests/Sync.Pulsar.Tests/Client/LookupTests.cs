namespace Sync.Pulsar.Tests.Client;

public class LookupTests : ClientTestBase
{
    [Fact]
    public async Task Redirects_are_followed_and_the_authoritative_flag_is_echoed()
    {
        Broker.Faults.RedirectNextLookups(2);

        await using var producer = await ProducerAsync();

        Assert.Equal(3, Broker.Received(BaseCommand.Types.Type.Lookup));
        Assert.Equal(2, Broker.Faults.Fired(nameof(FakeBrokerFaults.RedirectNextLookups)));
        Assert.True(Broker.LastLookupWasAuthoritative);
    }

    [Fact]
    public async Task First_lookup_is_not_authoritative()
    {
        await using var producer = await ProducerAsync();

        Assert.False(Broker.LastLookupWasAuthoritative);
    }

    [Fact]
    public async Task Too_many_redirects_fail_the_lookup()
    {
        await using var client = new PulsarClient(ClientOptions(Broker.ServiceUrl) with { MaxLookupRedirects = 3 });
        Broker.Faults.RedirectNextLookups(10);

        var error = await Assert.ThrowsAsync<PulsarProtocolException>(() => client.CreateProducerAsync(new ProducerOptions { Topic = Topic }));

        Assert.Contains("redirected more than 3 times", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proxy_through_service_url_keeps_the_service_connection_and_names_the_broker()
    {
        Broker.Faults.RedirectNextLookups(1, proxyThroughServiceUrl: true);

        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "via proxy"u8.ToArray() });

        Assert.Equal([$"127.0.0.1:{Broker.ServiceUrl.Port}"], Broker.ProxiedConnects);
        Assert.Single(Broker.FindTopic(Topic)!.Entries);
    }
}
