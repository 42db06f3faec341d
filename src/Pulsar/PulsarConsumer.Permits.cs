using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>Flow permits: the consumer grants the broker permits for what the application has taken, once that reaches half the receiver queue.</summary>
public sealed partial class PulsarConsumer
{
    private void OnTaken(int sessionNumber, int count)
    {
        Session? session;
        int taken;
        lock (_lock)
        {
            if (sessionNumber != _sessionNumber)
            {
                return;
            }
            _queued -= count;
            _takenSinceFlow += count;
            taken = _takenSinceFlow;
            if (taken < _flowThreshold)
            {
                return;
            }
            _takenSinceFlow = 0;
            session = _session;
        }
        if (session is not null)
        {
            _ = TopUpPermitsAsync(session, taken);
        }
    }

    private async Task TopUpPermitsAsync(Session session, int permits)
    {
        try
        {
            await SendFlowAsync(session, permits, CancellationToken.None);
        }
        catch (PulsarException e)
        {
            _logger.LogDebug(e, "FLOW for {Topic}/{Subscription} not sent", Topic, SubscriptionName);
        }
    }

    private static ValueTask SendFlowAsync(Session session, int permits, CancellationToken cancellationToken) =>
        session.Connection.SendAsync(
            new BaseCommand
            {
                Type = BaseCommand.Types.Type.Flow,
                Flow = new CommandFlow { ConsumerId = session.ConsumerId, MessagePermits = (uint)permits },
            },
            cancellationToken);
}
