namespace Sync.Pulsar.Tests.Client;

public sealed class AuthenticationTests : IDisposable
{
    private readonly string _tokenFile = Path.Combine(Path.GetTempPath(), $"sync-token-{Guid.NewGuid():N}.jwt");

    public void Dispose() => File.Delete(_tokenFile);

    [Fact]
    public async Task Token_is_read_from_a_file()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { RequiredToken = "from-file" });
        await File.WriteAllTextAsync(_tokenFile, "from-file\n");
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, AuthenticationTokenFile = _tokenFile });

        Assert.Equal(0, await client.GetPartitionCountAsync("t"));
    }

    [Fact]
    public async Task Auth_challenge_is_answered_with_the_rotated_token_from_the_file()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { RequiredToken = "first" });
        await File.WriteAllTextAsync(_tokenFile, "first");
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, AuthenticationTokenFile = _tokenFile });
        var connection = await client.GetConnectionAsync(broker.ServiceUrl, null, CancellationToken.None);

        await File.WriteAllTextAsync(_tokenFile, "second");
        broker.RequiredToken = "second";
        broker.ChallengeAllConnections();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (broker.Received(BaseCommand.Types.Type.AuthResponse) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Equal("second", broker.LastAuthResponse);
        Assert.Equal(0, await client.GetPartitionCountAsync("t"));
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public void Token_and_token_file_together_are_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new PulsarClient(new PulsarClientOptions
        {
            ServiceUrl = new Uri("pulsar://localhost:6650"),
            AuthenticationToken = "a",
            AuthenticationTokenFile = "/tmp/b",
        }));

        Assert.Contains("set authenticationToken or authenticationTokenFile, not both", error.Message, StringComparison.Ordinal);
    }
}
