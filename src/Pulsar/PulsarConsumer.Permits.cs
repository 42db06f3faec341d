using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>Flow permits: the consumer grants the broker permits for what the application has taken, once that reaches half the receiver queue.</summary>
public sealed partial class PulsarConsumer
{
    private void OnTaken(int sessionNumber, int count)
    {
        Session? session;
        int permits;
        lock (_lock)
        {
            if (sessionNumber != _sessionNumber)
            {
                return;
            }
            session = CountTaken(count, out permits);
        }
        TopUp(session, permits);
    }

    /// <summary>Hands <paramref name="message"/> to the application unless a session that is gone
    /// queued it: the session check, the last received id and the permit count under one lock,
    /// since this runs once per message.</summary>
    private bool Take(PulsarMessage message)
    {
        Session? session;
        int permits;
        lock (_lock)
        {
            if (message.Session != _sessionNumber)
            {
                return false;
            }
            _lastReceived = message.Id;
            session = CountTaken(1, out permits);
        }
        TopUp(session, permits);
        return true;
    }

    /// <summary>Under <c>_lock</c>: counts messages taken; the session to grant
    /// <paramref name="permits"/> to once half the receiver queue was taken, else null.</summary>
    private Session? CountTaken(int count, out int permits)
    {
        _queued -= count;
        _takenSinceFlow += count;
        permits = _takenSinceFlow;
        if (permits < _flowThreshold)
        {
            return null;
        }
        _takenSinceFlow = 0;
        return _session;
    }

    private void TopUp(Session? session, int permits)
    {
        if (session is not null)
        {
            _ = TopUpPermitsAsync(session, permits);
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
            Logger.LogDebug(e, "FLOW for {Topic}/{Subscription} not sent", Topic, SubscriptionName);
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
