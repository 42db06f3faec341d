using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// CONNECT / CONNECTED, PING / PONG, AUTH_CHALLENGE / AUTH_RESPONSE.
internal sealed partial class FakeBrokerConnection
{
    private bool _handshakeDone;

    /// <summary>Protocol version agreed in the handshake.</summary>
    public int ProtocolVersion { get; private set; }

    private void HandleConnect(CommandConnect connect)
    {
        if (_handshakeDone)
        {
            // ServerCnx accepts CONNECT only once per connection.
            Abort();
            return;
        }
        if (Broker.RequiredToken is { } token)
        {
            var presented = connect.HasAuthData ? connect.AuthData.ToStringUtf8() : null;
            if (connect.AuthMethodName != "token" || presented != token)
            {
                // The broker answers a failed authentication with ERROR(AuthenticationError)
                // carrying request_id -1, then closes the connection.
                SendError(ulong.MaxValue, ServerError.AuthenticationError, "Failed to authenticate");
                _ = CloseSoonAsync();
                return;
            }
        }
        _handshakeDone = true;
        if (connect.HasProxyToBrokerUrl)
        {
            Broker.ProxiedConnects.Enqueue(connect.ProxyToBrokerUrl);
        }
        // CONNECTED carries the smaller of the two protocol versions.
        ProtocolVersion = Math.Min(connect.ProtocolVersion, Broker.Options.ProtocolVersion);
        Send(new BaseCommand
        {
            Type = BaseCommand.Types.Type.Connected,
            Connected = new CommandConnected
            {
                ServerVersion = "Sync.Testing FakePulsarBroker",
                ProtocolVersion = ProtocolVersion,
                MaxMessageSize = Broker.Options.MaxMessageSize,
                FeatureFlags = new FeatureFlags(),
            },
        });
    }

    private async Task CloseSoonAsync()
    {
        // Give the write loop a moment to flush the ERROR before the socket goes.
        await Task.Delay(50);
        Abort();
    }

    private void HandlePing()
    {
        if (Broker.Faults.IgnorePings)
        {
            Broker.Faults.PingIgnored();
            return;
        }
        // Both sides must answer PING with PONG (PulsarHandler.handlePing).
        Send(new BaseCommand { Type = BaseCommand.Types.Type.Pong, Pong = new CommandPong() });
    }

    private void HandleAuthResponse(CommandAuthResponse response)
    {
        Broker.LastAuthResponse = response.Response?.AuthData_.ToStringUtf8();
        // A refreshed token that no longer matches fails the connection like a failed CONNECT.
        if (Broker.RequiredToken is { } token && response.Response?.AuthData_.ToStringUtf8() != token)
        {
            SendError(ulong.MaxValue, ServerError.AuthenticationError, "Failed to refresh authentication");
            _ = CloseSoonAsync();
        }
    }

    /// <summary>Sends AUTH_CHALLENGE, as the broker does when a token is about to expire.</summary>
    internal void SendAuthChallenge() =>
        Send(new BaseCommand
        {
            Type = BaseCommand.Types.Type.AuthChallenge,
            AuthChallenge = new CommandAuthChallenge
            {
                ServerVersion = "Sync.Testing FakePulsarBroker",
                ProtocolVersion = ProtocolVersion,
                Challenge = new AuthData { AuthMethodName = "token", AuthData_ = Google.Protobuf.ByteString.CopyFromUtf8("refresh") },
            },
        });
}
