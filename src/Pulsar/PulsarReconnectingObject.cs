using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>A producer or consumer of one topic. It registers with the broker that owns the topic; when
/// it loses that broker (the connection drops, or the broker closes it), it looks the topic up and
/// registers again on a new connection, with capped exponential backoff (<see cref="ReconnectLoop"/>),
/// until that succeeds, an error no lookup can fix ends it, or it is disposed.</summary>
public abstract class PulsarReconnectingObject : PulsarStatefulObject
{
    private readonly Func<CancellationToken, Task<PulsarConnection>> _connect;
    private Task _reconnectLoop = Task.CompletedTask;

    private protected PulsarReconnectingObject(Func<CancellationToken, Task<PulsarConnection>> connect, PulsarClientOptions clientOptions, ILogger logger)
        : base(PulsarObjectState.Reconnecting)
    {
        _connect = connect;
        ClientOptions = clientOptions;
        Logger = logger;
    }

    private protected PulsarClientOptions ClientOptions { get; }

    private protected ILogger Logger { get; }

    /// <summary>Cancelled when the object is disposed: it ends a reconnect loop.</summary>
    private protected CancellationTokenSource Shutdown { get; } = new();

    /// <summary>The reconnect loop last started; complete when none runs. Disposing awaits it.</summary>
    private protected Task ReconnectLoopTask => _reconnectLoop;

    /// <summary>Registers on <paramref name="connection"/> (the first time, and after each loss).</summary>
    private protected abstract Task RegisterAsync(PulsarConnection connection, CancellationToken cancellationToken);

    /// <summary>Errors that a new lookup and registration cannot fix.</summary>
    private protected abstract bool IsFatal(Exception error);

    /// <summary>Registered again after a loss.</summary>
    private protected abstract void OnReconnected();

    /// <summary>An attempt failed with an error a later one may not meet; the next comes after <paramref name="delay"/>.</summary>
    private protected abstract void OnReconnectRetrying(PulsarException error, TimeSpan delay);

    /// <summary>An attempt failed with an error no lookup can fix: the object cannot be used any more.</summary>
    private protected abstract void OnReconnectFailed(PulsarException error);

    /// <summary>Starts registering again; called once a loss was noted, under the object's own lock.</summary>
    private protected void StartReconnecting() => _reconnectLoop = Task.Run(ReconnectLoopAsync, CancellationToken.None);

    private Task ReconnectLoopAsync() => ReconnectLoop.RunAsync(
        ClientOptions,
        async ct =>
        {
            await RegisterAsync(await _connect(ct), ct);
            OnReconnected();
        },
        IsFatal,
        OnReconnectRetrying,
        OnReconnectFailed,
        Shutdown.Token);
}
