using Microsoft.Extensions.Time.Testing;

namespace Sync.Pulsar.Tests.Client;

public class ConnectionTests : ClientTestBase
{
    [Fact]
    public async Task Handshake_agrees_on_the_lower_protocol_version()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { ProtocolVersion = 15, MaxMessageSize = 1024 * 1024 });
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl });

        var connection = await client.GetConnectionAsync(broker.ServiceUrl, null, CancellationToken.None);

        Assert.Equal(15, connection.ProtocolVersion);
        Assert.Equal(1024 * 1024, connection.MaxMessageSize);
        Assert.Equal(1, broker.Received(BaseCommand.Types.Type.Connect));
    }

    [Fact]
    public async Task Connections_are_pooled_per_broker_url()
    {
        await using var producer = await ProducerAsync();
        await using var consumer = await ConsumerAsync();

        Assert.Equal(1, Broker.ConnectionCount);
    }

    [Fact]
    public async Task Token_is_sent_and_accepted()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { RequiredToken = "jwt-abc" });
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, AuthenticationToken = "jwt-abc" });

        Assert.Equal(0, await client.GetPartitionCountAsync(Topic));
    }

    [Fact]
    public async Task Wrong_token_is_refused_with_an_authentication_error()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { RequiredToken = "jwt-abc" });
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, AuthenticationToken = "wrong" });

        var error = await Assert.ThrowsAsync<AuthenticationException>(() => client.GetPartitionCountAsync(Topic));
        Assert.Equal(ServerError.AuthenticationError, error.Error);
    }

    [Fact]
    public async Task Unreachable_broker_fails_with_connection_closed()
    {
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = new Uri("pulsar://127.0.0.1:1"), OperationTimeout = TimeSpan.FromSeconds(5) });

        await Assert.ThrowsAsync<ConnectionClosedException>(() => client.GetPartitionCountAsync(Topic));
    }

    [Fact]
    public async Task Client_answers_a_broker_PING_with_PONG()
    {
        await Client.GetPartitionCountAsync(Topic);

        Broker.PingAllConnections();

        await EventuallyAsync(() => Broker.Received(BaseCommand.Types.Type.Pong) == 1, "the client answered PONG");
    }

    [Fact]
    public async Task Keep_alive_pings_a_quiet_broker()
    {
        var time = new FakeTimeProvider();
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = Broker.ServiceUrl, KeepAliveInterval = TimeSpan.FromSeconds(30), TimeProvider = time });
        var connection = await client.GetConnectionAsync(Broker.ServiceUrl, null, CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(30));
        await EventuallyAsync(() => Broker.Received(BaseCommand.Types.Type.Ping) == 1 && !connection.AwaitsPong, "the first PING was answered");
        time.Advance(TimeSpan.FromSeconds(30));
        await EventuallyAsync(() => Broker.Received(BaseCommand.Types.Type.Ping) == 2, "a second PING arrived");

        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task Keep_alive_closes_a_connection_whose_broker_stopped_answering()
    {
        Broker.Faults.IgnorePings = true;
        var time = new FakeTimeProvider();
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = Broker.ServiceUrl, KeepAliveInterval = TimeSpan.FromSeconds(30), TimeProvider = time });
        var connection = await client.GetConnectionAsync(Broker.ServiceUrl, null, CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(30));
        await EventuallyAsync(() => Broker.Received(BaseCommand.Types.Type.Ping) == 1, "the first PING arrived");
        Assert.True(connection.IsOpen);
        time.Advance(TimeSpan.FromSeconds(30));
        var reason = await connection.Closed.WaitAsync(Patience);

        Assert.Contains("did not answer PING within 30 s", reason.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_closed_connection_is_replaced_not_reused()
    {
        var first = await Client.GetConnectionAsync(Broker.ServiceUrl, null, CancellationToken.None);

        Broker.DropAllConnections();
        await first.Closed.WaitAsync(Patience);
        var second = await Client.GetConnectionAsync(Broker.ServiceUrl, null, CancellationToken.None);

        Assert.NotSame(first, second);
        Assert.True(second.IsOpen);
        Assert.Equal(0, await Client.GetPartitionCountAsync(Topic));
    }

    [Fact]
    public async Task Partitioned_metadata_reports_the_partition_count()
    {
        Broker.CreatePartitionedTopic(Topic, 3);

        Assert.Equal(3, await Client.GetPartitionCountAsync(Topic));
        Assert.Contains(TopicName.Partition(Topic, 2), Broker.TopicNames);
    }

    [Fact]
    public void Options_name_the_wrong_setting()
    {
        var error = Assert.Throws<ArgumentException>(() => new PulsarClient(new PulsarClientOptions { ServiceUrl = new Uri("http://localhost:8080") }));

        Assert.Contains("serviceUrl (http://localhost:8080/) must be a pulsar:// or pulsar+ssl:// URL", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("orders", "persistent://public/default/orders")]
    [InlineData("t/ns/orders", "persistent://t/ns/orders")]
    [InlineData("persistent://t/ns/orders", "persistent://t/ns/orders")]
    public void Short_topic_names_are_completed(string given, string expected)
    {
        Assert.Equal(expected, TopicName.Normalize(given));
    }

    [Fact]
    public void Partition_index_is_read_from_the_name()
    {
        Assert.Equal(7, TopicName.PartitionIndex(TopicName.Partition("orders", 7)));
        Assert.Equal(-1, TopicName.PartitionIndex("persistent://public/default/orders"));
    }
}
